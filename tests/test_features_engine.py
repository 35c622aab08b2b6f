"""The feature engine's fast paths give the same answers as the plain ones.

Large logs take other routes than the tiny CSV of ``test_features.py``: a Parquet file is scanned
in place (the ``tx_events`` view classifies each row on the fly, products are numbered from the
file's distinct values and counted with a bitmap), the first and last purchase day come from the
file's statistics, and the validation report is counted only when read. Each test here checks
one of those routes against the straightforward one on a table small enough to follow by hand.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import DataValidationError, InputError
from toolkit.features import compute_features, data_range
from toolkit.io import read_transactions
from toolkit.io._typing import CANCELLATION, _cancellation

TINY = Path(__file__).resolve().parent / "data" / "features_tiny.csv"
CUTOFF = "2024-07-01"


def as_parquet(csv: Path, out: Path) -> Path:
    """The CSV as a typed Parquet file (ids and invoices text, numbers and dates typed)."""
    df = pd.read_csv(csv, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    df.to_parquet(out, index=False)
    return out


@pytest.fixture(scope="module")
def tiny_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return as_parquet(TINY, tmp_path_factory.mktemp("engine") / "tiny.parquet")


@pytest.mark.parametrize("horizon", [None, 61])
@pytest.mark.parametrize("bitmap", [True, False], ids=["product-bitmap", "product-list"])
def test_parquet_in_place_gives_the_csv_features(tiny_parquet, monkeypatch, horizon, bitmap):
    if not bitmap:
        # a catalogue larger than the bitmap limit: products counted with lists
        monkeypatch.setattr("toolkit.features._sql.PRODUCT_BITMAP_MAX", 2)
    with read_transactions(TINY) as tx:
        want = compute_features(tx, cutoff=CUTOFF, horizon=horizon)
    with read_transactions(tiny_parquet) as tx:
        assert not tx.raw.materialised  # the view route, not a loaded table
        got = compute_features(tx, cutoff=CUTOFF, horizon=horizon)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    # A: P1, P2, P3; B: P4; C: P5, P6, P7
    assert got["n_products"].tolist() == [3, 1, 3]


def test_products_in_excluded_rows_or_missing_are_not_counted(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "customer,date,invoice,product,quantity,price\n"
        "a,2024-01-01,1,X,1,2\n"
        "a,2024-01-02,2, X ,1,2\n"  # the same product once trimmed
        "a,2024-01-03,3,,1,2\n"  # no product
        "a,2024-01-04,C4,Y,-1,2\n"  # a return
        "a,2024-01-05,5,Z,1,0\n"  # excluded: price 0
        "a,2024-02-05,6,W,1,2\n"  # after the cutoff
    )
    for source in (path, as_parquet_generic(path, tmp_path / "p.parquet")):
        with read_transactions(source) as tx:
            got = compute_features(tx, cutoff="2024-02-01")
        assert got["n_products"].tolist() == [1], source


def as_parquet_generic(csv: Path, out: Path) -> Path:
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    df["date"] = pd.to_datetime(df["date"])
    df["quantity"] = df["quantity"].astype("int64")
    df["price"] = df["price"].astype("float64")
    if "product" in df:
        df["product"] = df["product"].replace("", None)
    df.to_parquet(out, index=False)
    return out


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_data_range_skips_days_without_purchases(tmp_path, kind):
    path = tmp_path / "r.csv"
    path.write_text(
        "customer,date,invoice,quantity,price\n"
        "a,2024-01-01 10:00,C1,-1,2\n"  # first day: a return only
        "a,2024-01-03 10:00,2,1,2\n"
        "b,2024-01-05 10:00,3,1,2\n"
        ",2024-01-09 10:00,4,1,2\n"  # last day: no customer id
    )
    source = path if kind == "csv" else as_parquet_generic(path, tmp_path / "r.parquet")
    with read_transactions(source) as tx:
        first, last = data_range(tx)
    assert (first.isoformat(), last.isoformat()) == ("2024-01-03", "2024-01-05")


def test_report_columns_at_once_and_counts_on_first_use(tiny_parquet):
    with read_transactions(tiny_parquet) as tx:
        report = tx.report
        assert report.columns["customer"] == "CustomerID"
        assert "rows" not in vars(report)  # nothing counted yet
        assert report.rows == 21 and report.purchase_rows == 16
        assert report.to_dict() == tx.validate(full=False).to_dict()
        late = read_transactions(tiny_parquet).report
    # counted after the connection closed: the file is read again
    assert late.return_rows == 4 and late.cancellation_rows == 4 and not late.full


def test_log_without_purchases_is_refused_with_the_full_report(tmp_path):
    path = tmp_path / "none.csv"
    path.write_text("customer,date,amount\na,2024-01-01,-5\n,2024-01-02,3\n")
    with pytest.raises(DataValidationError, match="no usable purchases") as err:
        read_transactions(path)
    assert err.value.report.count("missing_id") == 1


def test_memory_limit_from_the_environment_is_checked(tiny_parquet, monkeypatch):
    monkeypatch.setenv("TOOLKIT_MEMORY_LIMIT", "lots")
    with read_transactions(tiny_parquet) as tx, pytest.raises(InputError, match="TOOLKIT_MEMORY"):
        compute_features(tx, cutoff=CUTOFF)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet="Cc09:/a .é", max_size=4), min_size=1, max_size=30))
def test_cancellation_ranges_are_the_regular_expression(values):
    got = duckdb.execute(
        f"SELECT v, {_cancellation('v')}, regexp_matches(v, ?) FROM (SELECT unnest(?) AS v)",
        [CANCELLATION, values],
    ).fetchall()
    assert all(fast == slow for _, fast, slow in got), got


# -- stored ids: a Parquet log is grouped by its ids as written, only the groups are normalised --

# Every row of this log needs the normalisation the CSV route applies to each line: float-written
# ids, spaces, null words, a cancellation behind a space, one invoice written two ways.
RESPELLED = (
    "customer,date,invoice,product,quantity,price\n"
    "17850.0,2024-01-01 09:00,536365,P1,2,3.5\n"
    "17850,2024-01-01 09:05,536365.0,P2,1,2\n"  # the same customer and the same order
    "17850,2024-02-03 10:00,536400,P1,1,2\n"
    " 12 ,2024-01-10 10:00,9,P3,1,4\n"  # customer '12', spaces around
    "12,2024-03-01 10:00, C77,P3,-1,4\n"  # a cancellation behind a space
    "12,2024-03-02 10:00,10,P4,3,1\n"
    "nan,2024-01-05 10:00,11,P1,1,1\n"  # no customer: excluded
    "NULL,2024-01-06 10:00,12,P1,1,1\n"
    "7,2024-01-07 10:00,,P5,1,1\n"  # no invoice: one order per timestamp
    "7,2024-01-07 10:00, ,P6,1,1\n"
    "7,2024-01-08 10:00,,P5,2,1\n"
    "7,2024-07-08 10:00,13,P5,2,1\n"  # in the label window
)
CLEAN = (
    "customer,date,invoice,product,quantity,price\n"
    "a,2024-01-01 09:00,1,P1,2,3.5\n"
    "a,2024-01-01 09:05,1,P2,1,2\n"
    "a,2024-02-03 10:00,2,P1,1,2\n"
    "b,2024-01-10 10:00,3,P3,1,4\n"
    "b,2024-03-01 10:00,C4,P3,-1,4\n"
    "b,2024-07-02 10:00,5,P4,3,1\n"
    "c,2024-01-07 10:00,,P5,1,1\n"
    "c,2024-01-08 10:00,6,P5,2,1\n"
)


# every invoice present and none starting below '!': the statistics spare the per-line tests
PLAIN = CLEAN.replace("c,2024-01-07 10:00,,P5,1,1\n", "c,2024-01-07 10:00,7,P5,1,1\n")


@pytest.mark.parametrize(
    ("text", "plain"),
    [(RESPELLED, False), (CLEAN, False), (PLAIN, True)],
    ids=["respelled", "clean", "plain-invoices"],
)
@pytest.mark.parametrize("horizon", [None, 61])
@pytest.mark.parametrize("source", ["parquet", "csv-in-place"])
def test_stored_ids_give_the_normalised_features(
    tmp_path, monkeypatch, text, plain, horizon, source
):
    path = tmp_path / "log.csv"
    path.write_text(text)
    with read_transactions(path) as tx:
        assert tx.keys is None  # loaded: every line normalised once
        want = compute_features(tx, cutoff=CUTOFF, horizon=horizon)
    if source == "parquet":
        scanned = as_parquet_generic(path, tmp_path / "log.parquet")
    else:  # a text file too large to load: scanned in place, every column text
        monkeypatch.setattr("toolkit.io._read.MATERIALISE_BELOW_BYTES", 0)
        scanned = path
    with read_transactions(scanned) as tx:
        assert tx.keys is not None  # scanned in place: the stored-id route
        assert tx.keys.invoice_plain == (plain and source == "parquet")  # statistics: Parquet
        got = compute_features(tx, cutoff=CUTOFF, horizon=horizon)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)


@pytest.mark.parametrize("sample", [100_000, 0], ids=["sample-sees-it", "flag-catches-it"])
def test_respelled_log_by_hand(tmp_path, monkeypatch, sample):
    # respelled invoices found in a sample regroup the orders from the start; when the sample
    # misses them, the flag on the orders runs the query again
    monkeypatch.setattr("toolkit.features._build.INVOICE_SAMPLE", sample)
    path = tmp_path / "log.csv"
    path.write_text(RESPELLED)
    with read_transactions(as_parquet_generic(path, tmp_path / "log.parquet")) as tx:
        got = compute_features(tx, cutoff=CUTOFF, horizon=61).set_index("customer_id")
    assert got.index.tolist() == ["12", "17850", "7"]
    # 17850: one order on 2024-01-01 (536365 twice spelled) and one on 2024-02-03
    assert got.loc["17850", ["n_orders", "frequency", "lifetime_spend"]].tolist() == [2, 1, 11.0]
    # 12: the spaced ' C77' is a cancellation of value 4, kept apart
    assert got.loc["12", "n_orders"] == 2 and got.loc["12", "return_rate"] == pytest.approx(4 / 7)
    # 7: two orders without a number at one timestamp are one order; ' ' is no number either
    assert got.loc["7", ["n_orders", "n_products", "repeat_purchase"]].tolist() == [2, 2, 1]


def test_write_features_takes_the_same_route(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(RESPELLED)
    pq_path = as_parquet_generic(path, tmp_path / "log.parquet")
    from toolkit.features import resolve_spec, write_features

    with read_transactions(path) as tx:
        want = compute_features(tx, cutoff=CUTOFF, horizon=61)
    for btyd in (False, True):
        out = tmp_path / f"f{btyd}.parquet"
        with read_transactions(pq_path) as tx:
            spec, _ = resolve_spec(tx, CUTOFF, 61)
            summary = write_features(tx, out, spec, btyd=btyd)
        got = pd.read_parquet(out)
        for col in ("first_purchase", "last_purchase"):  # a Parquet DATE reads back as dates
            got[col] = pd.to_datetime(got[col]).astype(want[col].dtype)
        assert summary["customers"] == 3
        pd.testing.assert_frame_equal(
            got[want.columns], want, check_dtype=False, check_index_type=False, rtol=1e-12
        )


def test_product_bitmap_across_its_words_counts_as_the_lists_do(tmp_path, monkeypatch):
    # 400 products: the bitmap spans four 127-bit words
    path = _many_customers(tmp_path, "date")
    with read_transactions(path) as tx:
        n_codes = tx.con.execute("SELECT count(DISTINCT product) FROM tx_lines").fetchone()[0]
        bitmap = compute_features(tx, cutoff="2023-06-01", horizon=90)
    monkeypatch.setattr("toolkit.features._sql.PRODUCT_BITMAP_MAX", 2)
    with read_transactions(path) as tx:
        lists = compute_features(tx, cutoff="2023-06-01", horizon=90)
    assert n_codes > 3 * 127
    assert bitmap["n_products"].max() > 1
    pd.testing.assert_frame_equal(bitmap, lists, check_dtype=False, rtol=1e-12)


@pytest.mark.slow
def test_a_large_log_in_date_order_fits_a_small_memory_limit(tmp_path, monkeypatch):
    """Every aggregate state of the feature query can spill: 4.7M lines in date order under a
    100MB limit (per-customer product bitmaps held as bitstrings ran out of memory here, as
    117M lines did under the default 2.5GB, one run in five)."""
    from toolkit.datasets import generate_transactions

    log = tmp_path / "log.parquet"
    generate_transactions(200_000, seed=1, out=log, customers_out=tmp_path / "c.parquet")
    by_date = tmp_path / "by_date.parquet"
    duckdb.execute(
        f"COPY (SELECT * FROM '{log}' ORDER BY invoice_date) TO '{by_date}' (FORMAT parquet)"
    )
    monkeypatch.setenv("TOOLKIT_MEMORY_LIMIT", "100MB")
    with read_transactions(by_date) as tx:
        small = compute_features(tx, cutoff="2023-10-01", horizon=90)
    monkeypatch.delenv("TOOLKIT_MEMORY_LIMIT")
    with read_transactions(by_date) as tx:
        want = compute_features(tx, cutoff="2023-10-01", horizon=90)
    assert len(small) > 150_000
    pd.testing.assert_frame_equal(small, want, check_dtype=False, rtol=1e-9)


# -- parts: a large Parquet log is computed by ranges (or hashes) of customer ids ----------------


def _many_customers(tmp_path: Path, order: str) -> Path:
    from toolkit.datasets import generate_transactions

    tx, _ = generate_transactions(300, seed=3)
    tx = tx.sort_values(["customer_id", "invoice_date"] if order == "customer" else "invoice_date")
    out = tmp_path / f"{order}.parquet"
    tx.to_parquet(out, index=False, row_group_size=500)
    return out


def test_parts_give_the_whole_log_features(tmp_path, monkeypatch):
    from toolkit.features._build import partitions

    path = _many_customers(tmp_path, "customer")
    with read_transactions(path) as tx:
        assert partitions(tx) == [""]
        want = compute_features(tx, cutoff="2023-06-01", horizon=90)
    monkeypatch.setattr("toolkit.features._build.PARTITION_ROWS", 1500)
    with read_transactions(path) as tx:
        parts = partitions(tx)
        assert len(parts) > 2
        got = compute_features(tx, cutoff="2023-06-01", horizon=90)
        # every customer in exactly one part
        count = "SELECT count(DISTINCT customer_id) FROM tx_lines WHERE "
        per_part = [tx.con.execute(count + w).fetchone()[0] for w in parts]
        everyone = tx.con.execute(count + "true").fetchone()[0]
    assert sum(per_part) == everyone == 300 and len(got) == len(want) > 200
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)


def test_a_log_in_date_order_runs_in_one_pass(tmp_path, monkeypatch):
    from toolkit.features._build import partitions

    monkeypatch.setattr("toolkit.features._build.PARTITION_ROWS", 1500)
    with read_transactions(_many_customers(tmp_path, "date")) as tx:
        assert partitions(tx) == [""]  # every row group holds every id range


@pytest.mark.parametrize("id_type", ["float", "int"])
def test_typed_customer_ids_and_a_customer_table_on_the_stored_id_route(tmp_path, id_type):
    # Online Retail's CustomerID written by pandas is a float column with NaN for missing ids
    lines = pd.DataFrame(
        {
            "customer": [17850.0, 17850.0, 13047.0, None, 12.0],
            "date": pd.to_datetime(
                ["2024-01-02", "2024-02-10", "2024-01-05", "2024-01-06", "2024-03-01"]
            ),
            "invoice": ["1", "2", "3", "4", "5"],
            "amount": [10.0, 20.0, 5.0, 7.0, 3.0],
        }
    )
    if id_type == "int":
        lines = lines.dropna().astype({"customer": "int64"})
    path = tmp_path / "typed.parquet"
    lines.to_parquet(path, index=False)
    csv = tmp_path / "typed.csv"
    lines.assign(customer=lines["customer"].astype("Int64")).to_csv(csv, index=False)
    customers = pd.DataFrame({"customer_id": ["17850", "12"], "segment": ["gold", "new"]})
    with read_transactions(csv) as tx:
        want = compute_features(tx, cutoff="2024-04-01", customers=customers)
    with read_transactions(path) as tx:
        assert tx.keys is not None
        got = compute_features(tx, cutoff="2024-04-01", customers=customers)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-12)
    assert got["customer_id"].tolist() == ["12", "13047", "17850"]
    assert got["segment"].fillna("-").tolist() == ["new", "-", "gold"]
