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

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from toolkit._process import is_interruption
from toolkit.errors import DataValidationError, InputError
from toolkit.io._columns import ROLE_OPTION, ColumnMapping, resolve_mapping
from toolkit.io._dates import date_expr as _date_expr
from toolkit.io._dates import date_text as _date_text
from toolkit.io._dates import guess_date_format, reading_note, resolve_date_format
from toolkit.io._read import RawSource, open_raw
from toolkit.io._sql import escape_literal, quote_ident, quote_literal

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

OUTLIER_ROBUST_SD = 5.0
# Amounts beyond this are excluded as outlying: a double holds up to 1.8e308, so a sum of up to
# a hundred million such amounts (per customer or in all) still fits, and no total is infinite
HUGE_AMOUNT = 1e300
# an invoice number that marks a cancellation: 'C' and a digit (Online Retail's C536379)
CANCELLATION = "^[Cc][0-9]"


PROBLEMS: dict[str, tuple[str, str]] = {
    # code: (description, treatment)
    "missing_id": ("rows without a customer id", "excluded"),
    "bad_date": ("rows whose date is missing or cannot be parsed", "excluded"),
    "bad_amount": ("rows whose amount, quantity or price is missing or not a number", "excluded"),
    "huge_amount": (
        "rows with an outlying amount too large to total (beyond +-1e300, or a quantity x price "
        "that overflows)",
        "excluded",
    ),
    "nonpositive_price": ("rows with a zero or negative unit price", "excluded"),
    "return": (
        "cancellations and returns (invoice 'C' + digit, negative quantity or amount)",
        "kept apart as returns",
    ),
    "zero_amount": (
        "purchases with a zero amount",
        "kept: a free order is still a purchase occasion",
    ),
    "duplicate": ("exact duplicate rows (every column equal to an earlier row)", "reported, kept"),
    "future_date": ("rows dated in the future", "reported, kept"),
    "outlier_amount": (
        "purchases with an outlying amount (log10 amount more than 5 robust SDs from the median)",
        "reported, kept",
    ),
}


_q = quote_ident
_lit = quote_literal


def _is_text(dtype: str) -> bool:
    return dtype.upper().startswith("VARCHAR") or dtype.upper() in ("STRING", "TEXT", "JSON")


def _is_temporal(dtype: str) -> bool:
    return dtype.upper().startswith(("TIMESTAMP", "DATE"))


def _id_expr(col: str, dtype: str, *, null_words: bool = True) -> str:
    """Ids as text exactly as written; a float-formatted integer (17850.0) loses its '.0'.

    ``null_words``: also read 'nan', 'null', 'none', 'na', 'n/a' (any case) as missing.
    """
    c = _q(col)
    if _is_text(dtype):
        # Written for speed: this runs on every row of files with 100M+ rows, so the costly
        # checks (lower, regexp) only run on the few values that can need them.
        v = f"trim({c})"
        cleaned = f"regexp_replace({v}, '^(-?[0-9]+)[.,]0+$', '\\1')"
        # an OR chain, not IN (...): DuckDB plans IN as a join that runs on every row
        words = " OR ".join(f"lower({v}) = '{w}'" for w in ("nan", "null", "none", "na", "n/a"))
        null_rule = f"WHEN strlen({c}) <= 6 AND ({words}) THEN NULL " if null_words else ""
        full = (
            f"CASE WHEN {c} IS NULL THEN NULL {null_rule}"
            f"WHEN contains({c}, '.') OR contains({c}, ',') THEN {cleaned} "
            f"ELSE NULLIF({v}, '') END"
        )
        # Most values need nothing: only those that could change (spaces at either end, a
        # whole number with zero decimals, which ends in '0' and holds a '.' or ',', short
        # enough to be a null word) go through the allocating string functions. The cheap
        # one-byte tests come first: the scans for '.' and ',' only run on values ending in '0'.
        suspect = (
            (f"strlen({c}) <= 4 OR " if null_words else "")
            + f"prefix({c}, ' ') OR suffix({c}, ' ') "
            f"OR (suffix({c}, '0') AND (contains({c}, '.') OR contains({c}, ',')))"
        )
        return (
            f"CASE WHEN {c} IS NULL OR {c} = '' THEN NULL WHEN {suspect} THEN {full} ELSE {c} END"
        )
    if _is_float(dtype):
        return (
            f"CASE WHEN {c} IS NULL OR NOT isfinite({c}::DOUBLE) THEN NULL "
            f"WHEN {c} = floor({c}) THEN CAST(CAST({c} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({c} AS VARCHAR) END"
        )
    return f"CAST({c} AS VARCHAR)"


def _num_expr(col: str, dtype: str) -> str:
    """A number column as DOUBLE. Text is read leniently when a plain cast fails: a decimal
    comma (29,33), thousands separators with decimals or several groups (1,234.50; 1.234,50;
    1,234,567) and a currency sign ($, EUR, GBP, JPY signs) before or after the number."""
    c = _q(col)
    if not _is_text(dtype):
        return f"CAST({c} AS DOUBLE)"
    v = f"trim({c})"
    w = f"regexp_replace({v}, '^([-+]?)\\s*[$€£¥]\\s*|\\s*[$€£¥]$', '\\1')"
    return (
        f"COALESCE(TRY_CAST({v} AS DOUBLE), CASE "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]+,[0-9]+$') "
        f"THEN TRY_CAST(replace({w}, ',', '.') AS DOUBLE) "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?$') "
        f"THEN TRY_CAST(replace({w}, ',', '') AS DOUBLE) "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]+)?$') "
        f"THEN TRY_CAST(replace(replace({w}, '.', ''), ',', '.') AS DOUBLE) "
        f"ELSE TRY_CAST({w} AS DOUBLE) END)"
    )


def _is_float(dtype: str) -> bool:
    return dtype.upper() in ("DOUBLE", "FLOAT", "REAL") or dtype.upper().startswith("DECIMAL")


def _cancellation(col: str) -> str:
    """SQL for 'the invoice marks a cancellation': 'C' or 'c' followed by a digit.

    The same rule as :data:`CANCELLATION`, written as byte ranges ('C0' <= v < 'C:' holds exactly
    the texts that begin with 'C' and a digit): a comparison, not a regular expression, on every
    row.
    """
    return f"({col} >= 'C0' AND {col} < 'C:' OR {col} >= 'c0' AND {col} < 'c:')"


@dataclass
class Problem:
    """One kind of problem found in the data, with its count and up to five example rows."""

    code: str
    description: str
    treatment: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """Everything :func:`read_transactions` found: summary figures and every problem at once."""

    source: str
    rows: int
    customers: int
    first_date: datetime | None
    last_date: datetime | None
    purchase_rows: int
    purchase_customers: int
    purchase_amount: float
    return_rows: int
    return_amount: float
    columns: dict[str, str]
    detected: dict[str, str]
    notes: list[str]
    problems: list[Problem]
    full: bool = True
    cancellation_rows: int = 0  # invoice 'C' + digit, in all rows
    cancellations_kept: int = 0  # those among the returns (the others are excluded)

    @property
    def usable(self) -> bool:
        return self.purchase_rows > 0

    def problem(self, code: str) -> Problem | None:
        return next((p for p in self.problems if p.code == code), None)

    def count(self, code: str) -> int:
        p = self.problem(code)
        return p.count if p else 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""

        def iso(d: datetime | None) -> str | None:
            return d.isoformat(sep=" ") if d is not None else None

        # "full": False when the duplicate and outlier checks have not run
        return {
            "source": self.source,
            "rows": self.rows,
            "customers": self.customers,
            "first_date": iso(self.first_date),
            "last_date": iso(self.last_date),
            "purchase_rows": self.purchase_rows,
            "purchase_customers": self.purchase_customers,
            "purchase_amount": _jsonable(self.purchase_amount),
            "return_rows": self.return_rows,
            "return_amount": _jsonable(self.return_amount),
            "cancellation_rows": self.cancellation_rows,
            "cancellations_kept": self.cancellations_kept,
            "columns": self.columns,
            "detected": self.detected,
            "notes": self.notes,
            "full": self.full,
            "problems": [
                {
                    "code": p.code,
                    "description": p.description,
                    "treatment": p.treatment,
                    "count": p.count,
                    "examples": [{k: _jsonable(v) for k, v in e.items()} for e in p.examples],
                }
                for p in self.problems
            ],
        }

    def render_text(self) -> str:
        """The report as the lines ``toolkit validate`` prints."""
        lines = [f"{self.source}"]
        for role, col in self.columns.items():
            how = self.detected.get(role, "given")
            lines.append(f"  {role:<9} <- {col!r} ({how})")
        lines += [
            f"  rows:             {self.rows:,}",
            f"  customers:        {self.customers:,}",
            f"  date range:       {_day(self.first_date)} to {_day(self.last_date)}",
            f"  purchases:        {self.purchase_rows:,} rows, {self.purchase_customers:,} "
            f"customers, total amount {_money(self.purchase_amount)}",
            f"  returns:          {self.return_rows:,} rows, total value "
            f"{_money(self.return_amount)}",
        ]
        if self.cancellation_rows:
            lines.append(
                f"  cancellations:    {self.cancellation_rows:,} rows with a 'C' invoice "
                f"({self.cancellations_kept:,} among the returns, the others excluded)"
            )
        for note in self.notes:
            lines.append(f"  note: {note}")
        if not self.problems:
            lines.append("no problems found")
        for p in self.problems:
            lines.append(f"- {p.count:,} {p.description}: {p.treatment}")
            for e in p.examples:
                shown = ", ".join(f"{k}={_show(v)}" for k, v in e.items())
                lines.append(f"    e.g. {shown}")
        return "\n".join(lines)


def _money(x: float) -> str:
    """A total as ``1,234.50``; never ``inf`` (a sum beyond a double's range says so)."""
    if math.isfinite(x):
        return f"{x:,.2f}" if abs(x) < 1e15 else f"{x:.4g}"
    return "too large to total (beyond 1.8e308)" if x == x else "not a number"


def _day(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d") if d is not None else "-"


def _show(v: Any) -> str:
    if v is None:
        return "<missing>"
    if isinstance(v, float) and v != v:
        return "<missing>"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return repr(v) if isinstance(v, str) else str(v)


def _jsonable(v: Any) -> Any:
    """A value of an example row as JSON can hold it (DuckDB hands over many Python types)."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes | bytearray):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


class _PendingReport(ValidationReport):
    """A :class:`ValidationReport` whose counts are made on first use.

    ``source``, ``columns``, ``detected`` and ``notes`` are set at once; reading any other field
    (or calling a method that does) runs :meth:`Transactions.validate` (``full=False``) once and
    takes its values.
    """

    _EAGER = frozenset({"source", "columns", "detected", "notes"})
    _LAZY = frozenset(f.name for f in fields(ValidationReport)) - _EAGER

    def __init__(self, tx: Transactions) -> None:  # the dataclass __init__ needs the counts
        self.__dict__["_tx"] = tx
        self.source = str(tx.source)
        self.columns = {role: col for role, col in vars(tx.mapping).items() if col is not None}
        self.detected = tx.detected
        self.notes = list(tx.notes)

    def __getattribute__(self, name: str) -> Any:
        if name in _PendingReport._LAZY:
            state = object.__getattribute__(self, "__dict__")
            if name not in state:
                tx = state["_tx"]
                if tx.closed and tx.reopen is not None:
                    # the connection is gone: count on the same file read again
                    with tx.reopen() as again:
                        counted = again.validate(full=False)
                else:
                    counted = tx.validate(full=False)
                for key in _PendingReport._LAZY:
                    state[key] = getattr(counted, key)
        return object.__getattribute__(self, name)


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
        self.source = raw.path
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
            source=str(self.source),
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
        )
        if full or self._report is None or isinstance(self._report, _PendingReport):
            self._report = report
        return report

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


def _build(
    con: duckdb.DuckDBPyConnection,
    raw: RawSource,
    mapping: ColumnMapping | None,
    date_format: str | None,
    require_usable: bool,
) -> Transactions:
    resolved, how = resolve_mapping(raw.columns, mapping, str(raw.path))
    detected = {role: h for role, h in how.items()}
    notes = list(raw.notes)
    t = raw.types

    def ty(col: str | None) -> str:
        return t[col] if col else "VARCHAR"

    m = resolved
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
    materialise = raw.materialised
    import duckdb

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
    try:
        status = f"""CASE
                WHEN customer_id IS NULL THEN 'missing_id'
                WHEN timestamp IS NULL THEN 'bad_date'
                WHEN {bad_num} THEN 'bad_amount'
                WHEN {huge} THEN 'huge_amount'
                {price_rule}
                WHEN {returned} THEN 'return'
                ELSE 'purchase' END AS status"""
        if materialise:
            # the status is computed once: every count and example later is a scan of memory
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE tx_all AS SELECT *, {status} FROM ({select})"
            )
            con.execute("CREATE OR REPLACE VIEW tx_status AS SELECT * FROM tx_all")
        else:
            # a table of an earlier (loaded) read on this connection would hide the new view
            con.execute("DROP TABLE IF EXISTS temp.main.tx_all")
            con.execute(f"CREATE OR REPLACE VIEW tx_all AS {select}")
            con.execute(f"CREATE OR REPLACE VIEW tx_status AS SELECT *, {status} FROM tx_all")
        if materialise:
            events = (
                "SELECT customer_id, timestamp, abs(amount) AS amount, abs(quantity) AS quantity, "
                "invoice, product, status = 'return' AS is_return "
                "FROM tx_all WHERE status IN ('purchase', 'return')"
            )
        else:
            # purchases have amount >= 0 and quantity >= 0 (else they are returns): abs() only
            # changes the returns, whose value is kept positive
            events = (
                "SELECT customer_id, timestamp, abs(amount) AS amount, abs(quantity) AS quantity, "
                f"invoice, product, COALESCE({returned}, false) AS is_return "
                f"FROM tx_all WHERE {usable}"
            )
        con.execute(f"CREATE OR REPLACE VIEW tx_events AS {events}")
        keys = None
        if not materialise:
            keys = _keyed_lines(con, raw, m, ty, fmt, amount, qty, price, bad_num, huge)
        # the distinct products, from the distinct values of the product column (a file's
        # catalogue is small: this is cheap where the column is stored, as in Parquet)
        if materialise or not m.product:
            products = "SELECT DISTINCT product FROM tx_all WHERE product IS NOT NULL"
        else:
            col = _q(m.product)
            products = (
                f"SELECT DISTINCT {product} AS product FROM (SELECT DISTINCT {col} FROM raw) "
                f"WHERE {product} IS NOT NULL"
            )
        con.execute(f"CREATE OR REPLACE VIEW tx_products AS {products}")
        con.execute(
            """
            CREATE OR REPLACE VIEW purchases AS
            SELECT customer_id, timestamp, amount, quantity, invoice, product
            FROM tx_events WHERE NOT is_return
            """
        )
        con.execute(
            """
            CREATE OR REPLACE VIEW returns AS
            SELECT customer_id, timestamp, amount, quantity, invoice, product
            FROM tx_events WHERE is_return
            """
        )
    except duckdb.Error as exc:
        if is_interruption(exc):
            raise  # Ctrl-C / SIGTERM (DuckDB 1.x), not the file's fault
        msg = str(exc).splitlines()[0]
        raise InputError(f"{raw.path}: cannot be read ({msg})") from None
    tx = Transactions(con, raw, resolved, detected, notes)
    tx.keys = keys
    if require_usable:
        tx.check_usable()
    return tx


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
    if any(c is None or _is_text(ty(c)) for c in cols):
        return None
    path = escape_literal(str(raw.path))
    largest = 1.0
    for col in cols:
        row = con.execute(
            "SELECT count(*), count(TRY_CAST(stats_min_value AS DOUBLE)), "
            "count(TRY_CAST(stats_max_value AS DOUBLE)), "
            "max(greatest(abs(TRY_CAST(stats_min_value AS DOUBLE)), "
            "abs(TRY_CAST(stats_max_value AS DOUBLE)))) "
            f"FROM parquet_metadata('{path}') WHERE path_in_schema = ?",
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
    cust_text = _is_text(ty(m.customer))
    inv_text = bool(m.invoice) and _is_text(ty(m.invoice))
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


# where each exclusion's example shows the offending value
_EXAMPLE_FIELD = {
    "missing_id": ("customer", "customer"),
    "bad_date": ("date", "timestamp"),
    "bad_amount": ("amount", "amount"),
    "huge_amount": ("amount", "amount"),
    "nonpositive_price": ("price", "price"),
}


def check_usable(report: ValidationReport) -> None:
    """Raise :class:`DataValidationError` (exit code 2) when nothing is left to analyse.

    The message names every reason rows were excluded, with an offending value, and the columns
    that were used, so that a wrong column choice shows at once.
    """
    if report.rows == 0:
        raise DataValidationError(
            f"{report.source}: the file has a header but no data rows", report
        )
    if report.usable:
        return
    reasons = []
    for p in report.problems:
        if p.code not in _EXAMPLE_FIELD and p.code != "return":
            continue
        text = f"{p.count:,} {p.description}"
        field_, role = _EXAMPLE_FIELD.get(p.code, ("", ""))
        if field_ and p.examples and role in report.columns:
            text += f" (e.g. {_show(p.examples[0].get(field_))} in {report.columns[role]!r})"
        reasons.append(text)
    used = ", ".join(f"{ROLE_OPTION[r]} {c!r}" for r, c in report.columns.items())
    hint = ""
    if report.count("bad_date") and "timestamp" in report.columns:
        hint = " or give --date-format"
    raise DataValidationError(
        f"{report.source}: no usable purchases: all {report.rows:,} rows are excluded or "
        f"returns: {'; '.join(reasons) or 'none'}. Check the columns used ({used}){hint}",
        report,
    )
