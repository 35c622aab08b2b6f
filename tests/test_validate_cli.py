"""``toolkit validate``: the acceptance runs on the real data, every bad input ends with exit 2 and
one message naming the problem (never a traceback), and ``--json`` carries the same counts."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_io_transactions import EXPECTED, write_problem_table

CDNOW_ARGS = ["--names", "master_id,sample_id,date,quantity,amount", "--customer-col", "master_id"]


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


# --- acceptance on the real data -----------------------------------------------------------------


@pytest.mark.slow
def test_online_retail(cli, shared_data: Path):
    r = cli("validate", shared_data / "online_retail.csv.gz")
    out = _ok(r)
    for role, col in [
        ("customer", "CustomerID"),
        ("timestamp", "InvoiceDate"),
        ("quantity", "Quantity"),
        ("price", "UnitPrice"),
        ("invoice", "InvoiceNo"),
        ("product", "StockCode"),
    ]:
        assert f"using column {col!r} as {role}" in r.stderr
        assert f"{role:<9} <- {col!r} (detected)" in out
    assert "amount = 'Quantity' x 'UnitPrice'" in out
    assert "rows:             541,909" in out
    assert "customers:        4,372" in out
    assert "date range:       2010-12-01 to 2011-12-09" in out
    assert "- 135,080 rows without a customer id: excluded" in out
    # the cancellations, and the published cleaned figures
    assert "cancellations:    9,288 rows with a 'C' invoice" in out
    assert "- 8,905 cancellations and returns" in out
    assert "purchases:        397,884 rows, 4,338 customers" in out


@pytest.mark.parametrize("date_format", [["--date-format", "%Y%m%d"], []], ids=["given", "guessed"])
def test_cdnow_sample(cli, shared_data: Path, date_format):
    out = _ok(cli("validate", shared_data / "CDNOW_sample.txt", *CDNOW_ARGS, *date_format))
    assert "rows:             6,919" in out
    assert "customers:        2,357" in out
    assert "date range:       1997-01-01 to 1998-06-30" in out
    assert ("read with format '%Y%m%d'" in out) == (not date_format)


def test_cdnow_sample_json(cli, shared_data: Path):
    d = json.loads(_ok(cli("validate", shared_data / "CDNOW_sample.txt", *CDNOW_ARGS, "--json")))
    assert (d["rows"], d["customers"], d["purchase_rows"]) == (6919, 2357, 6919)
    assert (d["first_date"], d["last_date"]) == ("1997-01-01 00:00:00", "1998-06-30 00:00:00")
    assert d["columns"]["customer"] == "master_id" and d["detected"]["customer"] == "given"


@pytest.mark.parametrize(
    ("content", "args"),
    [
        ("00004\t19970101\t29.33\n00005\t19970102\t1.5\n", ["--sep", "tab"]),
        ("00004;19970101;29,33\n00005;19970102;1,5\n", ["--sep", ";"]),
        (" 00004  19970101  29.33\n 00005  19970102   1.5\n", ["--sep", "whitespace"]),
        (" 00004  19970101  29.33\n 00005  19970102   1.5\n", []),
    ],
    ids=["tab", "semicolon", "whitespace", "sniffed"],
)
def test_separators_and_names(cli, tmp_path, content, args):
    p = tmp_path / "h.txt"
    p.write_text(content)
    out = _ok(
        cli(
            "validate",
            p,
            "--names",
            "id,day,value",
            "--customer-col",
            "id",
            *args,
            "--date-col",
            "day",
            "--amount-col",
            "value",
            "--json",
        )
    )
    d = json.loads(out)
    assert (d["rows"], d["customers"], d["first_date"]) == (2, 2, "1997-01-01 00:00:00")
    assert d["purchase_amount"] == pytest.approx(30.83)


# --- the hand-made problem table ------------------------------------------------------------------


def test_problems_text(cli, tmp_path):
    out = _ok(cli("validate", write_problem_table(tmp_path / "p.csv")))
    assert "rows:             23" in out and "customers:        7" in out
    assert "- 7 rows without a customer id: excluded" in out
    assert "- 2 rows whose date is missing or cannot be parsed: excluded" in out
    assert "- 1 rows whose amount, quantity or price is missing or not a number: excluded" in out
    assert "- 2 rows with a zero or negative unit price: excluded" in out
    assert "- 2 cancellations and returns" in out
    assert "- 1 exact duplicate rows" in out
    assert "- 1 rows dated in the future" in out
    assert "- 1 purchases with an outlying amount" in out
    assert out.count("e.g.") == 5 + 2 + 1 + 2 + 2 + 1 + 1 + 1


def test_problems_json_carries_the_same_counts(cli, tmp_path):
    d = json.loads(_ok(cli("validate", write_problem_table(tmp_path / "p.csv"), "--json")))
    assert {p["code"]: p["count"] for p in d["problems"]} == EXPECTED["problems"]
    for key in ("rows", "customers", "purchase_rows", "purchase_customers", "return_rows"):
        assert d[key] == EXPECTED[key], key
    assert d["purchase_amount"] == pytest.approx(EXPECTED["purchase_amount"])
    assert all(len(p["examples"]) <= 5 for p in d["problems"])
    assert d["full"] is True


def test_json_output_of_typed_and_non_ascii_values(cli, tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame(
        {
            "CustomerID": [1.0, 1.0, None],
            "InvoiceDate": pd.to_datetime(["2011-01-02", "2011-01-02", "2011-01-03"]),
            "Amount": [2.5, 2.5, 1.0],
            "Product": ["CAFÉ €", "CAFÉ €", "x"],
        }
    ).to_parquet(p)
    d = json.loads(_ok(cli("validate", p, "--json")))
    dup = next(q for q in d["problems"] if q["code"] == "duplicate")
    assert dup["examples"][0]["Product"] == "CAFÉ €"
    assert dup["examples"][0]["InvoiceDate"] == "2011-01-02 00:00:00"


# --- bad input: exit 2, one message naming the problem ------------------------------------------

HEADER = "CustomerID,InvoiceDate,Amount\n"


def _bytes(data: bytes):
    return lambda p: p.write_bytes(data)


def _text(text: str):
    return lambda p: p.write_text(text, encoding="utf-8")


def _corrupt_parquet(p: Path) -> None:
    good = p.with_suffix(".good")
    pd.DataFrame({"CustomerID": ["1"] * 50, "InvoiceDate": ["2011-01-02"] * 50}).to_parquet(good)
    data = good.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # magic bytes at the start, footer gone


def _corrupt_xlsx(p: Path) -> None:
    good = p.with_suffix(".good.xlsx")
    pd.DataFrame({"CustomerID": ["1"], "InvoiceDate": ["2011-01-02"], "Amount": [1]}).to_excel(
        good, index=False
    )
    data = good.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _zip_of_csv(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("data.csv", HEADER + "1,2011-01-02,3\n")


def _empty_xlsx(p: Path) -> None:
    pd.DataFrame().to_excel(p, index=False)


BAD_INPUTS = {
    # id: (file name, how to write it, extra arguments, what the message must say)
    "empty file": ("e.csv", _bytes(b""), [], r"e\.csv: the file is empty"),
    "blank lines only": ("b.csv", _text("\n \n\n"), [], r"the file is empty"),
    "empty gzip": ("e.csv.gz", _bytes(gzip.compress(b"")), [], r"the file is empty"),
    "header only": ("h.csv", _text(HEADER), [], r"has a header but no data rows"),
    "header only, other format": (
        "h.tsv",
        _text("CustomerID\tInvoiceDate\tAmount\r\n"),
        [],
        r"has a header but no data rows",
    ),
    "empty json array": ("e.json", _text("[]"), [], r"holds no records"),
    "empty ndjson": ("e.ndjson", _text("\n\n"), [], r"the file is empty"),
    "xlsx without rows": ("e.xlsx", _empty_xlsx, [], r"first sheet of the workbook is empty"),
    "required column missing": (
        "m.csv",
        _text("Custmer,OrderDat,Amount\n1,2011-01-02,3\n"),
        [],
        r"missing required column\(s\): a customer id column \(--customer-col\); a date column "
        r"\(--date-col\)\. Columns found: 'Custmer', 'OrderDat', 'Amount'\. Closest names: "
        r"'Custmer' for --customer-col\?, 'OrderDat' for --date-col\?",
    ),
    "no amount": (
        "a.csv",
        _text("CustomerID,InvoiceDate,Quantity\n1,2011-01-02,3\n"),
        [],
        r"an amount column \(--amount-col, or --quantity-col with --price-col\)",
    ),
    "unknown --customer-col": (
        "u.csv",
        _text(HEADER + "1,2011-01-02,3\n"),
        ["--customer-col", "CustomerIDs"],
        r"--customer-col 'CustomerIDs' is not a column of .*u\.csv \(did you mean 'CustomerID'\?\)"
        r"\. Columns found: 'CustomerID', 'InvoiceDate', 'Amount'",
    ),
    "unknown --amount-col": (
        "u2.csv",
        _text(HEADER + "1,2011-01-02,3\n"),
        ["--amount-col", "total"],
        r"--amount-col 'total' is not a column",
    ),
    "headerless without --names": (
        "cdnow.txt",
        _text(" 00004 0001 19970101  2   29.33\n 00005 0001 19970118  2   29.73\n"),
        [],
        r"looks like data, not a header: give the column names with --names",
    ),
    "all dates unparseable": (
        "d.csv",
        _text(HEADER + "1,yesterday,3\n2,soon,4\n"),
        [],
        r"no usable purchases: all 2 rows are excluded or returns: 2 rows whose date is missing "
        r"or cannot be parsed \(e\.g\. '(yesterday|soon)' in 'InvoiceDate'\)",
    ),
    "all ids missing": (
        "i.csv",
        _text(HEADER + ",2011-01-02,3\n,2011-01-03,4\n"),
        [],
        r"no usable purchases: all 2 rows .*2 rows without a customer id",
    ),
    "only returns": (
        "r.csv",
        _text("CustomerID,InvoiceDate,InvoiceNo,Amount\n1,2011-01-02,C1,3\n"),
        [],
        r"no usable purchases: .*1 cancellations and returns",
    ),
    "binary garbage as .csv": (
        "g.csv",
        _bytes(bytes(range(256)) * 64),
        [],
        r"g\.csv: looks like a binary file, not text",
    ),
    "garbage without NUL bytes": (
        "g2.csv",
        _bytes(bytes(range(1, 256)) * 40),
        [],
        r"g2\.csv: does not look like text",
    ),
    "corrupt parquet": (
        "c.parquet",
        _corrupt_parquet,
        [],
        r"c\.parquet: cannot be read as PARQUET",
    ),
    "text named .parquet": (
        "t.parquet",
        _text(HEADER + "1,2011-01-02,3\n"),
        [],
        r"t\.parquet: cannot be read as PARQUET \(no Parquet magic bytes",
    ),
    "corrupt xlsx": ("c.xlsx", _corrupt_xlsx, [], r"c\.xlsx: cannot be read as an Excel workbook"),
    "text named .xlsx": (
        "t.xlsx",
        _text(HEADER + "1,2011-01-02,3\n"),
        [],
        r"t\.xlsx: cannot be read as an Excel workbook \(not an \.xlsx file\)",
    ),
    "old .xls": (
        "o.xls",
        _bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600),
        [],
        r"o\.xls: an Excel 97-2003 workbook \(\.xls\).*save it as \.xlsx or CSV",
    ),
    "zip archive": ("z.csv", _zip_of_csv, [], r"z\.csv: a zip archive, not a data file"),
    "malformed json": (
        "m.json",
        _text('[{"CustomerID": 1,'),
        [],
        r"m\.json: the JSON is not complete",
    ),
    "malformed json object": (
        "m.json",
        _text('{"CustomerID": 1, "InvoiceDate": }'),
        [],
        r"m\.json: cannot be read as JSON",
    ),
    # DuckDB reads the records before the cut of an array cut short: customers would go missing
    "json array cut after a record": (
        "t.json",
        _text('[{"CustomerID": 1, "InvoiceDate": "2011-01-02", "Amount": 3},\n'),
        [],
        r"t\.json: the JSON is not complete: it starts with '\[' but ends with ','",
    ),
    "json scalar": ("s.json", _text("42\n"), [], r"s\.json: expected a JSON array of records"),
    "json array of non-records": (
        "n.json",
        _text('[{"CustomerID": 1, "InvoiceDate": "2011-01-02", "Amount": 3}, 5]'),
        [],
        r"n\.json: expected JSON records \(objects with named fields",
    ),
    "unterminated quote": (
        "q.csv",
        _text(HEADER + '1,"2011-01-02,3\n2,2011-01-03,4\n'),
        [],
        r"q\.csv: cannot be read as CSV .*unterminated quote",
    ),
    "bad --sep": ("s.csv", _text(HEADER + "1,2011-01-02,3\n"), ["--sep", "::"], r"--sep must be"),
    "--names count": (
        "n.csv",
        _text("1,2011-01-02,3\n"),
        ["--names", "a,b"],
        r"--names gives 2 names \(a, b\) but the lines of .*n\.csv have 3 fields",
    ),
    "bad --date-format": (
        "f.csv",
        _text(HEADER + "1,2011-01-02,3\n"),
        ["--date-format", "YYYY-MM-DD"],
        r"--date-format must be a strftime format",
    ),
    "two roles, one column": (
        "t.csv",
        _text(HEADER + "1,2011-01-02,3\n"),
        ["--customer-col", "Amount", "--amount-col", "Amount"],
        r"--customer-col and --amount-col name the same column 'Amount'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_message(cli, tmp_path, case):
    name, write, args, pattern = BAD_INPUTS[case]
    path = tmp_path / name
    write(path)
    r = cli("validate", path, *args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and "internal error" not in r.output
    # decisions ("using column ...") may come first; the error is one line, the last
    lines = r.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    assert re.search(pattern, errors[0]), errors[0]


def test_unusable_data_still_prints_the_report(cli, tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(HEADER + "1,yesterday,3\n2,soon,4\n")
    r = cli("validate", p)
    assert r.exit_code == 2
    assert "- 2 rows whose date is missing or cannot be parsed: excluded" in r.stdout


@pytest.mark.parametrize(
    ("target", "pattern"),
    # validate takes what features takes (a file, a Parquet directory or glob, a URL): the reader
    # names a missing path
    [("missing.csv", r"no such file"), (".", r"is a directory")],
    ids=["file not found", "directory"],
)
def test_missing_file_and_directory(cli, tmp_path, target, pattern):
    r = cli("validate", tmp_path / target)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert re.search(pattern, r.stderr), r.stderr


def test_bad_option_value_is_a_usage_error(cli, tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text(HEADER + "1,2011-01-02,3\n")
    r = cli("validate", p, "--no-such-option")
    assert r.exit_code == 2 and "No such option" in r.stderr


@pytest.mark.parametrize("case", ["binary garbage as .csv"])
def test_real_process_prints_no_traceback(tmp_path, case):
    """The same through a real interpreter: what a user sees on the terminal."""
    name, write, args, pattern = BAD_INPUTS[case]
    path = tmp_path / name
    write(path)
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "validate", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert re.search(pattern, proc.stderr)


# --- amounts beyond what a double can total ------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "rows", "kept_total"),
    [
        # two amounts of 1e308 would total inf: both outlying, excluded
        ("cust,date,amount", ["a,2024-01-01,10", "b,2024-01-02,1e308", "c,2024-01-03,1e308"], 10),
        # a quantity x price that overflows a double, and one beyond 1e300
        (
            "cust,date,qty,price",
            ["a,2024-01-01,2,5", "b,2024-01-02,1e200,1e200", "c,2024-01-03,1,-1e301"],
            10,
        ),
        # -1e308 as a return is as outlying as a purchase
        (
            "cust,date,amount",
            ["a,2024-01-01,4", "a,2024-01-05,6", "b,2024-01-02,-1e308", "c,2024-01-03,1e301"],
            10,
        ),
    ],
    ids=["two-1e308", "quantity-x-price-overflows", "negative-and-1e301"],
)
def test_amounts_too_large_to_total_are_outlying_and_excluded(
    cli, tmp_path, header, rows, kept_total
):
    path = tmp_path / "big.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    out = _ok(cli("validate", path))
    assert "inf" not in out.replace("info", "")
    assert f"total amount {kept_total:,.2f}" in out
    assert "- 2 rows with an outlying amount too large to total" in out
    report = json.loads(_ok(cli("validate", path, "--json")))
    assert {p["code"]: p["count"] for p in report["problems"]}["huge_amount"] == 2
    assert report["purchase_amount"] == kept_total


def test_features_leave_out_amounts_too_large_to_total(cli, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("cust,date,amount\na,2024-01-01,10\na,2024-01-02,1e308\na,2024-01-03,1e308\n")
    out = tmp_path / "f.parquet"
    r = cli("features", path, "--out", out)
    assert r.exit_code == 0, r.output
    assert "2 with an outlying amount too large to total" in r.stderr
    row = pd.read_parquet(out).iloc[0]
    assert (row["n_orders"], row["lifetime_spend"]) == (1, 10.0)


def test_totals_beyond_a_double_never_print_inf():
    from toolkit.io._report import _money

    assert (_money(1234.5), _money(2e15)) == ("1,234.50", "2e+15")
    assert _money(float("inf")) == "too large to total (beyond 1.8e308)"
    assert _money(float("nan")) == "not a number"


def test_amounts_spread_over_600_orders_of_magnitude_validate(cli, tmp_path):
    # log10 amounts -300, -300, 0, 290, 295: the outlier bound 10 ** (median + 5 robust SDs)
    # is 10 ** 2150, which Python cannot make (OverflowError before the bounds were clamped)
    path = tmp_path / "spread.csv"
    amounts = ["1e-300", "1e-300", "1", "1e290", "1e295"]
    path.write_text(
        "cust,date,amount\n"
        + "".join(f"c{i},2024-01-0{i + 1},{a}\n" for i, a in enumerate(amounts))
    )
    out = _ok(cli("validate", path))
    assert "purchases:        5 rows, 5 customers, total amount 1e+295" in out
