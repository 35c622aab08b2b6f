"""Transactions: a user's file mapped to the standard columns, typed once, classified, validated.

The validated log lives in DuckDB as views, so that the feature engine can run on files
larger than memory (files under a few hundred megabytes are loaded into DuckDB once, larger ones
are scanned in place):

``tx_status``
    every row: customer_id, timestamp, amount, quantity, price, invoice, product, the raw text of
    the id / date / amount, and ``status`` (why it is used or excluded).
``purchases``
    rows with status 'purchase': customer_id VARCHAR, timestamp TIMESTAMP, amount DOUBLE > 0,
    quantity DOUBLE, invoice VARCHAR, product VARCHAR.
``returns``
    cancellations and returns (an invoice number of 'C' followed by a digit, as Online Retail's
    ``C536379``; a negative quantity or amount), with the returned value as a positive ``amount``:
    kept apart, never silently dropped. Only 'C' + digit marks a cancellation, so order ids such
    as ``CA-2016-152156`` stay purchases.
``tx_events``
    purchases and returns together (the rows the analyses use), with the columns of ``purchases``
    (``amount`` and ``quantity`` positive) and ``is_return``: what the feature engine scans, once.
``tx_products``
    the distinct products (cheap: computed from the distinct values of the product column).

Row classification, in this order (the first rule that applies wins):

=====================  ==========================================================  ============
status                 rule                                                        treatment
=====================  ==========================================================  ============
missing_id             customer id missing, blank, or nan/null/none/na/n/a         excluded
bad_date               date missing or not parseable                               excluded
bad_amount             amount (or quantity / price) missing, not a finite number   excluded
huge_amount            amount beyond +-1e300 (or quantity x price overflows)       excluded
nonpositive_price      unit price <= 0                                             excluded
return                 invoice is 'C' + digit (C536379), quantity < 0, amount < 0  kept apart
purchase               everything else                                             analysed
=====================  ==========================================================  ============

Purchases with a zero amount (free orders, when there is no price column to say otherwise) are
counted as ``zero_amount`` and kept: the order is still a purchase occasion (CDNOW's reference
summary counts them).

Reported without changing anything: exact duplicate rows (every column of the file equal to an
earlier row), dates in the future (after the moment of validation, in all rows), and outlying
amounts (a purchase whose log10 amount lies more than 5 robust standard deviations, 1.4826 x the
median absolute deviation, from the median log10 amount; none when that deviation is 0).

Typing, once per role: customer ids, invoices and products are text exactly as written, except that
a float-formatted whole number loses its zero decimals (``17850.0`` and ``17850,0`` -> ``17850``;
``00004`` stays ``00004``); a float column gives whole numbers without decimals. Amounts,
quantities and prices are numbers: besides plain numbers, a decimal comma (``29,33`` -> 29.33),
thousands separators where they are unambiguous (``1,234.50``, ``1.234,50``, ``1,234,567``) and a
currency sign before or after the number (``$12.50``, ``12,50 €``) are read; an amount beyond
+-1e300 (or a quantity x price that overflows) is excluded as outlying (``huge_amount``), so no
total is ever infinite. Dates are parsed with ``--date-format`` (a strftime format, or ``epoch``,
``epoch_ms``, ``epoch_us``, ``excel``), or with the layout
:func:`toolkit.io._dates.guess_date_format`
finds on a sample of distinct values (ISO, every common layout with a 24- or 12-hour clock, epoch
numbers and Excel serials told apart by magnitude); typed date columns (Parquet, JSON
timestamps) are used as they are. A month/day vs day/month tie is read month first, and the
report says so; so does a guess that fits only part of the sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from toolkit._process import is_interruption
from toolkit.errors import InputError
from toolkit.io._columns import ColumnMapping, resolve_mapping
from toolkit.io._dates import date_expr as _date_expr
from toolkit.io._dates import date_text as _date_text
from toolkit.io._dates import guess_date_format, reading_note, resolve_date_format
from toolkit.io._keys import RawKeys, _keyed_lines
from toolkit.io._read import RawSource, open_raw
from toolkit.io._remote import display
from toolkit.io._report import PROBLEMS, Problem, ValidationReport, _PendingReport, check_usable
from toolkit.io._sql import quote_ident, quote_literal
from toolkit.io._typing import (
    CANCELLATION,
    HUGE_AMOUNT,
    _cancellation,
    _id_expr,
    _is_temporal,
    _num_expr,
    is_text,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

OUTLIER_ROBUST_SD = 5.0


_q = quote_ident
_lit = quote_literal


class Transactions:
    """A validated transaction log held in DuckDB (see the module docstring for its views).

    Build one with :func:`read_transactions`. ``con`` is the DuckDB connection holding the views
    ``purchases``, ``returns`` and ``tx_status``; :attr:`purchases` and :attr:`returns` give them
    as pandas frames for small data.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        raw: RawSource,
        mapping: ColumnMapping,
        detected: dict[str, str],
        notes: list[str],
    ) -> None:
        self.con = con
        self.raw = raw
        #: where the log came from, as the user wrote it (a URL keeps its double slash)
        self.source = display(raw.path)
        self.mapping = mapping
        self.detected = detected
        self.notes = notes
        self._report: ValidationReport | None = None
        self.closed = False
        # reads the same file again (for a report whose counts are first read after close())
        self.reopen: Callable[[], Transactions] | None = None
        self.has_quantity = mapping.quantity is not None
        self.has_invoice = mapping.invoice is not None
        self.has_product = mapping.product is not None
        # the view tx_lines and how to normalise its ids, for a log scanned in place
        self.keys: RawKeys | None = None
        # where the features of this log are computed: None for the embedded DuckDB engine,
        # else an engine object of toolkit.engines (the distributed one)
        self.engine: Any = None

    # -- pandas views (small data, tests) ---------------------------------------------------
    @property
    def purchases(self) -> pd.DataFrame:
        """Purchases as a pandas frame (customer_id, timestamp, amount, quantity, invoice,
        product)."""
        return self._frame("purchases")

    @property
    def returns(self) -> pd.DataFrame:
        """Returns and cancellations as a pandas frame, ``amount`` positive."""
        return self._frame("returns")

    def _frame(self, view: str) -> pd.DataFrame:
        df = self.con.execute(
            f"SELECT * FROM {view} ORDER BY customer_id, timestamp, invoice, product, amount, "
            "quantity"
        ).df()
        df["customer_id"] = df["customer_id"].astype("string")
        for col in ("invoice", "product"):
            df[col] = df[col].astype("string")
        return df.reset_index(drop=True)

    @property
    def report(self) -> ValidationReport:
        """The validation report (cheap checks; see :meth:`validate` for the full one).

        Its columns, detection notes and source are known at once; the counts take a pass over
        the whole log, made the first time one of them is read (a command that only needs the
        columns used, or the features, never pays for it).
        """
        if self._report is None:
            self._report = _PendingReport(self)
        return self._report

    def check_usable(self) -> None:
        """Raise :class:`DataValidationError` unless at least one purchase is left to analyse.

        One purchase settles it (a scan that stops at the first); only a log without any is
        counted in full, for the message.
        """
        if self.con.execute("SELECT 1 FROM purchases LIMIT 1").fetchall():
            return
        check_usable(self.validate(full=False))

    def excluded_rows(self) -> dict[str, int] | None:
        """How many rows were left out, by problem code (``missing_id``, ``bad_date``, ...).

        Cheap for a log loaded into memory (text, JSON, Excel); ``None`` for a file scanned in
        place (Parquet), where the count would take a pass over the whole file, as long as the
        feature query itself: :meth:`validate` gives it there.
        """
        if not self.raw.materialised:
            return None
        excluded = [code for code, (_, treatment) in PROBLEMS.items() if treatment == "excluded"]
        rows = self.con.execute(
            "SELECT status, count(*) FROM tx_status "
            f"WHERE status IN ({', '.join(map(_lit, excluded))}) GROUP BY status"
        ).fetchall()
        counts = {str(code): int(n) for code, n in rows}
        return {code: counts[code] for code in excluded if counts.get(code)}

    def validate(self, *, full: bool = True) -> ValidationReport:
        """Count every problem at once, with up to five example rows each.

        ``full`` adds the checks that need a whole extra pass (duplicate rows, outlying amounts).
        """
        con = self.con
        agg = con.execute(
            """
            SELECT count(*), count(DISTINCT customer_id), min(timestamp), max(timestamp),
                   count(*) FILTER (status = 'purchase'),
                   count(DISTINCT customer_id) FILTER (status = 'purchase'),
                   COALESCE(sum(amount) FILTER (status = 'purchase'), 0),
                   count(*) FILTER (status = 'return'),
                   COALESCE(sum(abs(amount)) FILTER (status = 'return'), 0),
                   count(*) FILTER (status = 'missing_id'),
                   count(*) FILTER (status = 'bad_date'),
                   count(*) FILTER (status = 'bad_amount'),
                   count(*) FILTER (status = 'huge_amount'),
                   count(*) FILTER (status = 'nonpositive_price'),
                   count(*) FILTER (status = 'purchase' AND amount = 0),
                   count(*) FILTER (timestamp > current_localtimestamp()),
                   count(*) FILTER (regexp_matches(COALESCE(invoice, ''), ?)),
                   count(*) FILTER (regexp_matches(COALESCE(invoice, ''), ?)
                                    AND status = 'return')
            FROM tx_status
            """,
            [CANCELLATION, CANCELLATION],
        ).fetchone()
        assert agg is not None
        counts = {
            "missing_id": agg[9],
            "bad_date": agg[10],
            "bad_amount": agg[11],
            "huge_amount": agg[12],
            "nonpositive_price": agg[13],
            "return": agg[7],
            "zero_amount": agg[14],
            "future_date": agg[15],
        }
        if full:
            counts["duplicate"] = self._count_duplicates()
            counts["outlier_amount"] = self._count_outliers()
        problems = []
        for code, (desc, treatment) in PROBLEMS.items():
            n = int(counts.get(code, 0) or 0)
            if n:
                problems.append(Problem(code, desc, treatment, n, self._examples(code)))
        columns = {role: col for role, col in vars(self.mapping).items() if col is not None}
        report = ValidationReport(
            source=self.source,
            rows=int(agg[0]),
            customers=int(agg[1]),
            first_date=agg[2],
            last_date=agg[3],
            purchase_rows=int(agg[4]),
            purchase_customers=int(agg[5]),
            purchase_amount=float(agg[6]),
            return_rows=int(agg[7]),
            return_amount=float(agg[8]),
            columns=columns,
            detected=self.detected,
            notes=list(self.notes),
            problems=problems,
            full=full,
            cancellation_rows=int(agg[16]),
            cancellations_kept=int(agg[17]),
            currency=self.currency_sign(),
        )
        if full or self._report is None or isinstance(self._report, _PendingReport):
            self._report = report
        return report

    #: rows sampled to find the currency sign of the amounts
    CURRENCY_SAMPLE = 20_000

    def currency_sign(self) -> str | None:
        """The currency sign ($, €, £, ¥) that at least half of the amounts (or unit prices)
        are written with, in the first :attr:`CURRENCY_SAMPLE` rows; None for numbers without
        one, or typed number columns."""
        col = self.mapping.amount or self.mapping.price
        if col is None or not is_text(self.raw.types.get(col, "")):
            return None
        rows = self.con.execute(
            f"SELECT regexp_extract(trim({_q(col)}), '[$€£¥]', 0) AS sign, count(*) "
            f"FROM (SELECT {_q(col)} FROM raw WHERE {_q(col)} IS NOT NULL "
            f"LIMIT {self.CURRENCY_SAMPLE}) GROUP BY 1"
        ).fetchall()
        total = sum(int(n) for _, n in rows)
        signs = {str(sign): int(n) for sign, n in rows if sign}
        if not signs or not total:
            return None
        best = max(signs, key=lambda k: signs[k])
        return best if signs[best] * 2 >= total else None

    def _count_duplicates(self) -> int:
        # one grouping gives both the count and the examples (the costly pass over every column)
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE tx_duplicate_groups AS "
            "SELECT *, count(*) AS __toolkit_n FROM raw GROUP BY ALL HAVING count(*) > 1"
        )
        row = self.con.execute(
            "SELECT COALESCE(sum(__toolkit_n - 1), 0) FROM tx_duplicate_groups"
        ).fetchone()
        return int(row[0]) if row else 0

    def _outlier_bounds(self) -> tuple[float, float] | None:
        row = self.con.execute(
            "SELECT median(log10(amount)), mad(log10(amount)) FROM purchases WHERE amount > 0"
        ).fetchone()
        if row is None or row[0] is None or not row[1]:
            return None
        med, mad = float(row[0]), float(row[1])
        half = OUTLIER_ROBUST_SD * 1.4826 * mad

        def power(x: float) -> float:  # 10 ** 309 overflows; amounts are below 1e300 anyway
            return float(10 ** min(max(x, -320.0), 308.0))

        return power(med - half), power(med + half)

    def _count_outliers(self) -> int:
        bounds = self._outlier_bounds()
        if bounds is None:
            return 0
        self._outliers = bounds
        row = self.con.execute(
            "SELECT count(*) FROM purchases WHERE amount > 0 AND (amount < ? OR amount > ?)",
            list(bounds),
        ).fetchone()
        return int(row[0]) if row else 0

    def _examples(self, code: str) -> list[dict[str, Any]]:
        cols = "raw_customer AS customer, raw_date AS date, raw_amount AS amount"
        extra = [c for c in ("invoice", "product", "quantity", "price") if self._has(c)]
        cols += "".join(f", {c}" for c in extra)
        if code == "duplicate":
            sql = "SELECT * EXCLUDE (__toolkit_n) FROM tx_duplicate_groups LIMIT 5"
        elif code == "zero_amount":
            sql = f"SELECT {cols} FROM tx_status WHERE status = 'purchase' AND amount = 0 LIMIT 5"
        elif code == "future_date":
            sql = f"SELECT {cols} FROM tx_status WHERE timestamp > current_localtimestamp() LIMIT 5"
        elif code == "outlier_amount":
            lo, hi = getattr(self, "_outliers", (0.0, float("inf")))
            sql = (
                f"SELECT {cols} FROM tx_status WHERE status = 'purchase' AND amount > 0 AND "
                f"(amount < {lo!r} OR amount > {hi!r}) ORDER BY amount DESC LIMIT 5"
            )
        else:
            sql = f"SELECT {cols} FROM tx_status WHERE status = {_lit(code)} LIMIT 5"
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _has(self, role: str) -> bool:
        return getattr(self.mapping, role) is not None

    def close(self) -> None:
        """Close the DuckDB connection and remove temporary files."""
        self.closed = True
        self.con.close()
        self.raw.close()

    def __enter__(self) -> Transactions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for toolkit: temp spill directory, no progress bar."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    return con


def read_transactions(
    path: str | os.PathLike[str],
    *,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    require_usable: bool = True,
) -> Transactions:
    """Read a transaction log, map its columns, type them once and classify every row.

    Parameters
    ----------
    path : path-like
        CSV / TSV / any delimiter (gzip too), Parquet, JSON (array of records), NDJSON or xlsx.
    mapping : ColumnMapping, optional
        Columns given by the user; the others are found from common spellings.
    date_format : str, optional
        strftime format of the date column; guessed from a sample when omitted.
    sep : str, optional
        Field separator of a text file ('tab', 'whitespace', ';' ...); sniffed when omitted.
    names : list of str, optional
        Column names for a file without a header row.
    require_usable : bool
        Raise :class:`DataValidationError` when no purchase is left to analyse.

    Returns
    -------
    Transactions

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("CustomerID,InvoiceDate,Amount\\n"
    ...                  "00004,2024-01-02,10.5\\n7,2024-01-03,3\\n")
    >>> tx = read_transactions(p)
    >>> tx.purchases[["customer_id", "amount"]].values.tolist()
    [['00004', 10.5], ['7', 3.0]]
    """
    con = con or connect()
    # small files are loaded once (every later query is a scan of memory); large ones stay
    # views over the file, scanned in parallel and out of core
    raw = open_raw(con, path, sep=sep, names=names, materialise=None)
    try:
        tx = _build(con, raw, mapping, date_format, require_usable)
    except BaseException:
        raw.close()
        raise
    tx.reopen = partial(
        read_transactions,
        path,
        mapping=tx.mapping,
        date_format=date_format,
        sep=sep,
        names=names,
        require_usable=False,
    )
    return tx


@dataclass
class _Typed:
    """The SQL that types a file's columns: each expression over the ``raw`` view."""

    select: str  # every typed column and the raw text of id, date and amount, FROM raw
    amount: str
    qty: str
    price: str
    product: str
    fmt: str | None  # the date format used (None: the column is a date type already)


@dataclass
class _Rules:
    """The row classification (see the module docstring), as SQL conditions."""

    bad_num: str
    huge: str
    returned: str
    usable: str
    status: str  # the CASE expression naming each row's status


def _build(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    mapping: ColumnMapping | None,
    date_format: str | None,
    require_usable: bool,
) -> Transactions:
    """Type the columns, classify every row and create the views the toolkit reads."""
    import duckdb

    m, how = resolve_mapping(raw.columns, mapping, display(raw.path))
    detected = {role: h for role, h in how.items()}
    notes = list(raw.notes)
    typed = _typed_select(con, raw, m, date_format, notes)
    rules = _row_rules(m, typed)
    try:
        keys = _create_views(con, raw, m, typed, rules)
    except duckdb.Error as exc:
        if is_interruption(exc):
            raise  # Ctrl-C / SIGTERM (DuckDB 1.x), not the file's fault
        msg = str(exc).splitlines()[0]
        raise InputError(f"{display(raw.path)}: cannot be read ({msg})") from None
    tx = Transactions(con, raw, m, detected, notes)
    tx.keys = keys
    if require_usable:
        tx.check_usable()
    return tx


def _column_type(raw: RawSource) -> Callable[[str | None], str]:
    """The DuckDB type of a column of ``raw`` (VARCHAR for a role without a column)."""
    return lambda col: raw.types[col] if col else "VARCHAR"


def _typed_select(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    m: ColumnMapping,
    date_format: str | None,
    notes: list[str],
) -> _Typed:
    """The typing of each role's column (date format given, native or guessed; numbers in any
    locale; ids as text); reading notes are added to ``notes``."""
    ty = _column_type(raw)
    assert m.customer and m.timestamp
    if date_format:
        fmt: str | None = resolve_date_format(date_format, con)
    elif _is_temporal(ty(m.timestamp)):
        fmt = None
    else:
        fmt = guess_date_format(con, m.timestamp, ty(m.timestamp), notes)
        if fmt != "ISO":
            notes.append(reading_note(m.timestamp, fmt))
    qty = _num_expr(m.quantity, ty(m.quantity)) if m.quantity else "NULL::DOUBLE"
    price = _num_expr(m.price, ty(m.price)) if m.price else "NULL::DOUBLE"
    if m.amount:
        amount = _num_expr(m.amount, ty(m.amount))
        raw_amount = f"CAST({_q(m.amount)} AS VARCHAR)"
    else:
        amount = f"({qty}) * ({price})"
        raw_amount = (
            f"CAST({_q(m.quantity or '')} AS VARCHAR) || ' x ' || "
            f"CAST({_q(m.price or '')} AS VARCHAR)"
        )
        notes.append(f"amount = {m.quantity!r} x {m.price!r}")
    invoice = _id_expr(m.invoice, ty(m.invoice), null_words=False) if m.invoice else "NULL::VARCHAR"
    product = _id_expr(m.product, ty(m.product), null_words=False) if m.product else "NULL::VARCHAR"
    select = f"""
        SELECT
            {_id_expr(m.customer, ty(m.customer))} AS customer_id,
            {_date_expr(m.timestamp, ty(m.timestamp), fmt)} AS timestamp,
            {amount} AS amount,
            {qty} AS quantity,
            {price} AS price,
            {invoice} AS invoice,
            {product} AS product,
            CAST({_q(m.customer)} AS VARCHAR) AS raw_customer,
            {_date_text(m.timestamp, ty(m.timestamp))} AS raw_date,
            {raw_amount} AS raw_amount
        FROM raw
    """
    return _Typed(select, amount, qty, price, product, fmt)


def _row_rules(m: ColumnMapping, typed: _Typed) -> _Rules:
    """The conditions that classify a typed row (missing id, bad date, bad or huge amount,
    non-positive price, return, purchase)."""
    price_rule = "WHEN price IS NOT NULL AND price <= 0 THEN 'nonpositive_price'" if m.price else ""
    if m.amount:
        bad_num = "amount IS NULL OR NOT isfinite(amount)"
    else:  # an infinite product of finite parts is a huge amount (below), not a bad one
        bad_num = "amount IS NULL OR NOT isfinite(quantity) OR NOT isfinite(price)"
    huge = f"NOT (abs(amount) <= {HUGE_AMOUNT!r})"
    if m.price:
        bad_num += " OR price IS NULL"
    if m.quantity and not m.amount:
        bad_num += " OR quantity IS NULL"
    # the rows the analyses use (status 'purchase' or 'return') and which are returns, as plain
    # conditions: the feature engine scans these once instead of comparing status strings
    returned = f"{_cancellation('invoice')} OR quantity < 0 OR amount < 0"
    usable = (
        f"customer_id IS NOT NULL AND timestamp IS NOT NULL AND NOT ({bad_num}) AND NOT ({huge})"
    ) + (" AND NOT (price IS NOT NULL AND price <= 0)" if m.price else "")
    status = f"""CASE
            WHEN customer_id IS NULL THEN 'missing_id'
            WHEN timestamp IS NULL THEN 'bad_date'
            WHEN {bad_num} THEN 'bad_amount'
            WHEN {huge} THEN 'huge_amount'
            {price_rule}
            WHEN {returned} THEN 'return'
            ELSE 'purchase' END AS status"""
    return _Rules(bad_num, huge, returned, usable, status)


def _create_views(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    m: ColumnMapping,
    typed: _Typed,
    rules: _Rules,
) -> RawKeys | None:
    """``tx_all``, ``tx_status``, ``tx_events``, ``tx_products``, ``purchases`` and ``returns``
    (and ``tx_lines`` of a log left on disk); the key normalisations of that log, else None."""
    materialise = raw.materialised
    if materialise:
        # the status is computed once: every count and example later is a scan of memory
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE tx_all AS SELECT *, {rules.status} FROM ({typed.select})"
        )
        con.execute("CREATE OR REPLACE VIEW tx_status AS SELECT * FROM tx_all")
        events = (
            "SELECT customer_id, timestamp, abs(amount) AS amount, abs(quantity) AS quantity, "
            "invoice, product, status = 'return' AS is_return "
            "FROM tx_all WHERE status IN ('purchase', 'return')"
        )
    else:
        # a table of an earlier (loaded) read on this connection would hide the new view
        con.execute("DROP TABLE IF EXISTS temp.main.tx_all")
        con.execute(f"CREATE OR REPLACE VIEW tx_all AS {typed.select}")
        con.execute(f"CREATE OR REPLACE VIEW tx_status AS SELECT *, {rules.status} FROM tx_all")
        # purchases have amount >= 0 and quantity >= 0 (else they are returns): abs() only
        # changes the returns, whose value is kept positive
        events = (
            "SELECT customer_id, timestamp, abs(amount) AS amount, abs(quantity) AS quantity, "
            f"invoice, product, COALESCE({rules.returned}, false) AS is_return "
            f"FROM tx_all WHERE {rules.usable}"
        )
    con.execute(f"CREATE OR REPLACE VIEW tx_events AS {events}")
    keys = None
    if not materialise:
        keys = _keyed_lines(
            con,
            raw,
            m,
            _column_type(raw),
            typed.fmt,
            typed.amount,
            typed.qty,
            typed.price,
            rules.bad_num,
            rules.huge,
        )
    # the distinct products, from the distinct values of the product column (a file's
    # catalogue is small: this is cheap where the column is stored, as in Parquet)
    if materialise or not m.product:
        products = "SELECT DISTINCT product FROM tx_all WHERE product IS NOT NULL"
    else:
        products = (
            f"SELECT DISTINCT {typed.product} AS product FROM (SELECT DISTINCT {_q(m.product)} "
            f"FROM raw) WHERE {typed.product} IS NOT NULL"
        )
    con.execute(f"CREATE OR REPLACE VIEW tx_products AS {products}")
    for view, negate in (("purchases", "NOT "), ("returns", "")):
        con.execute(
            f"""
            CREATE OR REPLACE VIEW {view} AS
            SELECT customer_id, timestamp, amount, quantity, invoice, product
            FROM tx_events WHERE {negate}is_return
            """
        )
    return keys
