"""``toolkit features``: output formats, errors (exit 2, nothing written), customer tables, and
the acceptance checks on the real CDNOW and Online Retail data (issue 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.features import compute_features
from toolkit.io import read_transactions

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "features_tiny.csv"  # described in test_features.py
CUTOFF = "2024-07-01"


def read_output(path: Path) -> pd.DataFrame:
    """A written feature file back as a frame with comparable types."""
    if path.suffix == ".csv":
        df = pd.read_csv(path, dtype={"customer_id": str})
    elif path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.DataFrame(json.loads(path.read_text()))
    df["customer_id"] = df["customer_id"].astype(str)
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col].astype(str))
    for col in df.columns.drop(["customer_id", "first_purchase", "last_purchase"]):
        df[col] = df[col].astype(float)
    return df


def leftovers(directory: Path) -> list[str]:
    """Temporary files a write left behind (write_atomic names them .NAME.*.tmp)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    with read_transactions(TINY) as tx:
        df = compute_features(tx, cutoff=CUTOFF, horizon=60, btyd=True)
    df["customer_id"] = df["customer_id"].astype(str)
    for col in df.columns.drop(["customer_id", "first_purchase", "last_purchase"]):
        df[col] = df[col].astype(float)
    return df


def test_output_formats_are_written_and_equal(cli, tmp_path, expected):
    frames = {}
    for ext in (".csv", ".parquet", ".json"):
        out = tmp_path / f"features{ext}"
        result = cli("features", TINY, "--out", out, "--cutoff", CUTOFF, "--horizon", 60)
        assert result.exit_code == 0, result.output
        assert "wrote features of 3 customers as of 2024-07-01" in result.stderr
        assert "33.3% bought again" in result.stderr  # A of A, B, C
        frames[ext] = read_output(out)
    for ext, df in frames.items():
        pd.testing.assert_frame_equal(df, expected, check_exact=False, rtol=1e-12, obj=ext)
    assert leftovers(tmp_path) == []


def test_parquet_keeps_integer_and_date_types(cli, tmp_path):
    out = tmp_path / "f.parquet"
    assert cli("features", TINY, "--out", out, "--cutoff", CUTOFF).exit_code == 0
    df = pd.read_parquet(out)
    assert pd.api.types.is_integer_dtype(df["frequency"])
    assert pd.api.types.is_integer_dtype(df["recency_days"])
    assert pd.api.types.is_string_dtype(df["customer_id"])
    assert str(df["first_purchase"].iloc[0]) == "2024-01-03"


@pytest.mark.parametrize("name", ["f.xlsx", "f.txt", "features"])
def test_unsupported_extension_is_refused_before_any_work(cli, tmp_path, name):
    # the input is not even a transaction log: the extension must be what is reported
    bad_input = tmp_path / "garbage.csv"
    bad_input.write_text("nothing,useful\n1,2\n")
    out = tmp_path / name
    result = cli("features", bad_input, "--out", out)
    assert result.exit_code == 2
    assert "extension" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


# more bad values of each option: test_features.py::test_bad_options_are_input_errors
FAILING = {
    "cutoff-before-first-purchase": (["--cutoff", "2023-11-30"], "first purchase"),
    "cutoff-not-a-date": (["--cutoff", "tomorrow"], "--cutoff"),
    "cutoff-trailing-text": (["--cutoff", "2024-07-01xyz"], "--cutoff"),
    "horizon-zero": (["--cutoff", CUTOFF, "--horizon", "0"], "--horizon"),
    "time-unit": (["--time-unit", "months"], "--time-unit"),
}


@pytest.mark.parametrize(("args", "message"), FAILING.values(), ids=FAILING.keys())
def test_bad_options_exit_2_and_write_nothing(cli, tmp_path, args, message):
    out = tmp_path / "features.csv"
    result = cli("features", TINY, "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cutoff", "2023-11-30"], "first purchase"),
        (["--cutoff", "tomorrow"], "--cutoff"),
        (
            ["--cutoff", CUTOFF, "--customers-table", DATA / "features_customers_dup.csv"],
            "duplicate",
        ),
    ],
    ids=["cutoff-before-first", "bad-cutoff", "duplicate-customer-ids"],
)
def test_existing_output_untouched_on_failure(cli, tmp_path, args, message):
    out = tmp_path / "features.parquet"
    out.write_bytes(b"the user's previous result")
    result = cli("features", TINY, "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert out.read_bytes() == b"the user's previous result"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("horizon", "warns"), [(154, False), (155, True)])
def test_label_window_past_the_end_of_data_warns(cli, tmp_path, horizon, warns):
    # the last purchase is on 2024-12-01: [07-01, 07-01 + 154 days) ends on 12-02
    out = tmp_path / "f.csv"
    result = cli("features", TINY, "--out", out, "--cutoff", CUTOFF, "--horizon", horizon)
    assert result.exit_code == 0, result.output
    assert ("warning: the label window" in result.stderr) is warns
    assert out.exists()


def test_default_cutoff_is_announced(cli, tmp_path):
    result = cli("features", TINY, "--out", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    assert "cutoff: 2024-12-02 (the day after the last purchase)" in result.stderr


def test_log_with_unusual_date_column_name_is_not_passed_through(cli, tmp_path):
    # no known date spelling, but customers repeat: a log; it must not be copied as a table
    log = tmp_path / "log.csv"
    log.write_text("customer_id,day,amount\na,2024-01-01,3\na,2024-01-05,4\n")
    out = tmp_path / "f.csv"
    result = cli("features", log, "--out", out)
    assert result.exit_code == 2, result.output
    assert "--date-col" in result.stderr
    assert not out.exists()
    result = cli("features", log, "--out", out, "--date-col", "day", "--cutoff", "2024-01-10")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["frequency"].tolist() == [1]


# --- customer tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_customers_table_joined(cli, tmp_path, ext):
    table = tmp_path / "customers.csv"
    # B is missing, Z and Q never bought
    table.write_text("CustomerID,Gender,Age\nA,m,45\nC,f,31\nZ,f,27\nQ,m,50\n")
    out = tmp_path / f"f{ext}"
    result = cli("features", TINY, "--out", out, "--cutoff", CUTOFF, "--customers-table", table)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out) if ext == ".csv" else pd.read_parquet(out)
    assert {"Gender", "Age"} <= set(df.columns)
    assert df["customer_id"].tolist() == ["A", "B", "C"]
    assert df["Gender"].tolist()[0::2] == ["m", "f"]
    assert df["Age"].tolist()[0::2] == [45, 31]
    assert df.loc[1, ["Gender", "Age"]].isna().all()
    if ext == ".parquet":  # the table's categories stay categories in the file
        assert isinstance(df["Gender"].dtype, pd.CategoricalDtype)
        assert not isinstance(df["Age"].dtype, pd.CategoricalDtype)


@pytest.mark.parametrize("btyd", ["--btyd", "--no-btyd"])
def test_customers_table_categories_survive_a_log_without_keys(cli, tmp_path, btyd):
    # a small CSV log is loaded (no stored keys): the path straight from the query
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2024-01-01,3\na,2024-02-01,4\nb,2024-01-09,2\n")
    table = tmp_path / "customers.csv"
    table.write_text("customer_id,plan\na,gold\nb,basic\n")
    out = tmp_path / "f.parquet"
    result = cli("features", log, "--out", out, "--customers-table", table, btyd)
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out)
    assert isinstance(df["plan"].dtype, pd.CategoricalDtype)
    assert df["plan"].astype(str).tolist() == ["gold", "basic"]


def test_customers_table_with_duplicate_ids_exits_2(cli, tmp_path):
    out = tmp_path / "f.csv"
    table = DATA / "features_customers_dup.csv"
    result = cli("features", TINY, "--out", out, "--cutoff", CUTOFF, "--customers-table", table)
    assert result.exit_code == 2, result.output
    assert "duplicate customer ids" in result.stderr
    assert not out.exists()


@pytest.mark.realdata
@pytest.mark.parametrize("ext", [".parquet", ".csv", ".json"])
def test_customer_table_passes_through_typed(cli, tmp_path, shared_data, ext):
    out = tmp_path / f"mall{ext}"
    result = cli("features", shared_data / "Mall_Customers.csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert "customer table" in result.stderr
    if ext == ".parquet":
        df = pd.read_parquet(out)
        assert isinstance(df["Genre"].dtype, pd.CategoricalDtype)
        for col in ("Age", "Annual Income (k$)", "Spending Score (1-100)"):
            assert pd.api.types.is_integer_dtype(df[col]), col
    elif ext == ".csv":
        df = pd.read_csv(out, dtype={"CustomerID": str})
    else:
        df = pd.DataFrame(json.loads(out.read_text()))
    assert len(df) == 200
    assert df.columns.tolist() == [
        "CustomerID",
        "Genre",
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
    ]
    assert df["CustomerID"].tolist()[:2] == ["0001", "0002"]  # zero-padded ids kept
    assert df.iloc[0, 1:].tolist() == ["Male", 19, 15, 39]


# --- acceptance on the real data ---------------------------------------------------------------


@pytest.mark.realdata
def test_cdnow_reproduces_reference_summary(cli, tmp_path, shared_data):
    out = tmp_path / "f.csv"
    result = cli(
        "features", shared_data / "CDNOW_sample.txt",
        "--names", "master_id,sample_id,date,quantity,amount",
        "--customer-col", "sample_id", "--date-format", "%Y%m%d",
        "--cutoff", "1997-10-01", "--time-unit", "weeks", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype={"customer_id": str})
    ref = pd.read_csv(shared_data / "cdnow_customers_summary.csv")
    assert len(got) == len(ref) == 2357
    # ids are written '0001' in the sample and 1 in the summary
    assert got["customer_id"].str.match(r"^\d{4}$").all()
    got["ID"] = got["customer_id"].astype(int)
    both = ref.merge(got, on="ID", suffixes=("_ref", ""), validate="one_to_one")
    assert len(both) == 2357
    assert (both["frequency"] == both["frequency_ref"]).all()
    # the reference rounds to 2 decimals: within 0.01 weeks
    assert np.abs(both["recency"] - both["recency_ref"]).max() <= 0.01
    assert np.abs(both["T"] - both["T_ref"]).max() <= 0.01


@pytest.mark.slow
@pytest.mark.realdata
def test_online_retail_repeat_rate(cli, tmp_path, shared_data):
    out = tmp_path / "f.parquet"
    result = cli(
        "features", shared_data / "online_retail.csv.gz",
        "--cutoff", "2011-09-10", "--horizon", 91, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out)
    assert len(df) == 3370
    assert abs(df["repeat_purchase"].mean() - 0.570) <= 0.005
    # nothing dated on or after the cutoff reaches a feature
    assert pd.to_datetime(df["last_purchase"]).max() < pd.Timestamp("2011-09-10")
    assert (df["recency_days"] >= 1).all()


def test_btyd_columns_default_on_and_optional(cli, tmp_path):
    on, off = tmp_path / "on.csv", tmp_path / "off.csv"
    assert cli("features", TINY, "--out", on, "--cutoff", CUTOFF, "--horizon", 60).exit_code == 0
    result = cli("features", TINY, "--out", off, "--cutoff", CUTOFF, "--horizon", 60, "--no-btyd")
    assert result.exit_code == 0, result.output
    with_btyd, without = pd.read_csv(on), pd.read_csv(off)
    assert {"p_alive", "expected_purchases", "expected_value"} <= set(with_btyd.columns)
    assert not {"p_alive", "expected_purchases", "expected_value"} & set(without.columns)
    assert with_btyd["p_alive"].between(0, 1).all()
    assert (with_btyd["expected_purchases"] >= 0).all()


# --- what a run says about its input, and inputs it refuses ------------------------------------


def test_rows_left_out_are_counted_and_reading_notes_shown(cli, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "customer_id,date,amount\n"
        "a,13/01/2024,10\n"  # day/month: read with that format, said so
        "a,20/03/2024,5\n"
        "b,2024-03-01,3\n"  # another format: cannot be parsed
        "b,01/03/2024,oops\n"  # not a number
        ",02/03/2024,4\n"  # no customer
    )
    result = cli("features", log, "--out", tmp_path / "f.csv", "--no-btyd")
    assert result.exit_code == 0, result.output
    assert "note: dates in 'date' read with format '%d/%m/%Y'" in result.stderr
    assert (
        f"left out 3 rows of {log}: 1 without a customer id; 1 whose date is missing or cannot "
        "be parsed; 1 whose amount, quantity or price is missing or not a number "
        f"(toolkit validate {log} shows examples)"
    ) in result.stderr


def test_a_clean_log_says_nothing_was_left_out(cli, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2024-01-01,3\na,2024-02-01,4\n")
    result = cli("features", log, "--out", tmp_path / "f.csv", "--no-btyd")
    assert result.exit_code == 0, result.output
    assert "left out" not in result.stderr
    # TINY has a line without a customer: said so
    result = cli("features", TINY, "--out", tmp_path / "f.csv", "--no-btyd")
    assert f"left out 1 row of {TINY}: 1 without a customer id" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--cutoff", "2024-07-01", "--horizon", "10000000"],
        ["--cutoff", "9999-12-30", "--horizon", "5"],
        ["--horizon", "99999999999999999999"],
    ],
    ids=["horizon-past-9999", "cutoff-near-9999", "horizon-beyond-integers"],
)
def test_windows_past_the_calendar_exit_2(cli, tmp_path, args):
    out = tmp_path / "f.csv"
    result = cli("features", TINY, "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert "run past the calendar (years 1 to 9999)" in result.stderr
    assert not out.exists()


def test_a_cutoff_long_after_the_data_is_pointed_out(cli, tmp_path):
    result = cli("features", TINY, "--out", tmp_path / "f.csv", "--cutoff", "2030-01-01")
    assert result.exit_code == 0, result.output
    # the last purchase is on 2024-12-01
    assert "--cutoff 2030-01-01 is 1857 days after the last purchase (2024-12-01)" in result.stderr


def test_a_one_day_history_gives_features_without_btyd_scores(cli, tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2024-01-01,3\nb,2024-01-01,4\na,2024-01-01,5\n")
    out = tmp_path / "f.csv"
    result = cli("features", log, "--out", out)
    assert result.exit_code == 0, result.output
    assert "BG/NBD scores (p_alive, expected_purchases, expected_value) not added" in result.stderr
    df = pd.read_csv(out)
    assert df["frequency"].tolist() == [0, 0] and "p_alive" not in df.columns


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (
            "who,when,spent\na,2024-01-01,10\nb,2024-01-05,20\n",
            [],
            "has neither a date column nor a customer id column",
        ),
        (
            "who,when,spent\na,2024-01-01,10\nb,2024-01-05,20\n",
            ["--amount-col", "spent"],
            "a date column (--date-col)",
        ),
        ("CustomerID;Age\n1;20\n2;30\n", ["--sep", ","], "read as a single column"),
        ("CustomerID,Age\n1,20\n2,30\n", ["--customer-col", "Nope"], "'Nope' is not a column"),
        ("CustomerID,Age\n1,20\n2,30\n", ["--date-format", "%Y"], "--date-format applies only"),
        ("CustomerID,Age\n1,20\n2,30\n", ["--time-unit", "weeks"], "--time-unit applies only"),
    ],
    ids=[
        "no-id-no-date",
        "log-column-named",
        "wrong-separator",
        "missing-id-column",
        "date-format",
        "time-unit",
    ],
)
def test_what_is_not_a_customer_table_is_not_passed_through(cli, tmp_path, text, args, message):
    data = tmp_path / "data.csv"
    data.write_text(text)
    out = tmp_path / "f.csv"
    result = cli("features", data, "--out", out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".json"])
def test_a_customers_table_matching_nobody_exits_2_and_keeps_the_output(cli, tmp_path, ext):
    table = tmp_path / "customers.csv"
    table.write_text("CustomerID,age\nX1,30\nX2,41\n")
    out = tmp_path / f"f{ext}"
    out.write_bytes(b"the user's previous result")
    for btyd in ("--btyd", "--no-btyd"):  # through Arrow, and straight from the query
        result = cli("features", TINY, "--customers-table", table, "--out", out, btyd)
        assert result.exit_code == 2, result.output
        assert "none of its customer ids is a customer of the log" in result.stderr
        assert out.read_bytes() == b"the user's previous result"
        assert leftovers(tmp_path) == []


def test_a_customers_table_matching_some_says_how_many(cli, tmp_path):
    table = tmp_path / "customers.csv"
    table.write_text("CustomerID,age\nA,30\nX2,41\n")
    result = cli("features", TINY, "--customers-table", table, "--out", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    # A, B, C and D bought before the default cutoff
    assert f"note: {table} describes 1 of the 4 customers" in result.stderr


def test_a_customer_table_with_ragged_lines_says_so(cli, tmp_path):
    data = tmp_path / "customers.csv"
    data.write_text("CustomerID,Genre,Age\n0001,Male,19\n0002,Female,20,extra\n0003,Male,33\n")
    result = cli("features", data, "--out", tmp_path / "f.csv")
    assert result.exit_code == 0, result.output
    assert "note: 1 row(s) have more fields than the header (3)" in result.stderr


def test_customer_col_is_matched_as_the_readers_match_it(cli, tmp_path):
    data = tmp_path / "customers.csv"
    data.write_text("CustomerID,Age\n1,20\n2,30\n")
    result = cli("features", data, "--out", tmp_path / "f.csv", "--customer-col", "customerid")
    assert result.exit_code == 0, result.output
    assert "is a customer table" in result.stderr


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".json"])
def test_labels_straight_from_the_query_in_every_format(cli, tmp_path, ext):
    # a loaded log without BTYD scores is written by DuckDB directly, then summed up from
    # the file it wrote
    out = tmp_path / f"f{ext}"
    result = cli("features", TINY, "--out", out, "--cutoff", CUTOFF, "--horizon", 60, "--no-btyd")
    assert result.exit_code == 0, result.output
    assert "33.3% bought again" in result.stderr
