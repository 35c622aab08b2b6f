"""Customer features as of a cutoff, on the embedded DuckDB engine."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import toolkit.features._sql as _sql
from toolkit._process import spill_directory
from toolkit.errors import InputError
from toolkit.features._btyd import DEFAULT_BTYD_DAYS, btyd_scores
from toolkit.features._sql import (
    FEATURE_COLUMNS,
    LABEL_COLUMNS,
    RESPELLED,
    FeatureSpec,
    feature_sql,
)
from toolkit.io import ColumnMapping, connect, find_id_column, output_format, write_atomic
from toolkit.io._columns import SPELLINGS, match_given, normalise
from toolkit.io._read import open_raw
from toolkit.io._sql import escape_literal, quote_ident
from toolkit.io._table import id_text
from toolkit.io._typing import is_text
from toolkit.io._write import neutralised_query, neutralised_sql, neutralises

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import Transactions

TIME_UNITS = ("days", "weeks")


def parse_cutoff(value: str | date | datetime | None, option: str = "`cutoff`") -> date | None:
    """A cutoff given as text (YYYY-MM-DD), date or datetime, as a date.

    Examples
    --------
    >>> parse_cutoff("2011-09-10")
    datetime.date(2011, 9, 10)
    """
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    text = str(value).strip()
    try:
        # the whole text must be a date: '2011-09-10xyz' is a typo, not 2011-09-10
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} must be a date like 2011-09-10, got {value!r}") from None
    if when.time() != datetime.min.time() or when.tzinfo is not None:
        # a cutoff is a day; silently dropping the time would move it
        raise InputError(
            f"{option} must be a date like 2011-09-10 (a day, no time of day), got {value!r}"
        )
    return when.date()


def data_range(tx: Transactions) -> tuple[date, date]:
    """First and last purchase day of the log.

    Cheap on large files: the first and last day of all rows come from the file's statistics
    where it has them (Parquet), and one purchase on each of those days settles the answer
    (a scan that stops at the first match); only a log whose first or last day holds no purchase
    (only returns or excluded rows) needs a full pass.
    """
    con = tx.con
    bounds = con.execute(
        "SELECT CAST(min(timestamp) AS DATE), CAST(max(timestamp) AS DATE) FROM tx_all"
    ).fetchall()
    lo, hi = bounds[0] if bounds else (None, None)
    if lo is None:
        raise InputError(f"{tx.source}: no purchases to compute features from")

    def any_purchase(where: str) -> bool:
        return bool(con.execute(f"SELECT 1 FROM purchases WHERE {where} LIMIT 1").fetchall())

    first = lo if any_purchase(f"timestamp < {_ts(lo + timedelta(days=1))}") else None
    last = hi if any_purchase(f"timestamp >= {_ts(hi)}") else None
    if first is None or last is None:
        rows = con.execute(
            "SELECT CAST(min(timestamp) AS DATE), CAST(max(timestamp) AS DATE) FROM purchases"
        ).fetchall()
        row = rows[0] if rows else None
        if row is None or row[0] is None:
            raise InputError(f"{tx.source}: no purchases to compute features from")
        first, last = row
    return first, last


def _ts(day: date) -> str:
    return f"TIMESTAMP '{day.isoformat()}'"


def resolve_spec(
    tx: Transactions,
    cutoff: str | date | datetime | None = None,
    horizon: int | None = None,
    time_unit: str = "days",
) -> tuple[FeatureSpec, list[str]]:
    """Check the options against the data; returns the spec and notes for the user.

    Without a cutoff: the day after the last purchase (features of today's customers).
    """
    if time_unit not in TIME_UNITS:
        raise InputError(f"`time_unit` must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    if horizon is not None and horizon <= 0:
        raise InputError(f"`horizon` must be a positive number of days, got {horizon}")
    first, last = data_range(tx)
    notes = []
    cut = parse_cutoff(cutoff)
    try:
        if cut is None:
            cut = last + timedelta(days=1)
            notes.append(f"cutoff: {cut} (the day after the last purchase)")
        # the feature windows look back up to 180 days, the label window forward `horizon` days
        cut - timedelta(days=366)
        end = cut + timedelta(days=horizon or 1)
        after_last = last + timedelta(days=1)
    except OverflowError:
        given = f"`cutoff` {cut}" if cut else f"the default cutoff (the day after {last})"
        given += f" with `horizon` {horizon}" if horizon else ""
        raise InputError(
            f"{given}: the windows around the cutoff run past the calendar (years 1 to 9999)"
        ) from None
    if cut <= first:
        raise InputError(
            f"`cutoff` {cut} is on or before the first purchase ({first}) in {tx.source}: "
            "no customer has a purchase before it"
        )
    if cut > after_last:
        notes.append(
            f"note: `cutoff` {cut} is {(cut - after_last).days + 1} days after the last purchase "
            f"({last}); every customer's recency counts those days too"
        )
    if horizon is not None and end > after_last:
        notes.append(
            f"warning: the label window [{cut}, {end}) runs past the "
            f"end of the data ({last}); customers may look like churners because the data stops"
        )
    spec = FeatureSpec(
        cutoff=cut,
        horizon=horizon,
        time_unit=time_unit,
        has_invoice=tx.has_invoice,
        has_quantity=tx.has_quantity,
        has_product=tx.has_product,
    )
    return spec, notes


def _attach_customers(tx: Transactions, customers: pd.DataFrame | None) -> tuple[str, list[str]]:
    """Register a customer table for the join; returns the SELECT list to add and the table's
    categorical columns (as the features table names them)."""
    if customers is None:
        return "", []
    extra, categories = customer_frame(customers)
    _finish_pending(tx.con)
    tx.con.register("customer_table", extra)
    others = [col for col in extra.columns if col != "customer_id"]
    return customer_select(others), categories


def customer_select(columns: list[str]) -> str:
    """The SELECT list that adds the customer table's ``columns`` to the features (see
    :func:`_query`)."""
    return ", " + ", ".join(f'c."{col}"' for col in columns)


def customer_frame(customers: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """A customer table ready for the join: its id column named ``customer_id`` (as text),
    columns that clash with a feature renamed ``customer_*``; and its categorical columns.

    Raises InputError for a table without an id column or with a repeated id.
    """
    import pandas as pd

    idcol = find_id_column(list(customers.columns))
    if idcol is None:
        raise InputError(
            "`customers` has no customer id column (looked for CustomerID, customer_id, "
            f"ID, ...); columns: {list(customers.columns)}"
        )

    extra = customers.rename(columns={idcol: "customer_id"})
    # ids are text in the log (17850, 0001): a numeric id column would not join (or not match)
    extra["customer_id"] = id_text(extra["customer_id"])
    clash = [c for c in extra.columns if c != "customer_id" and c in _reserved()]
    if clash:
        extra = extra.rename(columns={c: f"customer_{c}" for c in clash})
    if extra["customer_id"].duplicated().any():
        n = int(extra["customer_id"].duplicated().sum())
        raise InputError(f"`customers` has {n} duplicate customer ids in {idcol!r}")
    others = [col for col in extra.columns if col != "customer_id"]
    categories = [col for col in others if isinstance(extra[col].dtype, pd.CategoricalDtype)]
    return extra, categories


def _finish_pending(con: Any) -> None:
    """Read any half-read result to its end before ``register``.

    DuckDB >= 2.0 refuses every call but ``execute`` while a result that ``fetchone`` left
    unfinished is pending on the connection (ResourceInUseException), and the reading layer may
    leave one; a fresh statement read to its end replaces it (works on DuckDB 1.x too).
    """
    con.execute("SELECT 1").fetchall()


def _reserved() -> set[str]:

    return set(FEATURE_COLUMNS) | set(LABEL_COLUMNS)


def _query(
    tx: Transactions,
    spec: FeatureSpec,
    customer_cols: str,
    *,
    exact: bool = False,
    where: str = "",
    regroup: bool = False,
    codes: dict[str, Any] | None = None,
) -> str:
    """The feature query for ``tx`` (engine settings applied), with the customer table's columns,
    in customer order.

    A log scanned in place is grouped by its ids as stored and only the groups are normalised
    (:class:`toolkit.io._keys.RawKeys`); ``exact`` normalises every row first instead,
    for the rare log where two stored spellings of an id (``12``, ``12.0``) name one customer
    (:func:`_feature_table` tells). ``where``: a condition on the stored customer id (one part
    of :func:`partitions`). ``regroup``: orders grouped again by their normalised invoice
    (:func:`toolkit.features.feature_sql`). ``codes``: :func:`_product_codes` already made for
    this route (they take a pass over the file's products: once for all the parts).
    """
    prepare_connection(tx.con)
    keys = None if exact else tx.keys
    events = "tx_events" if keys is None else "tx_lines"
    if where and keys is not None:
        events = f"(SELECT * FROM tx_lines WHERE {where})"
    base = feature_sql(
        spec,
        events,
        **(codes if codes is not None else _product_codes(tx, spec, keyed=keys is not None)),
        keys=keys,
        rescan=keys is not None and tx.raw.kind == "parquet",
        regroup=regroup,
    )
    if not customer_cols:
        return f"SELECT * FROM ({base}) f ORDER BY customer_id"
    return (
        f"SELECT f.*{customer_cols} FROM ({base}) f "
        "LEFT JOIN customer_table c USING (customer_id) ORDER BY customer_id"
    )


def prepare_connection(con: Any) -> None:
    """DuckDB settings for the feature query: a memory limit and a spill directory.

    The limit (``TOOLKIT_MEMORY_LIMIT``, e.g. ``4GB``; default :data:`DEFAULT_MEMORY_LIMIT`) makes
    DuckDB spill its hash tables to a private directory under the system's temporary directory
    instead of growing its memory (DuckDB's own default is 80% of the machine's RAM and its spill
    directory ``.tmp`` in the working directory).
    """
    limit = os.environ.get("TOOLKIT_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    try:
        con.execute(f"SET memory_limit = '{_esc_text(limit)}'")
    except Exception as exc:  # a malformed value: say which setting
        raise InputError(
            f"TOOLKIT_MEMORY_LIMIT must be a size such as 4GB or 800MB, got {limit!r}"
        ) from exc
    con.execute(f"SET temp_directory = '{_esc(spill_directory())}'")
    # DuckDB 2.0's partitioned execution splits a large aggregation into id ranges, and each
    # range scans every row again (the ranges are filters above the scan, not pushed into it):
    # twice slower on 100M+ lines than the plain plan, whose spilling the parts of
    # partitions() already avoid
    known = {r[0] for r in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    if "partitioned_execution" in known:
        con.execute("SET disabled_optimizers = 'partitioned_execution'")


# DuckDB's memory limit for the feature query (it spills beyond it); TOOLKIT_MEMORY_LIMIT overrides.
# 2.5GB keeps the whole process under 4 GB at 116M transactions / 5M customers (3.7 GB measured,
# the BTYD scores and the written table included); a larger limit spills less and runs faster.
DEFAULT_MEMORY_LIMIT = "2.5GB"


def _product_codes(tx: Transactions, spec: FeatureSpec, *, keyed: bool = False) -> dict[str, Any]:
    """Number the products for the bitmap count of ``n_products`` when the catalogue is small.

    The distinct products come from the file's product column (cheap on Parquet and on loaded
    files: a few distinct values, not one per row); a larger catalogue, or a text file scanned
    in place, keeps the list count of :func:`feature_sql`. ``keyed``: the codes are for the
    products as stored (``tx_lines``), each numbered by its normalised value, so that two
    spellings of one product share a code.
    """

    if not spec.has_product or not (tx.raw.kind == "parquet" or tx.raw.materialised):
        return {}
    con = tx.con
    if keyed and tx.keys is not None:
        # a few spellings per product at most: more stored values than this is a large catalogue
        con.execute(
            "CREATE OR REPLACE TEMP TABLE product_codes AS "
            "SELECT product, CAST(dense_rank() OVER (ORDER BY norm) - 1 AS INTEGER) AS code "
            f"FROM (SELECT product, {tx.keys.product} AS norm FROM "
            f"(SELECT product FROM tx_product_keys LIMIT {4 * _sql.PRODUCT_BITMAP_MAX + 1})) "
            "WHERE norm IS NOT NULL"
        )
        rows = con.execute(
            "SELECT COALESCE(max(code) + 1, 0), count(*) FROM product_codes"
        ).fetchall()
        n = int(rows[0][0]) if rows else 0
        if rows and int(rows[0][1]) > 4 * _sql.PRODUCT_BITMAP_MAX:
            return {}
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE product_codes AS "
            "SELECT product, CAST(row_number() OVER (ORDER BY product) - 1 AS INTEGER) AS code "
            f"FROM (SELECT product FROM tx_products LIMIT {_sql.PRODUCT_BITMAP_MAX + 1})"
        )
        rows = con.execute("SELECT count(*) FROM product_codes").fetchall()
        n = int(rows[0][0]) if rows else 0
    if not 0 < n <= _sql.PRODUCT_BITMAP_MAX:  # (tests lower it)
        return {}
    return {"product_codes": "product_codes", "n_product_codes": n}


def compute_features(
    tx: Transactions,
    *,
    cutoff: str | date | datetime | None = None,
    horizon: int | None = None,
    time_unit: str = "days",
    customers: pd.DataFrame | None = None,
    btyd: bool = False,
) -> pd.DataFrame:
    """One row per customer with a purchase before ``cutoff``: features, and labels with a horizon.

    See :mod:`toolkit.features._sql` for every definition. Only transactions strictly before the
    cutoff reach a feature; the labels look at ``[cutoff, cutoff + horizon)`` only.

    Parameters
    ----------
    tx : Transactions
        From :func:`toolkit.io.read_transactions`.
    cutoff : date or str, optional
        Default: the day after the last purchase.
    horizon : int, optional
        Label window in days; adds ``repeat_purchase`` and ``holdout_spend``.
    time_unit : {"days", "weeks"}
        Unit of ``recency`` and ``T``.
    customers : DataFrame, optional
        A customer table (demographics) joined by id; categorical columns stay categories.
    btyd : bool
        Add the BG/NBD / Gamma-Gamma columns ``p_alive``, ``expected_purchases`` (over the horizon,
        or 90 days) and ``expected_value``, fitted on these customers' history before the cutoff
        (:mod:`toolkit.features._btyd`); the fit summary lands in ``df.attrs["btyd"]``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("customer_id,date,amount\\na,2024-01-01,10\\na,2024-01-05,20\\n")
    >>> f = compute_features(read_transactions(p), cutoff="2024-01-11")
    >>> f[["customer_id", "frequency", "recency", "T", "recency_days"]].values.tolist()
    [['a', 1, 4.0, 9.0, 6]]
    """
    spec, _ = resolve_spec(tx, cutoff, horizon, time_unit)
    return features_from_spec(tx, spec, customers, btyd=btyd)


def features_from_spec(
    tx: Transactions,
    spec: FeatureSpec,
    customers: pd.DataFrame | None = None,
    *,
    btyd: bool = False,
) -> pd.DataFrame:
    """:func:`compute_features` for an already checked :class:`FeatureSpec`.

    A log with an engine attached (``tx.engine``, see :mod:`toolkit.engines`) is computed there.
    """
    if tx.engine is not None:
        frame: pd.DataFrame = tx.engine.features(tx, spec, customers, btyd=btyd)
        return frame
    cols, _ = _attach_customers(tx, customers)
    con = tx.con
    if tx.keys is None:
        df = con.execute(_query(tx, spec, cols)).df()
    else:
        # the checked table, converted by DuckDB as a query result is (same column types)
        with _registered(con, _feature_table(tx, spec, cols)) as name:
            df = con.execute(f"SELECT * FROM {name}").df()
    df = finish_frame(df, customers)
    if btyd:
        from toolkit.features._btyd import add_btyd_columns

        df.attrs["btyd"] = add_btyd_columns(df, horizon_days=spec.horizon, time_unit=spec.time_unit)
    return df


def finish_frame(df: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    import pandas as pd

    df["customer_id"] = df["customer_id"].astype("string")
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col])
    if customers is not None:
        for col in customers.columns:
            if isinstance(customers[col].dtype, pd.CategoricalDtype) and col in df.columns:
                df[col] = df[col].astype(customers[col].dtype)
    return df.reset_index(drop=True)


def write_features(
    tx: Transactions,
    out: str | os.PathLike[str],
    spec: FeatureSpec,
    customers: pd.DataFrame | None = None,
    *,
    btyd: bool = False,
) -> dict[str, Any]:
    """Write the features straight from DuckDB to ``out`` (.parquet/.csv/.json), atomically.

    Returns a small summary: rows, with labels the share of repeat purchasers, and with ``btyd``
    the fitted BG/NBD / Gamma-Gamma parameters. Without ``btyd`` the result never passes through
    Python; with it, the features are held once in Arrow (the models need four of their columns
    as arrays, and the scores are added beside them) and written from there. A log with an
    engine attached (``tx.engine``, see :mod:`toolkit.engines`) is computed and written there.
    """
    if tx.engine is not None:
        written: dict[str, Any] = tx.engine.write_features(tx, out, spec, customers, btyd=btyd)
        return written
    fmt = output_format(out)
    # a CSV is for people: text cells a spreadsheet would run as formulas are neutralised
    safe = neutralises(out)
    cols, categorical = _attach_customers(tx, customers)
    copy_opts = {
        ".parquet": "(FORMAT parquet, COMPRESSION snappy)",
        ".csv": "(FORMAT csv, HEADER true)",
        ".json": "(FORMAT json, ARRAY true)",
    }[fmt]
    con = tx.con
    info: dict[str, Any] | None = None
    summary = ["count(*)", "avg(repeat_purchase)" if spec.horizon is not None else "NULL"]
    if cols:
        # how many of the customers the customer table describes
        known = neutralised_sql("customer_id") if safe else "customer_id"
        summary.append(
            "count(*) FILTER (WHERE CAST(customer_id AS VARCHAR) IN "
            f"(SELECT {known} FROM customer_table))"
        )
    # Parquet keeps the customer table's categories as dictionary columns, which pandas reads
    # back as categories; DuckDB's writer would store them as plain text
    categories = categorical if fmt == ".parquet" else []
    with write_atomic(out) as tmp:
        if btyd or tx.keys is not None or categories:
            # the rows are held once in Arrow: scored there (btyd) and checked (see _query)
            if btyd:
                from toolkit.features._btyd import prefetch

                waits: list[Callable[[], None]] = []
                table = _feature_table(tx, spec, cols, before=lambda: waits.append(prefetch()))
                for wait in waits:
                    wait()
                table, info = _with_btyd(table, spec)
            else:
                table = _feature_table(tx, spec, cols)
            with _registered(con, table) as name:
                if categories:
                    write_with_categories(table, categories, tmp)
                elif safe:
                    source = neutralised_query(con, f"SELECT * FROM {name}")
                    con.execute(f"COPY ({source}) TO '{_esc(tmp)}' {copy_opts}")
                else:
                    con.execute(f"COPY {name} TO '{_esc(tmp)}' {copy_opts}")
                rows = con.execute(f"SELECT {', '.join(summary)} FROM {name}").fetchall()
        else:
            # straight from the query to the file: no copy of the result in memory
            query = _query(tx, spec, cols)
            if safe:
                query = neutralised_query(con, query)
            con.execute(f"COPY ({query}) TO '{_esc(tmp)}' {copy_opts}")
            reader = {
                ".parquet": f"read_parquet('{_esc(tmp)}')",
                # ids such as 0001 stay text
                ".csv": f"read_csv('{_esc(tmp)}', types={{'customer_id': 'VARCHAR'}})",
                # (columns= would read only that column: the labels would be missing)
                ".json": f"read_json('{_esc(tmp)}')",
            }[fmt]
            rows = con.execute(f"SELECT {', '.join(summary)} FROM {reader}").fetchall()
        row = rows[0]
        if cols and row[0] and not row[2]:
            raise InputError(
                "`customers`: none of its customer ids is a customer of the log "
                f"({int(row[0]):,} customers); do the ids match (e.g. 12345 and C12345)?"
            )
    return {
        "customers": int(row[0]),
        "in_customer_table": int(row[2]) if cols else None,
        "repeat_rate": None if row[1] is None else float(row[1]),
        "btyd": info,
    }


def write_with_categories(table: Any, categories: list[str], path: Path) -> None:
    """Write ``table`` as Parquet with ``categories`` dictionary-encoded (pandas: category)."""
    import pyarrow.parquet as pq

    for col in categories:
        i = table.schema.get_field_index(col)
        if i >= 0:
            table = table.set_column(i, col, table.column(col).dictionary_encode())
    pq.write_table(table, path, compression="snappy")


def _feature_table(
    tx: Transactions,
    spec: FeatureSpec,
    customer_cols: str,
    *,
    before: Callable[[], object] | None = None,
) -> Any:
    """The features as an Arrow table, in customer order.

    ``before`` is called once, just before the (first) query runs: work for other threads
    started then shares the machine with DuckDB, not with the query's preparation.

    A log scanned in place runs the query on its stored ids (see :func:`_query`), part by part
    when it is large (:func:`partitions`), and the result is checked: a customer whose id is
    missing once normalised is dropped; an invoice written two ways makes the query run again
    with its orders grouped by normalised invoice (from the start, when a sample of the
    invoices shows such spellings); two stored spellings of one customer id send the whole
    computation to the exact path.
    """
    # pyarrow is imported after the first query (``before`` may import it beside the query)
    if tx.keys is None:
        query = _query(tx, spec, customer_cols)
        if before is not None:
            before()
        return tx.con.sql(query).to_arrow_table()
    # a log whose invoices are written another way (536365.0, padded, '' for missing) is
    # grouped again by normalised invoice from the start; the flag catches the rest
    regroup = _respelled_invoices(tx)
    codes = _product_codes(tx, spec, keyed=True)
    while True:
        parts = []
        respelled = False
        for i, where in enumerate(partitions(tx)):
            query = _query(tx, spec, customer_cols, where=where, regroup=regroup, codes=codes)
            if i == 0 and before is not None:
                before()
                before = None
            part = tx.con.sql(query).to_arrow_table()
            import pyarrow.compute as pc

            if not regroup:
                respelled = respelled or bool(pc.any(part.column(RESPELLED)).as_py())
            parts.append(part.drop_columns([RESPELLED]))
        if not respelled:
            break
        regroup = True
    import pyarrow as pa

    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    del parts
    ids = table.column("customer_id")
    if ids.null_count:
        table = table.filter(pc.is_valid(ids))
        ids = table.column("customer_id")
    if len(ids) > 1 and not pc.all(pc.greater(ids[1:], ids[:-1])).as_py():
        # normalised ids out of the stored order: sort, then a repeat is next to itself
        table = table.take(pc.sort_indices(table, [("customer_id", "ascending")]))
        ids = table.column("customer_id")
        if pc.any(pc.equal(ids[1:], ids[:-1])).as_py():
            # two stored spellings of one customer: normalise every line
            table = tx.con.sql(_query(tx, spec, customer_cols, exact=True)).to_arrow_table()
    return table


#: rows of the log whose invoices decide whether orders are grouped again from the start
INVOICE_SAMPLE = 100_000


def _respelled_invoices(tx: Transactions) -> bool:
    """Whether a sample of the stored invoices holds one that normalises to another value."""
    if tx.keys is None or not tx.has_invoice:
        return False
    row = tx.con.execute(
        f"SELECT bool_or({tx.keys.invoice} IS DISTINCT FROM invoice) "
        f"FROM (SELECT invoice FROM tx_lines LIMIT {INVOICE_SAMPLE})"
    ).fetchone()
    return bool(row and row[0])


#: A log scanned in place with more lines than this is computed in parts of about this many
#: lines, by ranges of customer ids: each part's hash tables stay well inside the memory limit
#: instead of spilling to disk (about 1 GB for 25M lines).
PARTITION_ROWS = 30_000_000


def partitions(tx: Transactions) -> list[str]:
    """Conditions on the stored customer id that split the log into parts of whole customers.

    One part (``[""]``, no condition) unless the log is a Parquet file of more than
    :data:`PARTITION_ROWS` lines whose row groups hold ascending, separate ranges of ids (a file
    written in customer order, as ``toolkit generate`` and many exports do): the ranges then come
    from the row groups' statistics, each part reads only its own row groups, and a customer is
    in exactly one part. Other files run in one pass, which DuckDB spills to disk beyond its
    memory limit: parts by hash of the id would each read the whole file, and measured slower
    (5M customers in date order: 21.6 s in one pass, 28.7 s in 2 parts, about 38 s in 4).
    """
    if tx.raw.kind != "parquet" or tx.mapping.customer is None:
        return [""]
    con = tx.con
    col = _esc_text(tx.mapping.customer)
    stats = con.execute(
        "SELECT row_group_id, row_group_num_rows, stats_min_value, stats_max_value "
        f"FROM parquet_metadata({tx.raw.parquet_sql}) WHERE path_in_schema = '{col}' "
        "ORDER BY file_name, row_group_id"
    ).fetchall()
    rows = sum(int(r[1]) for r in stats)
    if rows <= PARTITION_ROWS:
        return [""]
    n_parts = -(-rows // PARTITION_ROWS)
    bounds = _range_bounds(stats, rows / n_parts) if _is_text_col(tx) else None
    if bounds is None:
        return [""]
    lits = [f"'{_esc_text(b)}'" for b in bounds]
    conds = [f"customer_id < {lits[0]}"]
    conds += [f"customer_id >= {a} AND customer_id < {b}" for a, b in pairwise(lits)]
    conds.append(f"customer_id >= {lits[-1]}")
    return conds


def _range_bounds(stats: list[tuple[Any, ...]], per_part: float) -> list[str] | None:
    """Id values at row-group starts that cut the file into parts of about ``per_part`` rows,
    when the row groups hold ascending, non-overlapping id ranges; else None."""
    lo = [r[2] for r in stats]
    hi = [r[3] for r in stats]
    if any(v is None for v in lo + hi):
        return None
    if any(hi[i] > lo[i + 1] for i in range(len(stats) - 1)):
        return None
    bounds: list[str] = []
    filled = 0.0
    for i, r in enumerate(stats):
        if i and filled >= per_part and lo[i] > (bounds[-1] if bounds else ""):
            bounds.append(str(lo[i]))
            filled = 0.0
        filled += int(r[1])
    return bounds or None


def _is_text_col(tx: Transactions) -> bool:

    assert tx.mapping.customer is not None
    return is_text(tx.raw.types[tx.mapping.customer])


@contextmanager
def _registered(con: Any, table: Any) -> Iterator[str]:
    """``table`` (Arrow) registered on ``con`` under the yielded name, read in its row order."""
    name = "features_result"
    con.register(name, table)
    con.execute("SET preserve_insertion_order = true")
    try:
        yield name
    finally:
        con.execute("SET preserve_insertion_order = false")
        con.unregister(name)


def _with_btyd(table: Any, spec: FeatureSpec) -> tuple[Any, dict[str, Any]]:
    """Score BG/NBD on the BTYD columns of the features ``table`` (Arrow), add the scores.

    Returns the scored table (in the same order) and the fit summary.
    """
    import numpy as np
    import pyarrow as pa

    frequency, recency, T, monetary = (
        np.asarray(table.column(c).to_numpy(), dtype=np.float64)
        for c in ("frequency", "recency", "T", "monetary")
    )
    cols, info = btyd_scores(
        frequency,
        recency,
        T,
        monetary,
        horizon_days=spec.horizon or DEFAULT_BTYD_DAYS,
        time_unit=spec.time_unit,
    )
    for name, values in cols.items():
        table = table.append_column(name, pa.array(values))
    return table, info


def _esc(path: Path) -> str:
    return escape_literal(str(path))


_esc_text = escape_literal


#: column roles of a transaction log only: naming any of them means the file is a log
TRANSACTION_ROLES = ("timestamp", "amount", "quantity", "price", "invoice", "product")


def is_customer_table(
    path: str | os.PathLike[str],
    *,
    mapping: Any = None,
    sep: str | None = None,
    names: list[str] | None = None,
    **_: Any,
) -> bool:
    """True when ``path`` holds one row per customer (no date column) rather than transactions.

    A date column given with ``--date-col`` (or any column only a log has: amount, quantity,
    price, invoice, product) always means transactions, and so does a ``--customer-col`` the
    file does not have (reading it as a log then says so); so does a file without a
    date column whose customer id repeats (a log whose date column has an unusual name: reading
    it as transactions then says which option to give, instead of passing the log through).
    """

    mapping = mapping or ColumnMapping()
    if any(getattr(mapping, role) for role in TRANSACTION_ROLES):
        # a column only a log has was named: read it as one (which names what is missing)
        return False
    con = connect()
    try:
        raw = open_raw(con, path, sep=sep, names=names)
        try:
            normed = {normalise(c) for c in raw.columns}
            if normed & set(SPELLINGS["timestamp"]):
                return False
            given = None
            if mapping.customer is not None:
                # matched as the readers match it: exactly, else after normalising (customerid)
                given = match_given(mapping.customer, list(raw.columns))
                if given is None:
                    return False  # read as a log, which says the column is not there
            idcol = given or find_id_column(list(raw.columns))
            if idcol not in raw.columns:
                return True
            quoted = quote_ident(idcol)
            rows, ids = con.execute(
                f"SELECT count({quoted}), count(DISTINCT {quoted}) FROM raw"
            ).fetchall()[0]
            return bool(rows == ids)
        finally:
            raw.close()
    finally:
        con.close()
