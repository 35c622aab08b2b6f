"""Key normalisation, done per group rather than per line: the ids, invoices and products of a
log as stored, and the statistics that let the feature query skip per-line tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.io._dates import date_expr as _date_expr
from toolkit.io._sql import quote_ident, quote_literal
from toolkit.io._typing import HUGE_AMOUNT, _cancellation, _id_expr, _is_float, is_text

if TYPE_CHECKING:
    import duckdb

    from toolkit.io._columns import ColumnMapping
    from toolkit.io._read import RawSource

_q = quote_ident
_lit = quote_literal


@dataclass(frozen=True)
class RawKeys:
    """The view ``tx_lines``: the rows of ``tx_events`` with the id columns as stored.

    Normalising ids (trimming, ``17850.0`` -> ``17850``, null words) costs a string test on every
    row of every id column; the feature engine instead groups by the stored values and
    normalises the far fewer groups with these expressions (SQL over a column named
    ``customer_id``, ``invoice`` or ``product``). ``tx_lines`` has the columns of ``tx_events``;
    ``tx_product_keys`` holds the distinct stored products;
    ``customer_id``, ``invoice`` and ``product`` hold the stored values (a customer id that is
    missing or empty is already left out; one that normalises to missing, such as ``nan``,
    is left out by :attr:`customer`), ``is_return`` is exact. Only for logs scanned in place: a
    loaded log is normalised once when it is loaded.
    """

    customer: str
    invoice: str
    product: str
    invoice_is_text: bool
    #: every stored invoice is present and starts at or above '!' (Parquet statistics say so):
    #: no line can lack an invoice once normalised, and no cancellation hides behind a space
    invoice_plain: bool = False


def _parquet_bounds(
    con: duckdb.DuckDBPyConnection, raw: RawSource, col: str | None
) -> tuple[bool, str] | None:
    """Whether a Parquet column has missing values, and its smallest value, from the row-group
    statistics; None when it is not a Parquet column or a row group has no statistics."""
    if raw.kind != "parquet" or col is None:
        return None
    row = con.execute(
        "SELECT count(*), count(stats_null_count), count(stats_min_value), "
        "sum(stats_null_count), min(stats_min_value) "
        f"FROM parquet_metadata({raw.parquet_sql}) WHERE path_in_schema = ?",
        [col],
    ).fetchone()
    if row is None or not row[0] or row[1] < row[0] or row[2] < row[0]:
        return None
    return bool(row[3]), str(row[4])


def _largest_amount(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    m: ColumnMapping,
    ty: Callable[[str | None], str],
) -> float | None:
    """The largest absolute amount any line of a Parquet log can have, from the row-group
    statistics of its numeric amount (or quantity and price) columns; None when unknown."""
    if raw.kind != "parquet":
        return None
    cols = [m.amount] if m.amount else [m.quantity, m.price]
    if any(c is None or is_text(ty(c)) for c in cols):
        return None
    largest = 1.0
    for col in cols:
        row = con.execute(
            "SELECT count(*), count(TRY_CAST(stats_min_value AS DOUBLE)), "
            "count(TRY_CAST(stats_max_value AS DOUBLE)), "
            "max(greatest(abs(TRY_CAST(stats_min_value AS DOUBLE)), "
            "abs(TRY_CAST(stats_max_value AS DOUBLE)))) "
            f"FROM parquet_metadata({raw.parquet_sql}) WHERE path_in_schema = ?",
            [col],
        ).fetchone()
        if row is None or not row[0] or row[1] < row[0] or row[2] < row[0]:
            return None
        largest *= float(row[3])
    return largest


def _keyed_lines(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    m: ColumnMapping,
    ty: Callable[[str | None], str],
    fmt: str | None,
    amount: str,
    qty: str,
    price: str,
    bad_num: str,
    huge: str,
) -> RawKeys:
    """Create the view ``tx_lines`` (see :class:`RawKeys`) and return its normalisations."""
    assert m.customer and m.timestamp
    cust_text = is_text(ty(m.customer))
    inv_text = bool(m.invoice) and is_text(ty(m.invoice))
    cust = _q(m.customer)
    inv = _q(m.invoice) if m.invoice else "NULL::VARCHAR"
    prod = _q(m.product) if m.product else "NULL::VARCHAR"
    # a float id that is NaN or infinite is missing, as _id_expr reads it
    present = "customer_id IS NOT NULL" + (
        " AND customer_id <> ''"
        if cust_text
        else " AND isfinite(customer_id::DOUBLE)"
        if _is_float(ty(m.customer))
        else ""
    )
    # what the file's statistics rule out needs no test on every line
    bounds = _parquet_bounds(con, raw, m.customer) if cust_text else None
    if bounds is not None and not bounds[0] and bounds[1] > "":
        present = "true"
    bounds = _parquet_bounds(con, raw, m.invoice) if inv_text else None
    invoice_plain = bounds is not None and not bounds[0] and bounds[1] >= "!"
    if invoice_plain:
        cancel = _cancellation("invoice")
    elif inv_text:
        # the cancellation rule reads the trimmed invoice: only a value starting with a space
        # pays for the trim
        cancel = (
            f"CASE WHEN prefix(invoice, ' ') THEN {_cancellation('trim(invoice)')} "
            f"ELSE {_cancellation('invoice')} END"
        )
    else:
        cancel = "false"  # a number never starts with 'C'
    if m.product:
        con.execute(
            f"CREATE OR REPLACE VIEW tx_product_keys AS "
            f"SELECT DISTINCT {prod} AS product FROM raw WHERE {prod} IS NOT NULL"
        )
    largest = _largest_amount(con, raw, m, ty)
    if largest is not None and largest <= HUGE_AMOUNT:
        huge = "false"  # no line can hold a huge amount: no test on every line
    usable = f"{present} AND timestamp IS NOT NULL AND NOT ({bad_num}) AND NOT ({huge})" + (
        " AND NOT (price IS NOT NULL AND price <= 0)" if m.price else ""
    )
    con.execute(
        f"""CREATE OR REPLACE VIEW tx_lines AS
        SELECT customer_id, timestamp, abs(amount) AS amount, abs(quantity) AS quantity,
               invoice, product,
               COALESCE({cancel} OR quantity < 0 OR amount < 0, false) AS is_return
        FROM (SELECT {cust} AS customer_id,
                     {_date_expr(m.timestamp, ty(m.timestamp), fmt)} AS timestamp,
                     {amount} AS amount, {qty} AS quantity, {price} AS price,
                     {inv} AS invoice, {prod} AS product
              FROM raw)
        WHERE {usable}"""
    )
    return RawKeys(
        customer=_id_expr("customer_id", ty(m.customer)),
        invoice=(
            _id_expr("invoice", ty(m.invoice), null_words=False) if m.invoice else "NULL::VARCHAR"
        ),
        product=(
            _id_expr("product", ty(m.product), null_words=False) if m.product else "NULL::VARCHAR"
        ),
        invoice_is_text=inv_text,
        invoice_plain=invoice_plain,
    )
