"""Reading files (toolkit.io._read): formats, encodings, separators, CSV quirks, ids as written.

The format-parity test writes one slice of Online Retail (plus hand-added awkward rows) in every
supported format and asserts that each reads to the same validated frames and report counts.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.errors import InputError
from toolkit.io import (
    ColumnMapping,
    connect,
    read_transactions,
    sniff_encoding,
    sniff_separator,
)
from toolkit.io._read import open_raw

HEADER = "CustomerID,InvoiceDate,Amount"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _purchases(path: Path, **kw: object) -> pd.DataFrame:
    with read_transactions(path, **kw) as tx:  # type: ignore[arg-type]
        return tx.purchases


# --- format parity on a slice of Online Retail ----------------------------------------------------

# Awkward rows added to the slice: a missing id, a cancellation, a zero price, non-ASCII text that
# cp1252 and latin-1 can encode ('€' only in cp1252: latin-1 gets its own copy without it).
EXTRA_ROWS = [
    ("999001", "X1", "CAFÉ AU LAIT MUG", 2, "2011-01-05 10:00:00", 3.5, None, "France"),
    ("C999002", "X2", "CRÈME BRÛLÉE SET €", -1, "2011-01-05 11:00:00", 4.25, 12345.0, "France"),
    ("999003", "X3", "FREE GIFT", 1, "2011-01-05 12:00:00", 0.0, 12345.0, "France"),
    ("999004", "X4", "NAÏVE «DOLL»", 3, "2011-01-06 12:00:00", 1.25, 12345.0, "Deutschland"),
    ("999005", "X5", 'PLAIN, "QUOTED" TEXT', 1, "2011-01-06 13:00:00", 2.0, 12346.0, "UK"),
]
COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
RENAMED = {
    "CustomerID": "Cust No",
    "InvoiceDate": "Order Date",
    "Quantity": "Qty",
    "UnitPrice": "Price",
    "InvoiceNo": "Order No",
    "StockCode": "Item Code",
}


@pytest.fixture(scope="module")
def retail_slice(shared_data: Path) -> pd.DataFrame:
    """The first 3,000 lines of Online Retail plus :data:`EXTRA_ROWS`, as pandas reads them."""
    with gzip.open(shared_data / "online_retail.csv.gz", "rt", encoding="utf-8") as fh:
        head = "".join(next(fh) for _ in range(3001))
    df = pd.read_csv(io.StringIO(head), dtype={"InvoiceNo": str, "StockCode": str})
    extra = pd.DataFrame(EXTRA_ROWS, columns=COLUMNS)
    return pd.concat([df, extra], ignore_index=True)


def _no_euro(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(Description=df["Description"].str.replace("€", "EUR", regex=False))


# name -> (file name, writer, read options)
FORMATS = {
    "csv": ("or.csv", lambda df, p: df.to_csv(p, index=False), {}),
    "csv.gz": ("or.csv.gz", lambda df, p: df.to_csv(p, index=False), {}),
    "parquet": ("or.parquet", lambda df, p: df.to_parquet(p, index=False), {}),
    "ndjson": (
        "or.ndjson",
        lambda df, p: df.to_json(p, orient="records", lines=True, force_ascii=False),
        {},
    ),
    "json-records": ("or.json", lambda df, p: df.to_json(p, orient="records"), {}),
    "xlsx": ("or.xlsx", lambda df, p: df.to_excel(p, index=False), {}),
    "semicolon-renamed": (
        "or_semicolon.csv",
        lambda df, p: df.rename(columns=RENAMED).to_csv(p, index=False, sep=";", decimal=","),
        {},
    ),
    "semicolon-renamed-options": (
        "or_custom.csv",
        lambda df, p: df.rename(columns={"CustomerID": "Kunde", "InvoiceDate": "Datum"}).to_csv(
            p, index=False, sep=";"
        ),
        {"mapping": ColumnMapping(customer="Kunde", timestamp="Datum")},
    ),
    "tab": ("or.tsv", lambda df, p: df.to_csv(p, index=False, sep="\t"), {}),
    "tab-option": ("or_tab.txt", lambda df, p: df.to_csv(p, index=False, sep="\t"), {"sep": "tab"}),
    "pipe": ("or_pipe.txt", lambda df, p: df.to_csv(p, index=False, sep="|"), {}),
    "latin-1": (
        "or_latin1.csv",
        lambda df, p: _no_euro(df).to_csv(p, index=False, encoding="latin-1"),
        {},
    ),
    "cp1252": ("or_cp1252.csv", lambda df, p: df.to_csv(p, index=False, encoding="cp1252"), {}),
    "utf-8-bom": ("or_bom.csv", lambda df, p: df.to_csv(p, index=False, encoding="utf-8-sig"), {}),
    "utf-16": ("or_utf16.csv", lambda df, p: df.to_csv(p, index=False, encoding="utf-16"), {}),
    "crlf": ("or_crlf.csv", lambda df, p: df.to_csv(p, index=False, lineterminator="\r\n"), {}),
    "quote-all": (
        "or_quoted.csv",
        lambda df, p: df.to_csv(p, index=False, quoting=1),  # csv.QUOTE_ALL
        {},
    ),
}


@pytest.fixture(scope="module")
def reference(retail_slice: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    p = tmp_path_factory.mktemp("ref") / "ref.csv"
    retail_slice.to_csv(p, index=False)
    with read_transactions(p) as tx:
        return tx.purchases, tx.returns, _counts(tx.validate())


def _counts(report) -> dict[str, object]:
    return {
        "rows": report.rows,
        "customers": report.customers,
        "purchase_rows": report.purchase_rows,
        "purchase_customers": report.purchase_customers,
        "return_rows": report.return_rows,
        "cancellation_rows": report.cancellation_rows,
        "first_date": report.first_date,
        "last_date": report.last_date,
        "purchase_amount": round(report.purchase_amount, 6),
        "return_amount": round(report.return_amount, 6),
        "problems": {p.code: p.count for p in report.problems},
    }


def test_reference_slice_counts(reference):
    purchases, returns, counts = reference
    assert counts["rows"] == 3000 + len(EXTRA_ROWS)
    problems = counts["problems"]
    # one hand-added row of each kind on top of the slice's own
    assert problems["missing_id"] >= 1 and problems["nonpositive_price"] >= 1
    assert problems["return"] == counts["return_rows"] == len(returns) > 0
    assert len(purchases) == counts["purchase_rows"]
    assert list(purchases.columns) == [
        "customer_id",
        "timestamp",
        "amount",
        "quantity",
        "invoice",
        "product",
    ]
    assert str(purchases["customer_id"].dtype) == "string"
    assert purchases["amount"].dtype == "float64" and (purchases["amount"] > 0).all()
    assert pd.api.types.is_datetime64_any_dtype(purchases["timestamp"])
    # float-formatted ids lose '.0'; the cancellation is a return with a positive amount
    assert (
        "17850" in set(purchases["customer_id"])
        and not purchases["customer_id"].str.contains(r"\.").any()
    )
    c = returns[returns["invoice"] == "C999002"]
    assert c["amount"].tolist() == [4.25] and c["customer_id"].tolist() == ["12345"]


@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
def test_every_format_reads_to_identical_frames(fmt, retail_slice, reference, tmp_path):
    name, write, options = FORMATS[fmt]
    path = tmp_path / name
    df = _no_euro(retail_slice) if fmt == "latin-1" else retail_slice
    write(df, path)
    with read_transactions(path, **options) as tx:
        report = tx.validate()
        purchases, returns = tx.purchases, tx.returns
    ref_purchases, ref_returns, ref_counts = reference
    pd.testing.assert_frame_equal(purchases, ref_purchases)
    pd.testing.assert_frame_equal(returns, ref_returns)
    assert _counts(report) == ref_counts
    if fmt == "semicolon-renamed":  # found by spelling, not by option
        assert report.columns == {
            "customer": "Cust No",
            "timestamp": "Order Date",
            "quantity": "Qty",
            "price": "Price",
            "invoice": "Order No",
            "product": "Item Code",
        }
        assert set(report.detected.values()) == {"detected"}
    if fmt in ("latin-1", "cp1252"):
        assert any("not UTF-8" in n for n in report.notes)


def test_non_ascii_text_survives_every_encoding(tmp_path):
    text = "CustomerID,InvoiceDate,Amount,Product\n1,2011-01-02,3.5,CAFÉ €\n"
    seen = set()
    for enc in ("utf-8", "utf-8-sig", "cp1252", "utf-16"):
        p = _write(tmp_path / f"{enc}.csv", text, enc)
        with read_transactions(p) as tx:
            seen.add(tx.purchases["product"].tolist()[0])
    latin = _write(tmp_path / "latin.csv", text.replace(" €", "É"), "latin-1")
    with read_transactions(latin) as tx:
        assert tx.purchases["product"].tolist() == ["CAFÉÉ"]
    assert seen == {"CAFÉ €"}


def _megabyte_of_rows(n: int = 12_000) -> str:
    """More than the sniffed first megabyte, in few (long) rows."""
    filler = "plain " * 15
    text = "".join(f"{i},2011-01-02,1.5,{filler}\n" for i in range(n))
    assert len(text) > (1 << 20)
    return text


LATE_TAILS = {
    # what comes after the first (sniffed) megabyte -> the product values to find
    "cp1252 byte": ("12000,2011-01-03,2.5,CAFÉ €\n", "CAFÉ €"),
    # a quoted line break and a short line: null padding needs a serial read then
    "quoted line break": (
        '12000,2011-01-03,2.5,"TWO\nLINES"\n12001,2011-01-03,2.5\n',
        "TWO\nLINES",
    ),
    "both": ('12000,2011-01-03,2.5,"CAFÉ\nTWO"\n12001,2011-01-03,2.5\n', "CAFÉ\nTWO"),
}


@pytest.mark.parametrize("case", list(LATE_TAILS))
def test_problems_past_the_sniffed_megabyte(case, tmp_path):
    """The first megabyte is plain ASCII without quotes; the problem comes later: DuckDB meets
    it while loading, and the reader changes its plan and reads again."""
    tail, product = LATE_TAILS[case]
    body = "CustomerID,InvoiceDate,Amount,Product\n" + _megabyte_of_rows()
    p = tmp_path / "late.csv"
    p.write_bytes(body.encode() + tail.encode("cp1252"))
    with read_transactions(p) as tx:
        products = set(tx.purchases["product"])
        assert tx.report.rows == 12_000 + tail.count(",2011-")
        assert any("cp1252" in n for n in tx.notes) == ("É" in tail)
    assert product in products


# --- ids stay as written ----------------------------------------------------------------------

IDS = ["00004", "0001", "17850", "A-7", "007"]


def _id_files(tmp_path: Path) -> dict[str, Path]:
    df = pd.DataFrame(
        {
            "CustomerID": IDS,
            "InvoiceDate": ["2011-01-02 10:00:00"] * len(IDS),
            "Amount": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    files = {
        "csv": tmp_path / "ids.csv",
        "json": tmp_path / "ids.json",
        "ndjson": tmp_path / "ids.ndjson",
        "xlsx": tmp_path / "ids.xlsx",
        "parquet": tmp_path / "ids.parquet",
    }
    df.to_csv(files["csv"], index=False)
    df.to_json(files["json"], orient="records")  # ids as JSON strings
    df.to_json(files["ndjson"], orient="records", lines=True)
    df.to_excel(files["xlsx"], index=False)  # text cells
    df.to_parquet(files["parquet"], index=False)
    return files


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "xlsx", "parquet"])
def test_zero_padded_ids_stay_as_written(fmt, tmp_path):
    path = _id_files(tmp_path)[fmt]
    assert sorted(_purchases(path)["customer_id"]) == sorted(IDS)


@pytest.mark.parametrize(
    ("fmt", "writer"),
    [
        ("csv", lambda df, p: df.to_csv(p, index=False)),
        ("parquet", lambda df, p: df.to_parquet(p, index=False)),
        ("json", lambda df, p: df.to_json(p, orient="records")),
        ("xlsx", lambda df, p: df.to_excel(p, index=False)),
    ],
)
def test_float_ids_lose_their_zero_decimals(fmt, writer, tmp_path):
    df = pd.DataFrame(
        {
            "CustomerID": [17850.0, 13047.0, float("nan"), 12.5],
            "InvoiceDate": ["2011-01-02 10:00:00"] * 4,
            "Amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    path = tmp_path / f"f.{fmt}"
    writer(df, path)
    with read_transactions(path) as tx:
        ids = sorted(tx.purchases["customer_id"])
        assert tx.report.count("missing_id") == 1
    assert ids == ["12.5", "13047", "17850"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("17850.0", "17850"),
        ("17850,0", "17850"),
        ("00004", "00004"),
        ("00004.00", "00004"),
        (" 42 ", "42"),
        ("4.20", "4.20"),
        ("-3.0", "-3"),
    ],
)
def test_text_id_cleaning(written, expected, tmp_path):
    p = _write(tmp_path / "t.csv", f'{HEADER}\n"{written}",2011-01-02,1.5\n')
    assert _purchases(p)["customer_id"].tolist() == [expected]


# --- separators, header-less files, whitespace ------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        (" 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n", "whitespace"),
        ("a b c\n1 2 3\n", "whitespace"),
        ('a,b\n"x; y; z",2\n"p; q; r",3\n', ","),  # separators inside quotes do not count
        ("Sales report\na;b;c\n1;2;3\n", ";"),  # a title line above the header
        ("a,b,c\n1,2,3\n4,5,", ","),  # the last line of a sample may be cut
    ],
    ids=["comma", "semicolon", "tab", "pipe", "cdnow", "spaces", "quoted", "title", "cut"],
)
def test_sniff_separator(sample, expected):
    assert sniff_separator(sample) == expected


@pytest.mark.parametrize(
    ("data", "complete", "expected"),
    [
        ("café €".encode(), True, "utf-8"),
        ("\ufeffcafé".encode(), True, "utf-8"),
        ("café €".encode("cp1252"), True, "cp1252"),
        ("café".encode("latin-1"), True, "cp1252"),  # é last: a whole file, not a cut
        (b"caf\xe9 \x81", True, "latin-1"),  # 0x81 is undefined in cp1252
        ("café".encode("utf-16"), True, "utf-16"),
        ("abé".encode()[:3], False, "utf-8"),  # a sample cut inside a character
    ],
)
def test_sniff_encoding(data, complete, expected):
    assert sniff_encoding(data, complete=complete) == expected


CDNOW_LINES = (
    " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n"
    " 00021 0002 19970101  3   63.34\r\n 00050 0003 19970102  1   11.77\r\n"
)
CDNOW_NAMES = ["master_id", "sample_id", "date", "quantity", "amount"]


@pytest.mark.parametrize("sep", [None, "whitespace", "space", " "])
def test_whitespace_file_with_names(sep, tmp_path):
    p = _write(tmp_path / "cdnow.txt", CDNOW_LINES)
    df = _purchases(p, names=CDNOW_NAMES, sep=sep, mapping=ColumnMapping(customer="master_id"))
    assert df["customer_id"].tolist() == ["00004", "00004", "00021", "00050"]
    assert df["amount"].tolist() == [29.33, 29.73, 63.34, 11.77]
    assert df["timestamp"].dt.strftime("%Y-%m-%d").tolist() == [
        "1997-01-01",
        "1997-01-18",
        "1997-01-01",
        "1997-01-02",
    ]


def test_whitespace_file_with_header(tmp_path):
    p = _write(tmp_path / "w.txt", "CustomerID   InvoiceDate  Amount\n007  2011-01-02   3.5\n")
    assert _purchases(p)["customer_id"].tolist() == ["007"]


@pytest.mark.parametrize(
    ("sep_char", "option"), [(";", ";"), ("\t", "tab"), ("\t", "\\t"), ("|", "pipe"), (",", ",")]
)
def test_sep_option(sep_char, option, tmp_path):
    p = _write(
        tmp_path / "s.txt",
        sep_char.join(["CustomerID", "InvoiceDate", "Amount"])
        + "\n"
        + sep_char.join(["00042", "2011-01-02", "3.5"])
        + "\n",
    )
    df = _purchases(p, sep=option)
    assert df["customer_id"].tolist() == ["00042"] and df["amount"].tolist() == [3.5]


@pytest.mark.parametrize("sep", [";", "tab"])
def test_headerless_delimited_file_with_names(sep, tmp_path):
    char = ";" if sep == ";" else "\t"
    p = _write(
        tmp_path / "h.txt", f"00004{char}19970101{char}29,33\n00005{char}19970102{char}1,5\n"
    )
    df = _purchases(p, sep=sep, names=["cust", "date", "amount"])
    assert df["customer_id"].tolist() == ["00004", "00005"]
    assert df["amount"].tolist() == [29.33, 1.5]


def test_names_on_parquet_rename_columns(tmp_path):
    p = tmp_path / "n.parquet"
    pd.DataFrame({"a": ["1"], "b": ["2011-01-02"], "c": [3.0]}).to_parquet(p)
    df = _purchases(p, names=["customer_id", "date", "amount"])
    assert df["customer_id"].tolist() == ["1"] and df["amount"].tolist() == [3.0]


@pytest.mark.parametrize(
    ("name", "content", "names", "sep"),
    [
        ("n.csv", "1,2011-01-02,3\n", ["a", "b"], None),
        ("n.txt", " 1 2011-01-02 3\n 2 2011-01-03 4\n", ["a", "b", "c", "d"], None),
        ("n.tsv", "1\t2011-01-02\t3\n", ["a", "b", "c", "d"], "tab"),
    ],
)
def test_names_count_must_match(name, content, names, sep, tmp_path):
    p = _write(tmp_path / name, content)
    with pytest.raises(InputError, match=r"`names` gives \d+ names"):
        read_transactions(p, names=names, sep=sep)


# --- CSV quirks the DuckDB reader needs help with ---------------------------------------------


def test_quoted_fields_with_separators_quotes_and_line_breaks(tmp_path):
    p = _write(
        tmp_path / "q.csv",
        "CustomerID,InvoiceDate,Amount,Product\n"
        '1,2011-01-02,3.5,"MUG, ""BIG"""\n'
        '2,2011-01-03,4.5,"TWO\nLINES"\n'
        "3,2011-01-04,5.5,PLAIN\n"
        "4,2011-01-05,6.5\n",  # a short line: padded, still a purchase
    )
    df = _purchases(p)
    assert df["product"].tolist()[:3] == ['MUG, "BIG"', "TWO\nLINES", "PLAIN"]
    assert df["product"].isna().tolist() == [False, False, False, True]
    assert df["amount"].tolist() == [3.5, 4.5, 5.5, 6.5]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(newline, tmp_path):
    p = _write(
        tmp_path / "nl.csv", newline.join([HEADER, "1,2011-01-02,3.5", "2,2011-01-03,4.5", ""])
    )
    df = _purchases(p)
    assert df["customer_id"].tolist() == ["1", "2"] and df["amount"].tolist() == [3.5, 4.5]


def test_bom_is_not_part_of_the_first_column_name(tmp_path):
    p = _write(tmp_path / "bom.csv", "\ufeff" + HEADER + "\n1,2011-01-02,3.5\n")
    con = connect()
    raw = open_raw(con, p)
    assert raw.columns == ["CustomerID", "InvoiceDate", "Amount"]
    raw.close()
    # and an option names the column without the BOM
    df = _purchases(p, mapping=ColumnMapping(customer="CustomerID"))
    assert df["customer_id"].tolist() == ["1"]


def test_long_lines_are_noted(tmp_path):
    p = _write(
        tmp_path / "long.csv",
        HEADER + "\n1,2011-01-02,3.5\n2,2011-01-03,4.5,EXTRA\n3,2011-01-04,5.5\n",
    )
    with read_transactions(p) as tx:
        assert tx.report.purchase_rows == 3
        assert any("more fields than the header" in n and "1 row" in n for n in tx.notes)


def test_title_lines_above_the_header_are_skipped(tmp_path):
    p = _write(tmp_path / "title.csv", "Sales export 2011\n\n" + HEADER + "\n1,2011-01-02,3.5\n")
    with read_transactions(p) as tx:
        assert tx.purchases["amount"].tolist() == [3.5]
        assert any("skipped 2 line(s)" in n for n in tx.notes)


def test_blank_lines_and_trailing_separators(tmp_path):
    p = _write(
        tmp_path / "blank.csv",
        "CustomerID,InvoiceDate,Amount,\n1,2011-01-02,3.5,\n\n2,2011-01-03,4.5,\n\n",
    )
    with read_transactions(p) as tx:
        assert tx.report.rows == 2 and tx.report.problems == []


def test_gzip_is_recognised_by_content(tmp_path):
    p = tmp_path / "no_suffix.csv"
    p.write_bytes(gzip.compress((HEADER + "\n1,2011-01-02,3.5\n").encode()))
    assert _purchases(p)["amount"].tolist() == [3.5]
    q = tmp_path / "plain.csv.gz"  # named .gz but plain text
    q.write_text(HEADER + "\n1,2011-01-02,3.5\n")
    assert _purchases(q)["amount"].tolist() == [3.5]


def test_parquet_is_recognised_by_content(tmp_path):
    p = tmp_path / "data.csv"
    pd.DataFrame({"CustomerID": ["1"], "InvoiceDate": ["2011-01-02"], "Amount": [3.5]}).to_parquet(
        p
    )
    assert _purchases(p)["amount"].tolist() == [3.5]


# --- JSON shapes ----------------------------------------------------------------------------


RECORDS = [
    {"customer_id": "00001", "order_date": "2011-01-02 10:00:00", "amount": 3.5},
    {"customer_id": 2, "order_date": "2011-01-03 10:00:00", "amount": 4.5},  # mixed types
]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.json", json.dumps(RECORDS)),
        ("b.ndjson", "\n".join(json.dumps(r) for r in RECORDS)),
        ("c.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n"),
        ("d.json", json.dumps({"data": RECORDS})),
    ],
    ids=["array", "ndjson", "jsonl", "wrapped"],
)
def test_json_shapes(name, text, tmp_path):
    p = _write(tmp_path / name, text)
    df = _purchases(p)
    assert df["customer_id"].tolist() == ["00001", "2"]
    assert df["amount"].tolist() == [3.5, 4.5]


def test_zoned_parquet_timestamps_are_utc(tmp_path):
    p = tmp_path / "tz.parquet"
    pd.DataFrame(
        {
            "CustomerID": ["1"],
            "InvoiceDate": pd.to_datetime(["2011-01-02 10:00"]).tz_localize("Europe/Paris"),
            "Amount": [3.5],
        }
    ).to_parquet(p)
    with read_transactions(p) as tx:
        assert tx.purchases["timestamp"].tolist() == [pd.Timestamp("2011-01-02 09:00")]
        tx.validate()  # examples of duplicates etc. fetch raw rows: no time-zone objects


@pytest.mark.parametrize(
    ("dtype", "values"),
    [("int64", [19970101, 19970102]), ("float64", [19970101.0, float("nan")])],
)
def test_numeric_yyyymmdd_dates(dtype, values, tmp_path):
    p = tmp_path / "d.parquet"
    pd.DataFrame(
        {"CustomerID": ["1", "2"], "date": pd.Series(values, dtype=dtype), "Amount": [1.0, 2.0]}
    ).to_parquet(p)
    with read_transactions(p) as tx:
        assert tx.purchases["timestamp"].tolist()[0] == pd.Timestamp("1997-01-01")
        assert tx.report.count("bad_date") == (1 if dtype == "float64" else 0)


def test_excel_typed_dates_and_numbers(tmp_path):
    p = tmp_path / "x.xlsx"
    pd.DataFrame(
        {
            "CustomerID": ["00004", "00005"],
            "InvoiceDate": pd.to_datetime(["2011-01-02 10:30", "2011-02-03 00:00"]),
            "Quantity": [2, 3],
            "UnitPrice": [1.25, 0.1],
        }
    ).to_excel(p, index=False)
    df = _purchases(p)
    assert df["timestamp"].tolist() == [
        pd.Timestamp("2011-01-02 10:30"),
        pd.Timestamp("2011-02-03"),
    ]
    assert df["amount"].tolist() == [2.5, 3 * 0.1]


def test_view_and_table_read_the_same(tmp_path):
    p = _write(tmp_path / "v.csv", HEADER + "\n1,2011-01-02,3.5\n2,2011-01-03,4.5\n")
    con = connect()
    view = open_raw(con, p, materialise=False)
    rows_view = con.execute("SELECT * FROM raw ORDER BY 1").fetchall()
    table = open_raw(con, p, materialise=True)  # replaces the view on the same connection
    rows_table = con.execute("SELECT * FROM raw ORDER BY 1").fetchall()
    assert not view.materialised and table.materialised
    assert rows_view == rows_table == [("1", "2011-01-02", "3.5"), ("2", "2011-01-03", "4.5")]
    con.close()


# --- property: ids written as text come back exactly as written --------------------------------

MISSING_WORDS = {"nan", "null", "none", "na", "n/a"}  # read as a missing id, by rule


@given(
    ids=st.lists(
        st.from_regex(r"\A[0-9A-Za-z][0-9A-Za-z_-]{0,11}\Z").filter(
            lambda s: s.lower() not in MISSING_WORDS
        ),
        min_size=1,
        max_size=20,
        unique=True,
    ),
    fmt=st.sampled_from(["csv", "json", "tsv"]),
)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_text_ids_round_trip(ids, fmt, tmp_path_factory):
    d = tmp_path_factory.mktemp("ids")
    df = pd.DataFrame({"CustomerID": ids, "InvoiceDate": "2011-01-02", "Amount": 1.0})
    path = d / f"ids.{fmt}"
    if fmt == "json":
        df.to_json(path, orient="records")
    else:
        df.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")
    assert sorted(_purchases(path)["customer_id"]) == sorted(ids)
