"""Read anything: one small log written in every layout and file format shops export.

Each case writes the same seven purchases of three customers (total 271.57) with its dates in
one layout and one file format, reads it with nothing but the file, and must give the same three
customers, the same total and the same timestamps (to the layout's precision: a date-only layout
gives midnight). The case ids count the cases (``07of30-...``); the date guesser is fuzzed with
hypothesis at the end.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.errors import InputError
from toolkit.io import read_transactions
from toolkit.io._dates import (
    DATE_FORMATS,
    NUMERIC_GUESS_YEARS,
    parse_expr,
    register_python_strptime,
)

EPOCH = datetime(1970, 1, 1)
EXCEL_ZERO = datetime(1899, 12, 30)

# (customer, when, amount): afternoon times (a 12-hour clock must add 12), days past the 12th
# (so month/day and day/month cannot tie), a one-digit day and hour, midnight and noon
ROWS = [
    ("17850", datetime(2010, 12, 1, 8, 26, 5), 15.30),
    ("17850", datetime(2010, 12, 13, 14, 5, 59), 22.00),
    ("13047", datetime(2011, 1, 4, 0, 30, 0), 54.08),
    ("13047", datetime(2011, 2, 28, 12, 0, 1), 100.00),
    ("13047", datetime(2011, 7, 19, 23, 59, 0), 7.50),
    ("12583", datetime(2011, 9, 5, 9, 1, 0), 60.19),
    ("12583", datetime(2011, 12, 9, 12, 50, 0), 12.50),
]
CUSTOMERS = 3
TOTAL = 271.57


def _precision(fmt: str) -> str:
    """What a layout keeps of a timestamp: 'second', 'minute' or 'day'."""
    if fmt in ("epoch", "epoch_ms", "epoch_us", "epoch_float", "excel", "typed") or "%S" in fmt:
        return "second"
    return "minute" if "%M" in fmt else "day"


def _truncate(when: datetime, precision: str) -> datetime:
    if precision == "day":
        return datetime(when.year, when.month, when.day)
    if precision == "minute":
        return when.replace(second=0)
    return when


def _nearest_second(t: datetime) -> datetime:
    """Excel serials and float seconds land within a millisecond of the second."""
    return (t + timedelta(microseconds=500_000)).replace(microsecond=0)


def _render(when: datetime, fmt: str) -> object:
    """A timestamp as the layout writes it: text, a number or a datetime."""
    seconds = (when - EPOCH).total_seconds()
    if fmt == "epoch":
        return int(seconds)
    if fmt == "epoch_ms":
        return int(seconds) * 1000
    if fmt == "epoch_us":
        return int(seconds) * 1_000_000
    if fmt == "epoch_float":
        return seconds + 0.25  # a fraction of a second (read to the nearest second below)
    if fmt == "excel":
        return round((when - EXCEL_ZERO) / timedelta(days=1), 10)
    if fmt == "typed":
        return when
    return when.strftime(fmt)


def _write(path: Path, kind: str, dates: list[object]) -> Path:
    """The log as a file of ``kind`` with the dates given, under the usual column names."""
    df = pd.DataFrame(
        {
            "CustomerID": [r[0] for r in ROWS],
            "InvoiceDate": dates,
            "Amount": [r[2] for r in ROWS],
        }
    )
    if kind in ("csv", "csv-text"):
        if kind == "csv-text":  # numbers written as text, quoted as some exports do
            df["InvoiceDate"] = [str(d) for d in dates]
        df.to_csv(path, index=False)
    elif kind == "tsv":
        df.to_csv(path, index=False, sep="\t")
    elif kind == "semicolon":
        df["Amount"] = [f"{a:.2f}".replace(".", ",") for a in df["Amount"]]
        df.to_csv(path, index=False, sep=";")
    elif kind == "json":
        path.write_text(json.dumps(df.to_dict(orient="records"), default=str))
    elif kind == "ndjson":
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in df.to_dict("records")))
    elif kind == "parquet":
        df.to_parquet(path, index=False)
    elif kind == "xlsx":
        df.to_excel(path, index=False)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


_EXT = {"csv-text": "csv", "semicolon": "csv", "tsv": "tsv"}

# (name, layout, file kind): every layout the date guesser must recognise, in the file formats
# that carry it (numbers as JSON numbers, Parquet integers or text; typed dates natively)
LAYOUTS = [
    ("iso", "%Y-%m-%d %H:%M:%S", "csv"),
    ("iso-t-zulu", "%Y-%m-%dT%H:%M:%SZ", "csv"),
    ("iso-date", "%Y-%m-%d", "ndjson"),
    ("iso-basic", "%Y%m%dT%H%M%S", "csv"),
    ("iso-slashes", "%Y/%m/%d %H:%M", "tsv"),
    ("us-24h", "%m/%d/%Y %H:%M", "csv"),
    ("us-12h", "%m/%d/%Y %I:%M %p", "csv"),
    ("us-12h-seconds", "%m/%d/%Y %I:%M:%S %p", "json"),
    ("us-12h-no-space", "%m/%d/%Y %I:%M%p", "csv"),
    ("us-2digit-year-12h", "%m/%d/%y %I:%M %p", "csv"),
    ("uk", "%d/%m/%Y %H:%M", "semicolon"),
    ("uk-12h", "%d/%m/%Y %I:%M %p", "csv"),
    ("uk-2digit-year", "%d/%m/%y", "csv"),
    ("german", "%d.%m.%Y %H:%M:%S", "semicolon"),
    ("dashes-day-first", "%d-%m-%Y %H:%M", "csv"),
    ("day-mon-2digit-year", "%d-%b-%y", "csv"),
    ("day-mon-year-12h", "%d-%b-%Y %I:%M %p", "csv"),
    ("day-month-name", "%d %B %Y", "csv"),
    ("mon-day-comma-year", "%b %d, %Y", "csv"),
    ("month-day-comma-year-12h", "%B %d, %Y %I:%M %p", "ndjson"),
    ("rfc-2822", "%a, %d %b %Y %H:%M:%S", "csv"),
    ("yyyymmdd", "%Y%m%d", "csv"),
    ("epoch-seconds-json", "epoch", "json"),
    ("epoch-seconds-text", "epoch", "csv"),
    ("epoch-seconds-float-parquet", "epoch_float", "parquet"),
    ("epoch-milliseconds-ndjson", "epoch_ms", "ndjson"),
    ("epoch-microseconds-parquet", "epoch_us", "parquet"),
    ("excel-serial-text", "excel", "csv-text"),
    ("typed-parquet", "typed", "parquet"),
    ("typed-xlsx", "typed", "xlsx"),
]
N = len(LAYOUTS)


@pytest.mark.parametrize(
    ("layout", "kind"),
    [(fmt, kind) for _, fmt, kind in LAYOUTS],
    ids=[f"{i:02d}of{N}-{name}" for i, (name, _, _) in enumerate(LAYOUTS, 1)],
)
def test_every_layout_gives_the_same_customers_total_and_dates(layout, kind, tmp_path):
    path = _write(
        tmp_path / f"log.{_EXT.get(kind, kind)}", kind, [_render(r[1], layout) for r in ROWS]
    )
    with read_transactions(path) as tx:
        report = tx.validate()
        stamps = sorted(tx.purchases["timestamp"].dt.to_pydatetime())
    assert report.purchase_customers == CUSTOMERS
    assert report.purchase_amount == pytest.approx(TOTAL)
    assert report.problems == [], report.render_text()
    expected = sorted(_truncate(r[1], _precision(layout)) for r in ROWS)
    assert [_nearest_second(s) for s in stamps] == expected
    if layout.startswith(("epoch", "excel")):
        assert any("epoch" in n or "Excel" in n for n in tx.notes), tx.notes


# --date-format: the numeric units by name, strftime formats DuckDB spells differently
GIVEN = [
    ("epoch", "epoch", "csv"),
    ("epoch_ms", "epoch_ms", "json"),
    ("epoch_us", "epoch_us", "ndjson"),
    ("excel", "excel", "csv-text"),
    ("%s", "epoch", "csv"),
    ("%F %T", "%Y-%m-%d %H:%M:%S", "csv"),
    ("%D %R", "%m/%d/%y %H:%M", "csv"),
    ("%e %b %Y %l:%M %p", "%d %b %Y %I:%M %p", "csv"),
    ("%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M %p", "csv"),
    ("%G-W%V-%u", "%G-W%V-%u", "csv"),
]


@pytest.mark.parametrize(
    ("given", "layout", "kind"),
    GIVEN,
    ids=[f"{i:02d}of{len(GIVEN)}-{g}" for i, (g, _, _) in enumerate(GIVEN, 1)],
)
def test_a_given_date_format_reads_its_layout(given, layout, kind, tmp_path):
    path = _write(
        tmp_path / f"log.{_EXT.get(kind, kind)}", kind, [_render(r[1], layout) for r in ROWS]
    )
    with read_transactions(path, date_format=given) as tx:
        report = tx.validate()
        stamps = sorted(tx.purchases["timestamp"].dt.to_pydatetime())
    assert (report.purchase_customers, report.count("bad_date")) == (CUSTOMERS, 0)
    assert report.purchase_amount == pytest.approx(TOTAL)
    if layout == "%G-W%V-%u":  # an ISO week date names the day only
        expected = sorted(datetime(r[1].year, r[1].month, r[1].day) for r in ROWS)
    else:
        expected = sorted(_truncate(r[1], _precision(layout)) for r in ROWS)
    assert [_nearest_second(s) for s in stamps] == expected


@pytest.mark.parametrize("given", ["YYYYMMDD", "epoch_ns", "%Y-%Q"])
def test_a_date_format_neither_duckdb_nor_python_reads_is_refused(given, tmp_path):
    path = _write(tmp_path / "log.csv", "csv", [_render(r[1], "%Y%m%d") for r in ROWS])
    with pytest.raises(InputError, match=r"`date_format`"):
        read_transactions(path, date_format=given)


def test_python_strptime_parses_what_duckdb_cannot():
    import duckdb

    con = duckdb.connect()
    register_python_strptime(con)
    register_python_strptime(con)  # twice on one connection is harmless
    got = con.execute(
        f"SELECT {parse_expr('v', 'py:%d/%m/%Y %z')} FROM (SELECT unnest(?) v)",
        [["13/12/2010 +0100", "not a date", None]],
    ).fetchall()
    assert got == [(datetime(2010, 12, 13),), (None,), (None,)]


def test_a_guess_that_fits_part_of_the_sample_says_so(tmp_path):
    path = tmp_path / "mixed.csv"
    dates = ["12/13/2010 08:26 PM", "12/14/2010 09:00 AM", "2010-12-14 08:00", "13.12.2010"]
    path.write_text("cust,date,amount\n" + "".join(f"{i},{d},1\n" for i, d in enumerate(dates)))
    with read_transactions(path) as tx:
        report = tx.validate()
    note = next(n for n in tx.notes if "fits" in n)
    assert "format '%m/%d/%Y %I:%M %p' fits 2 of 4 sampled distinct values (50%)" in note
    assert "'2010-12-14 08:00'" in note and "'13.12.2010'" in note
    assert report.count("bad_date") == 2


@pytest.mark.parametrize(
    "values",
    [
        ["12345", "23456"],  # five digits before 1990 (a count, a zip code): no Excel dates
        ["300000000", "300000001"],  # 1979 in epoch seconds: before 1990, not guessed
        ["0", "1"],
    ],
    ids=["small-serials", "epoch-before-1990", "zero-and-one"],
)
def test_numbers_outside_the_plausible_years_are_not_guessed_to_be_dates(values, tmp_path):
    assert NUMERIC_GUESS_YEARS == (1990, 2100)  # what the values above fall outside of
    path = tmp_path / "n.csv"
    path.write_text("cust,date,amount\n" + "".join(f"1,{v},1\n" for v in values))
    with pytest.raises(InputError, match="no usable purchases"):
        read_transactions(path)


# --- fuzzing the guesser ------------------------------------------------------------------------

# layouts the guesser knows (it must read them right) and some it does not (it must refuse:
# every row left out, "no usable purchases", never a silent misreading)
KNOWN = list(dict.fromkeys(fmt for _, fmt, _ in LAYOUTS if fmt != "typed"))
UNKNOWN = ["%Y.%m.%d", "%d %m %Y", "%Y|%m|%d %H:%M"]


@st.composite
def _logs(draw: st.DrawFn) -> tuple[str, list[datetime]]:
    fmt = draw(st.sampled_from(KNOWN + UNKNOWN) | st.sampled_from(DATE_FORMATS))
    # two-digit years are 1969-2068 (POSIX); numbers are guessed as dates from 1990 to 2100
    lo, hi = (1990, 2068) if "%y" in fmt else (1990, 2099)
    stamps = draw(
        st.lists(
            st.datetimes(min_value=datetime(lo, 1, 1), max_value=datetime(hi, 12, 31)).map(
                lambda d: d.replace(microsecond=0)
            ),
            min_size=1,
            max_size=12,
        )
    )
    return fmt, stamps


@settings(
    max_examples=int(os.environ.get("TOOLKIT_FUZZ_EXAMPLES", "80")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(log=_logs())
def test_fuzz_a_guess_is_right_for_every_row_or_a_clear_refusal(log, tmp_path_factory):
    fmt, stamps = log
    rendered = [_render(s, fmt) for s in stamps]
    path = tmp_path_factory.mktemp("fuzz") / "log.csv"
    pd.DataFrame({"cust": range(len(rendered)), "date": rendered, "amount": 1}).to_csv(
        path, index=False
    )
    try:
        tx = read_transactions(path)
    except InputError as exc:
        assert fmt in UNKNOWN, (fmt, rendered, str(exc))
        assert "no usable purchases" in str(exc)
        return
    with tx:
        report = tx.validate()
        got = tx.con.execute("SELECT customer_id, timestamp FROM purchases").fetchall()
    read = {int(c): _nearest_second(t) for c, t in got}
    truth = {i: _truncate(s, _precision(fmt)) for i, s in enumerate(stamps)}
    ambiguous = any("ambiguous" in n for n in tx.notes)
    if ambiguous:
        # month first on a tie, and the note says so: every date is right or day/month swapped
        for i, t in read.items():
            assert t in (truth[i], truth[i].replace(month=truth[i].day, day=truth[i].month))
    else:
        assert read == truth, (fmt, rendered, tx.notes)
    assert report.count("bad_date") == 0 or any("fits" in n for n in tx.notes)


# --- the same on Online Retail: two re-encodings read as the clean file -------------------------


def _retail_reencoded(shared_data: Path, out: Path, how: str) -> Path:
    """Online Retail with its dates as epoch seconds in JSON records, or on a US 12-hour clock
    in CSV (``12/01/2010 08:26 AM``)."""
    df = pd.read_csv(
        shared_data / "online_retail.csv.gz", dtype={"InvoiceNo": str, "StockCode": str}
    )
    when = pd.to_datetime(df["InvoiceDate"])
    if how == "json-epoch":
        df["InvoiceDate"] = (when - pd.Timestamp(EPOCH)) // pd.Timedelta(seconds=1)
        path = out / "retail.json"
        df.to_json(path, orient="records")
    else:
        df["InvoiceDate"] = when.dt.strftime("%m/%d/%Y %I:%M %p")
        path = out / "retail.csv"
        df.to_csv(path, index=False)
    return path


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("how", ["json-epoch", "csv-us-12h"])
def test_online_retail_reencoded_reads_as_the_clean_file(shared_data, tmp_path, how):
    with read_transactions(shared_data / "online_retail.csv.gz") as tx:
        clean = tx.validate(full=False)
    path = _retail_reencoded(shared_data, tmp_path, how)
    with read_transactions(path) as tx:
        again = tx.validate(full=False)
        notes = tx.notes
    assert (again.purchase_rows, again.purchase_customers) == (
        clean.purchase_rows,
        clean.purchase_customers,
    )
    assert again.purchase_amount == pytest.approx(clean.purchase_amount, rel=1e-12)
    assert (again.first_date, again.last_date) == (clean.first_date, clean.last_date)
    assert again.count("bad_date") == 0
    expected = "Unix epoch seconds" if how == "json-epoch" else "'%m/%d/%Y %I:%M %p'"
    assert any(expected in n for n in notes), notes
