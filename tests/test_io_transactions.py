"""Typing, row classification and the validation report (toolkit.io._transactions).

``PROBLEM_ROWS`` is a table small enough to count by hand; each row says what it is.
Purchases (amount = Quantity x UnitPrice): 3, 10, 6, 6 (the duplicate), 4 ('CA-...' is not a
cancellation), 1.5 (dated 2099), 950,000 (the outlier), 5, 8. Their log10 amounts have median
0.778 and MAD 0.176, so 5 robust SDs (5 x 1.4826 x MAD = 1.305) keep 0.30 .. 121: only 950,000
lies outside.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from toolkit.errors import DataValidationError, InputError
from toolkit.io import ColumnMapping, check_usable, read_transactions

HEADER = ["CustomerID", "InvoiceDate", "InvoiceNo", "StockCode", "Quantity", "UnitPrice"]
PROBLEM_ROWS = [
    # purchases
    ("00001", "2011-01-03 10:00:00", "500001", "A", "2", "1.50"),
    ("00001", "2011-01-10 10:00:00", "500002", "B", "1", "10.00"),
    ("00002", "2011-01-04 09:00:00", "500003", "A", "4", "1.50"),
    ("00002", "2011-01-04 09:00:00", "500003", "A", "4", "1.50"),  # exact duplicate
    ("00002", "2011-02-01 09:00:00", "CA-2016-1", "C", "1", "4.00"),  # not a cancellation
    ("00005", "2099-01-01 10:00:00", "500011", "A", "1", "1.50"),  # future date
    ("00006", "2011-01-09 10:00:00", "500013", "A", "1000", "950.00"),  # outlying amount
    ("00007", "2011-03-01 10:00:00", "500014", "D", "2", "2.50"),
    ("00007", "2011-03-02 10:00:00", "500015", "D", "1", "8.00"),
    # 7 without a customer id (only 5 examples are shown)
    ("", "2011-01-05 10:00:00", "600001", "A", "1", "1.50"),
    ("", "2011-01-05 10:01:00", "600002", "A", "1", "1.50"),
    (" ", "2011-01-05 10:02:00", "600003", "A", "1", "1.50"),
    ("NaN", "2011-01-05 10:03:00", "600004", "A", "1", "1.50"),
    ("null", "2011-01-05 10:04:00", "600005", "A", "1", "1.50"),
    ("", "2011-01-05 10:05:00", "600006", "A", "1", "1.50"),
    ("", "2011-01-05 10:06:00", "600007", "A", "1", "1.50"),
    # unparseable dates
    ("00003", "not a date", "500005", "A", "1", "1.50"),
    ("00003", "2011-02-30 10:00:00", "500006", "A", "1", "1.50"),
    # a price that is not a number
    ("00005", "2011-01-09 10:00:00", "500012", "A", "1", "abc"),
    # zero and negative prices
    ("00004", "2011-01-08 10:00:00", "500009", "A", "3", "0"),
    ("00004", "2011-01-08 10:00:00", "500010", "A", "3", "-1.0"),
    # returns: a cancellation and a negative quantity
    ("00003", "2011-01-06 10:00:00", "C500007", "A", "-1", "1.50"),
    ("00004", "2011-01-07 10:00:00", "500008", "A", "-2", "1.50"),
]
EXPECTED = {
    "rows": 23,
    "customers": 7,
    "purchase_rows": 9,
    "purchase_customers": 5,
    "purchase_amount": 950043.5,
    "return_rows": 2,
    "return_amount": 4.5,
    "cancellation_rows": 1,
    "problems": {
        "missing_id": 7,
        "bad_date": 2,
        "bad_amount": 1,
        "nonpositive_price": 2,
        "return": 2,
        "duplicate": 1,
        "future_date": 1,
        "outlier_amount": 1,
    },
}


def write_problem_table(path: Path) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(PROBLEM_ROWS)
    return path


@pytest.fixture
def problem_file(tmp_path: Path) -> Path:
    return write_problem_table(tmp_path / "problems.csv")


def test_every_problem_is_counted(problem_file):
    with read_transactions(problem_file) as tx:
        r = tx.validate()
    assert r.full
    assert {p.code: p.count for p in r.problems} == EXPECTED["problems"]
    for key in ("rows", "customers", "purchase_rows", "purchase_customers", "return_rows"):
        assert getattr(r, key) == EXPECTED[key], key
    assert r.purchase_amount == pytest.approx(EXPECTED["purchase_amount"])
    assert r.return_amount == pytest.approx(EXPECTED["return_amount"])
    assert r.cancellation_rows == r.cancellations_kept == 1
    assert r.first_date == datetime(2011, 1, 3, 10) and r.last_date == datetime(2099, 1, 1, 10)
    # examples: at most five, each showing the offending raw values
    assert all(1 <= len(p.examples) <= 5 for p in r.problems)
    assert len(r.problem("missing_id").examples) == 5
    assert {e["date"] for e in r.problem("bad_date").examples} == {
        "not a date",
        "2011-02-30 10:00:00",
    }
    assert [e["price"] for e in r.problem("bad_amount").examples] == [None]
    assert sorted(e["price"] for e in r.problem("nonpositive_price").examples) == [-1.0, 0.0]
    assert [e["amount"] for e in r.problem("outlier_amount").examples] == ["1000 x 950.00"]
    assert [e["invoice"] for e in r.problem("future_date").examples] == ["500011"]
    assert r.problem("duplicate").examples == [dict(zip(HEADER, PROBLEM_ROWS[2], strict=True))]


def test_cheap_report_skips_duplicates_and_outliers(problem_file):
    with read_transactions(problem_file) as tx:
        r = tx.report
    assert not r.full
    assert r.count("duplicate") == 0 and r.count("outlier_amount") == 0
    assert r.count("missing_id") == 7


def test_purchases_and_returns_frames(problem_file):
    with read_transactions(problem_file) as tx:
        p, r = tx.purchases, tx.returns
    assert p["customer_id"].tolist() == [
        "00001",
        "00001",
        "00002",
        "00002",
        "00002",
        "00005",
        "00006",
        "00007",
        "00007",
    ]
    assert p["amount"].tolist() == pytest.approx([3, 10, 6, 6, 4, 1.5, 950000, 5, 8])
    assert "CA-2016-1" in set(p["invoice"])
    assert r[["customer_id", "invoice", "amount", "quantity"]].values.tolist() == [
        ["00003", "C500007", 1.5, 1.0],
        ["00004", "500008", 3.0, 2.0],
    ]
    assert (p["amount"] > 0).all() and (r["amount"] > 0).all()


def test_report_as_json_and_text(problem_file):
    with read_transactions(problem_file) as tx:
        r = tx.validate()
    d = json.loads(json.dumps(r.to_dict()))
    assert {p["code"]: p["count"] for p in d["problems"]} == EXPECTED["problems"]
    assert d["rows"] == 23 and d["first_date"] == "2011-01-03 10:00:00"
    text = r.render_text()
    assert "- 7 rows without a customer id: excluded" in text
    assert "- 2 cancellations and returns" in text and "kept apart as returns" in text
    assert "- 1 exact duplicate rows" in text and "reported, kept" in text
    assert text.count("e.g.") == sum(len(p.examples) for p in r.problems)


@pytest.mark.parametrize(
    ("header", "rows", "expected_problems"),
    [
        # amount column: negative amount is a return, zero amount a (free) purchase
        (
            "cust,date,amount",
            ["1,2011-01-02,5", "1,2011-01-03,-5", "2,2011-01-04,0", "3,2011-01-05,"],
            {"return": 1, "zero_amount": 1, "bad_amount": 1},
        ),
        # decimal commas in a semicolon file
        ("cust;date;amount", ["1;2011-01-02;29,33", "2;2011-01-03;1,5"], {}),
        # lower-case cancellation marker; a 'C' invoice without digits is a purchase
        (
            "cust,date,invoice,amount",
            ["1,2011-01-02,c1001,5", "1,2011-01-03,CX-1,5", "2,2011-01-04,1002,5"],
            {"return": 1},
        ),
        # inf and nan amounts are not numbers to analyse
        (
            "cust,date,amount",
            ["1,2011-01-02,inf", "2,2011-01-03,nan", "3,2011-01-04,1"],
            {"bad_amount": 2},
        ),
    ],
    ids=["amount-column", "decimal-comma", "cancellation-marker", "inf-nan"],
)
def test_classification_rules(header, rows, expected_problems, tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    with read_transactions(p) as tx:
        r = tx.validate()
    assert {q.code: q.count for q in r.problems} == expected_problems


@pytest.mark.parametrize(
    ("values", "date_format", "expected_first", "note"),
    [
        (["19970101", "19970215"], None, "1997-01-01", "'%Y%m%d'"),
        (["19970101", "19970215"], "%Y%m%d", "1997-01-01", None),
        (["12/1/2010 8:26", "12/9/2011 12:50"], None, "2010-12-01", "'%m/%d/%Y %H:%M'"),
        (["25/12/2010", "13/01/2011"], None, "2010-12-25", "'%d/%m/%Y'"),
        (["03/04/2011", "05/06/2011"], None, "2011-03-04", "ambiguous"),
        (["03/04/2011", "05/06/2011"], "%d/%m/%Y", "2011-04-03", None),
        (["24.12.2010", "01.02.2011"], None, "2010-12-24", "'%d.%m.%Y'"),
        (["2010-12-01T08:26:00Z", "2011-12-09 12:50"], None, "2010-12-01", None),
        (["2010-12-01", "2011-12-09"], None, "2010-12-01", None),
        (["12/1/10 8:26", "12/9/11 12:50"], None, "2010-12-01", "'%m/%d/%y %H:%M'"),
        (["25/12/10", "13/01/11"], None, "2010-12-25", "'%d/%m/%y'"),
        (["01-Dec-2010", "09-Dec-2011"], None, "2010-12-01", "'%d-%b-%Y'"),
        ([19970101, 19970215], None, "1997-01-01", "'%Y%m%d'"),
    ],
)
def test_date_formats(values, date_format, expected_first, note, tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("cust,date,amount\n" + "".join(f"1,{v},1\n" for v in values))
    with read_transactions(p, date_format=date_format) as tx:
        r = tx.validate()
        assert r.count("bad_date") == 0
        assert r.first_date.strftime("%Y-%m-%d") == expected_first
        if note:
            assert any(note in n for n in tx.notes), tx.notes


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("29,33", 29.33),
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("1,234,567", 1234567.0),
        ("$12.50", 12.5),
        ("12,50 €", 12.5),
        ("£1,000.00", 1000.0),
        (" 7 ", 7.0),
        ("1e3", 1000.0),
    ],
)
def test_lenient_numbers(written, expected, tmp_path):
    p = tmp_path / "n.csv"
    p.write_text(f'cust;date;amount\n1;2011-01-02;"{written}"\n', encoding="utf-8")
    with read_transactions(p) as tx:
        assert tx.purchases["amount"].tolist() == [pytest.approx(expected)]


def test_date_format_must_be_a_strftime_format(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("cust,date,amount\n1,19970101,1\n")
    with pytest.raises(InputError, match="`date_format` must be a strftime format"):
        read_transactions(p, date_format="YYYYMMDD")


@pytest.mark.parametrize(
    ("rows", "pattern"),
    [
        (
            ["1,not a date,1", "2,never,2"],
            r"2 rows whose date is missing or cannot be parsed "
            r"\(e\.g\. '(not a date|never)' in 'date'\).*`date_format`",
        ),
        ([",2011-01-02,1", ",2011-01-03,2"], r"2 rows without a customer id"),
        (
            ["1,2011-01-02,x", "2,2011-01-03,y"],
            r"2 rows whose amount.*\(e\.g\. '[xy]' in 'amount'\)",
        ),
        (["1,2011-01-02,-1"], r"1 cancellations and returns"),
    ],
    ids=["dates", "ids", "amounts", "only-returns"],
)
def test_unusable_data_says_why(rows, pattern, tmp_path):
    p = tmp_path / "u.csv"
    p.write_text("cust,date,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataValidationError, match=pattern) as e:
        read_transactions(p)
    assert "no usable purchases" in str(e.value)
    assert (
        "`mapping.customer` 'cust', `mapping.timestamp` 'date', `mapping.amount` 'amount'"
        in str(e.value)
    )
    # without the check the report is there to print
    with read_transactions(p, require_usable=False) as tx:
        report = tx.validate()
        assert not report.usable
        with pytest.raises(DataValidationError):
            check_usable(report)


def test_mapping_options_reach_the_frames(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("who,when,n,each,ref\nA,2011-01-02,2,1.25,9\n")
    m = ColumnMapping(customer="who", timestamp="when", quantity="n", price="each", invoice="ref")
    with read_transactions(p, mapping=m) as tx:
        df = tx.purchases
        assert tx.detected == {
            "customer": "given",
            "timestamp": "given",
            "quantity": "given",
            "price": "given",
            "invoice": "given",
        }
    assert df[["customer_id", "amount", "quantity", "invoice"]].values.tolist() == [
        ["A", 2.5, 2.0, "9"]
    ]
    assert df["product"].isna().all()


def test_temp_files_are_removed_on_close(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("cust,date,amount,product\n1,2011-01-02,1,CAFÉ\n".encode("latin-1"))
    tx = read_transactions(p)
    leftovers = list(tx.raw.cleanup)
    tx.close()
    assert not any(c.exists() for c in leftovers)


def test_reading_twice_on_one_connection(tmp_path):
    from toolkit.io import connect

    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    a.write_text("cust,date,amount\n1,2011-01-02,1\n")
    pd.DataFrame({"cust": ["2"], "date": ["2011-01-03"], "amount": [2.0]}).to_parquet(b)
    con = connect()
    assert read_transactions(a, con=con).purchases["customer_id"].tolist() == ["1"]
    assert read_transactions(b, con=con).purchases["customer_id"].tolist() == ["2"]
    con.close()


# --- the real data ------------------------------------------------------------------------------


def test_cdnow_sample(shared_data: Path):
    names = ["master_id", "sample_id", "date", "quantity", "amount"]
    with read_transactions(
        shared_data / "CDNOW_sample.txt",
        names=names,
        mapping=ColumnMapping(customer="master_id"),
    ) as tx:
        r = tx.validate()
        assert (r.rows, r.customers, r.purchase_rows) == (6919, 2357, 6919)
        assert (r.first_date, r.last_date) == (datetime(1997, 1, 1), datetime(1998, 6, 30))
        assert r.count("zero_amount") == 8 and r.count("duplicate") == 21
        assert tx.raw.kind == "whitespace"
        ids = tx.purchases["customer_id"]
    assert ids.str.fullmatch(r"\d{5}").all() and "00004" in set(ids)


# a CSV log is loaded into memory, a Parquet one scanned in place (statistics, tx_lines)
@pytest.mark.parametrize("in_place", [False, True], ids=["csv-loaded", "parquet-in-place"])
@pytest.mark.parametrize(
    ("columns", "huge"),
    [
        ({"amount": [10.0, 1e308, 5.0, -1e308]}, 2),
        ({"quantity": [2.0, 1e200, 1.0, 3.0], "price": [5.0, 1e200, 5.0, 1e-3]}, 1),
        ({"amount": [10.0, 20.0, 5.0, 1.0]}, 0),  # Parquet statistics rule the test out
    ],
    ids=["amount", "quantity-x-price", "no-huge-amount"],
)
def test_amounts_too_large_to_total_never_reach_the_features(columns, huge, in_place, tmp_path):
    from toolkit.features import compute_features

    path = tmp_path / ("log.parquet" if in_place else "log.csv")
    frame = pd.DataFrame(
        {
            "customer": ["a", "a", "b", "b"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
            **columns,
        }
    )
    if in_place:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    with read_transactions(path) as tx:
        assert (tx.keys is not None) == in_place
        features = compute_features(tx, cutoff="2024-02-01").set_index("customer_id")
        report = tx.validate()
    amount = frame["amount"] if "amount" in frame else frame["quantity"] * frame["price"]
    kept = frame.assign(amount=amount)[amount.abs() <= 1e300]
    assert report.count("huge_amount") == huge
    # returns (negative) are kept apart; the spend is that of the purchases left
    spend = kept[kept["amount"] > 0].groupby("customer")["amount"].sum()
    assert features["lifetime_spend"].to_dict() == pytest.approx(spend.to_dict())


@pytest.mark.parametrize(
    ("amounts", "sign"),
    [
        (["£12.50", "£7.00", "3.00 £"], "£"),
        (["$1,234.50", "$5", "$7"], "$"),
        (["12,50 €", "7 €", "3"], "€"),  # two of three: most amounts carry it
        (["12.50", "7.00", "3.00"], None),  # plain numbers
        (["£12.50", "7.00", "3.00"], None),  # one of three is not "most"
    ],
    ids=["pound", "dollar", "euro-after", "none", "minority"],
)
def test_the_currency_sign_of_the_amounts_is_found(tmp_path, amounts, sign):
    from toolkit.io import read_transactions

    path = tmp_path / "log.csv"
    rows = [f'a,2024-01-0{i + 1},"{v}"' for i, v in enumerate(amounts)]
    path.write_text("customer,date,amount\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with read_transactions(path) as tx:
        assert tx.currency_sign() == sign
        report = tx.validate()
    assert report.currency == sign
    assert report.to_dict()["currency"] == sign
    assert ("currency:" in report.render_text()) == (sign is not None)
