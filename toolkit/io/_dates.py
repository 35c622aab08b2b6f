"""Dates as shops export them: guessing the layout of a date column and parsing it in DuckDB.

A date column is parsed with one *format* for every row. A format is either

* ``'ISO'``: what DuckDB casts (2011-12-09, 2011-12-09 12:50:00, 2011-12-09T12:50:00Z; an
  offset is dropped, the wall time kept);
* a strftime format (``'%m/%d/%Y %I:%M %p'``), parsed by DuckDB's ``strptime``; the few
  directives DuckDB does not know are translated (``%F`` -> ``%Y-%m-%d``, ``%e`` -> ``%-d`` ...)
  and a format DuckDB still cannot read but Python's ``strptime`` can is parsed in Python;
* a number of time units: ``'epoch'``, ``'epoch_ms'``, ``'epoch_us'`` (seconds, milliseconds,
  microseconds since 1970-01-01 UTC, read as UTC wall time) or ``'excel'`` (days since
  1899-12-30, the serial dates spreadsheets hold, a fraction being the time of day).

When the user gives no format, :func:`guess_date_format` tries ISO, every layout of
:data:`DATE_FORMATS` and the numeric units on a sample of distinct values and keeps the one that
parses the most into plausible years. Numbers are told apart by magnitude: for dates between
1990 and 2100, epoch seconds have 9-10 digits, milliseconds 12-13, microseconds 15-16, Excel
serials 5 (and ``19970101``, 8 digits, is ``%Y%m%d``), so the ranges never overlap.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from toolkit.errors import InputError
from toolkit.io._sql import quote_ident, quote_literal

if TYPE_CHECKING:
    import duckdb

# Date layouts, each tried with every time of day in _TIMES (most precise first), in order of
# preference on a tie. Two-digit-year layouts matter: %Y would read '12/1/10' as the year 10
# (such parses are not counted, see guess_date_format).
_DAYS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %b %y",
    "%d %B %Y",
    "%b %d, %Y",
    "%b %d %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%a, %d %b %Y",
    "%Y%m%d",
)
# 24-hour and 12-hour clocks (with and without a space before AM/PM), seconds optional
_TIMES = (
    " %H:%M:%S",
    " %H:%M",
    " %I:%M:%S %p",
    " %I:%M %p",
    " %I:%M:%S%p",
    " %I:%M%p",
    "",
)
#: every strftime layout the guesser tries, then the compact ISO ones (20101201T082600)
DATE_FORMATS: tuple[str, ...] = tuple(d + t for d in _DAYS for t in _TIMES) + (
    "%Y%m%d%H%M%S",
    "%Y%m%dT%H%M%S",
    "%Y%m%dT%H%M%SZ",
    "%Y%m%dT%H%M",
    "%Y-%m-%dT%H:%M:%S.%f",
)
#: numeric dates: microseconds per unit and the unit's value at 1970-01-01 00:00
NUMERIC_FORMATS: dict[str, tuple[float, float]] = {
    "epoch": (1e6, 0.0),
    "epoch_ms": (1e3, 0.0),
    "epoch_us": (1.0, 0.0),
    "excel": (86_400e6, 25_569.0),
}
_NUMERIC_WORDS = {
    "epoch": "Unix epoch seconds",
    "epoch_ms": "Unix epoch milliseconds",
    "epoch_us": "Unix epoch microseconds",
    "excel": "Excel serial day numbers",
}
# a parsed date must lie in these years (a wrong guess gives the year 10 or 2201)
PLAUSIBLE_YEARS = (1900, 2200)
# a number is guessed to be a date only when it lands here: the narrower range keeps amounts or
# counts from passing for dates (5-digit numbers are Excel serials only from 32874 to 73050)
NUMERIC_GUESS_YEARS = (1990, 2100)

# directives DuckDB's strptime spells differently (or not at all) from C's / Python's
_TRANSLATE = {
    "%F": "%Y-%m-%d",
    "%T": "%H:%M:%S",
    "%R": "%H:%M",
    "%D": "%m/%d/%y",
    "%e": "%-d",
    "%k": "%-H",
    "%l": "%-I",
    "%h": "%b",
}
_DIRECTIVE = re.compile(r"%-?[a-zA-Z%]|%:z")
PY_STRPTIME = "toolkit_py_strptime"


_q = quote_ident
_lit = quote_literal


def _is_float(dtype: str) -> bool:
    return dtype.upper() in ("DOUBLE", "FLOAT", "REAL") or dtype.upper().startswith("DECIMAL")


def date_text(col: str, dtype: str) -> str:
    """SQL: a date column as text to parse; numeric dates (19970101, 19970101.0) as their
    digits."""
    c = _q(col)
    if _is_float(dtype):
        return (
            f"CASE WHEN {c} = floor({c}) AND abs({c}) < 1e15 "
            f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END"
        )
    return f"trim(CAST({c} AS VARCHAR))"


def _numeric_expr(text: str, fmt: str, years: tuple[int, int]) -> str:
    """SQL parsing ``text`` as a number of ``fmt``'s units; NULL outside ``years``."""
    unit, zero = NUMERIC_FORMATS[fmt]
    lo = (datetime(years[0], 1, 1) - datetime(1970, 1, 1)).total_seconds() * 1e6 / unit + zero
    hi = (datetime(years[1] + 1, 1, 1) - datetime(1970, 1, 1)).total_seconds() * 1e6 / unit + zero
    n = f"TRY_CAST({text} AS DOUBLE)"
    # a value of 0 or below is a placeholder, not 1970 or 1899 (and a negative epoch is
    # never a shop's purchase date)
    lo = max(lo, zero + 1e-9)
    return (
        f"CASE WHEN {n} >= {lo!r} AND {n} < {hi!r} "
        f"THEN make_timestamp(CAST(round(({n} - {zero!r}) * {unit!r}) AS BIGINT)) END"
    )


def parse_expr(text: str, fmt: str, years: tuple[int, int] = PLAUSIBLE_YEARS) -> str:
    """SQL parsing the text expression ``text`` with ``fmt`` (see the module docstring)."""
    if fmt == "ISO":
        return f"TRY_CAST({text} AS TIMESTAMP)"
    if fmt in NUMERIC_FORMATS:
        return _numeric_expr(text, fmt, years)
    if fmt.startswith("py:"):
        return f"{PY_STRPTIME}({text}, {_lit(fmt[3:])})"
    return f"TRY_STRPTIME({text}, {_lit(fmt)})"


def date_expr(col: str, dtype: str, fmt: str | None) -> str:
    """SQL: the column ``col`` as TIMESTAMP; ``fmt`` None for a typed date column."""
    if fmt is None:
        return f"CAST({_q(col)} AS TIMESTAMP)"
    return parse_expr(date_text(col, dtype), fmt)


def describe(fmt: str) -> str:
    """How a note names a format: ``format '%d/%m/%Y'`` or ``Unix epoch seconds (UTC)``."""
    if fmt in _NUMERIC_WORDS:
        return _NUMERIC_WORDS[fmt] + (" (UTC)" if fmt.startswith("epoch") else "")
    return f"format {fmt.removeprefix('py:')!r}"


def reading_note(col: str, fmt: str) -> str:
    """The note saying how the dates of ``col`` were read."""
    return f"dates in {col!r} read {'as' if fmt in NUMERIC_FORMATS else 'with'} {describe(fmt)}"


def guess_date_format(
    con: duckdb.DuckDBPyConnection, col: str, dtype: str, notes: list[str]
) -> str:
    """Choose how to parse a text or numeric date column from a sample of its values.

    ISO when it parses every sampled value; else the candidate (a layout of
    :data:`DATE_FORMATS` or a numeric unit) that parses the most sampled values into plausible
    years, if it parses more than ISO does (the earlier one on a tie). A month/day vs
    day/month tie is read month first, with a note; a guess that fits only part of the sample
    says which share and shows values it does not fit.
    """
    sample = [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT v FROM (SELECT {date_text(col, dtype)} AS v FROM "
            f"(SELECT {_q(col)} FROM raw LIMIT 200000)) WHERE v IS NOT NULL AND v <> '' LIMIT 2000"
        ).fetchall()
    ]
    if not sample:
        return "ISO"
    candidates = ["ISO", *DATE_FORMATS, *NUMERIC_FORMATS]
    lo, hi = PLAUSIBLE_YEARS

    def fits(fmt: str) -> str:
        years = NUMERIC_GUESS_YEARS if fmt in NUMERIC_FORMATS else PLAUSIBLE_YEARS
        return f"year({parse_expr('v', fmt, years)}) BETWEEN {lo} AND {hi}"

    def count(formats: list[str]) -> list[int]:
        # one pass over the sample counts every candidate
        row = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER ({fits(f)})" for f in formats) + " FROM "
            "(SELECT unnest(?) v)",
            [sample],
        ).fetchone()
        return [int(n) for n in row] if row else [0] * len(formats)

    iso = count(["ISO"])[0]
    if iso == len(sample):  # the common case costs one cast of the sample
        return "ISO"
    counts = [iso, *count(candidates[1:])]
    best_n = max(counts[1:])
    if best_n <= iso:
        if iso:
            _note_partial(con, sample, "ISO", fits("ISO"), iso, col, notes)
        return "ISO"
    ties = [f for f, n in zip(candidates[1:], counts[1:], strict=True) if n == best_n]
    best = ties[0]
    if any(t.startswith("%m") for t in ties) and any(t.startswith("%d") for t in ties):
        best = next(t for t in ties if t.startswith("%m"))  # month first, as US exports
        notes.append(
            f"dates in {col!r} are ambiguous between month/day and day/month; read as "
            f"{best!r} (use `date_format` to choose)"
        )
    if best_n < len(sample):
        _note_partial(con, sample, best, fits(best), best_n, col, notes)
    return best


def _note_partial(
    con: duckdb.DuckDBPyConnection,
    sample: list[str],
    fmt: str,
    fits: str,
    n: int,
    col: str,
    notes: list[str],
) -> None:
    """Say that ``fmt`` fits only ``n`` of the sampled values, and show three it does not."""
    others = [
        str(r[0])
        for r in con.execute(
            f"SELECT v FROM (SELECT unnest(?) v) WHERE NOT COALESCE({fits}, false) LIMIT 3",
            [sample],
        ).fetchall()
    ]
    notes.append(
        f"dates in {col!r}: {describe(fmt)} fits {n:,} of {len(sample):,} sampled distinct "
        f"values ({n / len(sample):.0%}); the others look like "
        f"{', '.join(map(repr, others))} and are left out as unparseable "
        "(use `date_format` to choose)"
    )


def resolve_date_format(fmt: str, con: duckdb.DuckDBPyConnection) -> str:
    """The format to parse with for ``--date-format fmt``, or an InputError saying why not.

    ``epoch``, ``epoch_ms``, ``epoch_us``, ``excel`` (and ``%s``, C's epoch seconds) are
    numeric units; any other value must be a strftime format. Directives DuckDB lacks are
    translated; a format DuckDB still refuses but Python's ``strptime`` reads is parsed in
    Python (slower: a function call a row), registered on ``con``.

    Examples
    --------
    >>> import duckdb
    >>> resolve_date_format("%F %T", duckdb.connect())
    '%Y-%m-%d %H:%M:%S'
    >>> resolve_date_format("%s", duckdb.connect())
    'epoch'
    """
    key = fmt.strip().lower()
    if key in NUMERIC_FORMATS:
        return key
    if fmt.strip() == "%s":
        return "epoch"
    if not _DIRECTIVE.search(fmt) or fmt.replace("%%", "").count("%") == 0:
        raise InputError(
            "`date_format` must be a strftime format such as '%Y-%m-%d' or '%Y%m%d', or one "
            f"of {', '.join(NUMERIC_FORMATS)}, got {fmt!r}"
        )
    translated = _DIRECTIVE.sub(lambda m: _TRANSLATE.get(m.group(0), m.group(0)), fmt)
    try:  # a directive DuckDB does not know (%Q) fails here, not as the file's fault later
        con.execute("SELECT try_strptime('', ?)", [translated]).fetchall()
        return translated
    except Exception as exc:
        reason = str(exc).split("Error: ", 1)[-1]
    if not _python_reads(fmt):
        raise InputError(
            f"`date_format` {fmt!r} is not a format DuckDB can read, nor Python's strptime: "
            f"{reason}"
        ) from None
    register_python_strptime(con)
    return "py:" + fmt


def _python_reads(fmt: str) -> bool:
    """Whether Python's strptime knows every directive of ``fmt`` (a mismatch is expected)."""
    try:
        datetime.strptime("", fmt)
    except ValueError as exc:
        return "bad directive" not in str(exc) and "stray %" not in str(exc)
    return True


def register_python_strptime(con: duckdb.DuckDBPyConnection) -> None:
    """Register :data:`PY_STRPTIME` (text, format) -> TIMESTAMP on ``con``, NULL where the text
    does not match; an offset (``%z``) is dropped, the wall time kept, as ISO is read."""
    from duckdb import sqltypes
    from duckdb.func import FunctionNullHandling

    def parse(text: str | None, fmt: str | None) -> datetime | None:
        if text is None or fmt is None:
            return None
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=None)
        except ValueError:
            return None

    try:
        con.create_function(
            PY_STRPTIME,
            parse,
            [sqltypes.VARCHAR, sqltypes.VARCHAR],
            sqltypes.TIMESTAMP,
            null_handling=FunctionNullHandling.SPECIAL,  # a text that does not match gives NULL
            side_effects=False,
        )
    except Exception as exc:  # already registered on this connection
        if "already" not in str(exc).lower():
            raise
