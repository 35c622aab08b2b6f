"""The embedded demo data generator (toolkit.datasets) and ``toolkit generate``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import toolkit.cli  # noqa: F401  (registers every command on the app)
from toolkit import datasets
from toolkit.commands import generate as generate_cmd
from toolkit.commands.common import app
from toolkit.datasets import GeneratedFiles, generate_transactions
from toolkit.errors import InputError

TX_COLUMNS = [
    "customer_id",
    "invoice_no",
    "invoice_date",
    "stock_code",
    "category",
    "quantity",
    "unit_price",
]
CUSTOMER_COLUMNS = ["customer_id", "age", "gender", "income_bracket", "region", "signup_channel"]
INCOME_ORDER = ["<25k", "25-50k", "50-75k", "75-100k", ">100k"]


@pytest.fixture(scope="module")
def retailer() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3,000 customers over the default period: enough for the statistical checks."""
    return generate_transactions(3000, seed=11)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 40 customers, so that a few hundred customers span several blocks and chunks."""
    monkeypatch.setattr(datasets, "_BLOCK_CUSTOMERS", 40)


def orders_of(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per purchase invoice: customer, date, value."""
    buy = tx[tx["quantity"] > 0]
    return (
        buy.assign(value=buy["quantity"] * buy["unit_price"])
        .groupby("invoice_no", as_index=False)
        .agg(
            customer_id=("customer_id", "first"),
            date=("invoice_date", "first"),
            value=("value", "sum"),
        )
    )


def check_invariants(
    tx: pd.DataFrame, customers: pd.DataFrame, n: int, start: dt.date, end: dt.date
) -> None:
    assert list(tx.columns) == TX_COLUMNS
    assert list(customers.columns) == CUSTOMER_COLUMNS
    # the customer table: one row per customer, and every customer bought at least once
    assert len(customers) == n
    assert customers["customer_id"].is_unique
    buy = tx[tx["quantity"] > 0]
    assert set(buy["customer_id"]) == set(customers["customer_id"])
    # dates inside the period, rows sorted by customer then date
    assert tx["invoice_date"].min() >= pd.Timestamp(start)
    assert tx["invoice_date"].max() < pd.Timestamp(end) + pd.Timedelta(days=1)
    key = pd.DataFrame({"c": tx["customer_id"], "d": tx["invoice_date"]})
    assert key.equals(key.sort_values(["c", "d"], kind="stable"))
    # purchases positive; returns, and only returns, have 'C' invoices and negative quantities
    assert (tx["quantity"] != 0).all()
    assert (tx["unit_price"] > 0).all()
    is_c = tx["invoice_no"].str.startswith("C")
    assert (is_c == (tx["quantity"] < 0)).all()
    # an invoice belongs to one customer at one moment, and lists a product once
    per_invoice = tx.groupby("invoice_no").agg(
        c=("customer_id", "nunique"), d=("invoice_date", "nunique")
    )
    assert (per_invoice[["c", "d"]] == 1).all().all()
    assert not tx.duplicated(["invoice_no", "stock_code"]).any()
    # every returned line matches an earlier purchase of the same product by the same customer
    ret = tx[is_c].reset_index(names="row")
    pairs = ret.merge(buy, on=["customer_id", "stock_code"], suffixes=("", "_buy"))
    ok = (pairs["invoice_date_buy"] < pairs["invoice_date"]) & (
        pairs["quantity_buy"] >= -pairs["quantity"]
    )
    assert set(pairs.loc[ok, "row"]) == set(ret["row"])


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_data_and_another_seed_differs() -> None:
    a_tx, a_cu = generate_transactions(300, seed=5)
    b_tx, b_cu = generate_transactions(300, seed=5)
    pd.testing.assert_frame_equal(a_tx, b_tx)
    pd.testing.assert_frame_equal(a_cu, b_cu)
    c_tx, c_cu = generate_transactions(300, seed=6)
    assert not a_tx.equals(c_tx)
    assert not a_cu.equals(c_cu)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
@pytest.mark.parametrize("chunk", [1, 100, 10_000], ids=["chunk=1", "chunk=100", "chunk=10000"])
def test_chunked_file_equals_in_memory(
    small_blocks: None, tmp_path: Path, suffix: str, chunk: int
) -> None:
    tx, customers = generate_transactions(230, seed=3, start="2023-01-01", end="2023-06-30")
    out = tmp_path / f"tx{suffix}"
    result = generate_transactions(
        230, seed=3, start="2023-01-01", end="2023-06-30", out=out, chunk_customers=chunk
    )
    assert result == GeneratedFiles(
        out,
        tmp_path / f"tx_customers{suffix}",
        len(tx),
        int((tx["quantity"] < 0).sum()),
        230,
    )
    if suffix == ".parquet":
        got_tx, got_cu = pd.read_parquet(out), pd.read_parquet(result.customers)
    else:
        text = {"customer_id": "str", "invoice_no": "str", "stock_code": "str"}
        got_tx = pd.read_csv(out, dtype=text, parse_dates=["invoice_date"])
        got_tx["invoice_date"] = got_tx["invoice_date"].astype(tx["invoice_date"].dtype)
        got_cu = pd.read_csv(result.customers, dtype={"customer_id": "str"})
    pd.testing.assert_frame_equal(got_tx, tx)
    pd.testing.assert_frame_equal(got_cu, customers)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, result.customers.name])


def test_customer_ids() -> None:
    tx, customers = generate_transactions(3, seed=0)
    assert customers["customer_id"].tolist() == ["C0000001", "C0000002", "C0000003"]
    assert datasets._customer_ids(9_999_998, 2, 8).to_pylist() == ["C09999999", "C10000000"]


# --- invariants --------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 120),
    seed=st.integers(0, 2**32),
    start=st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
    days=st.integers(0, 800),
)
def test_invariants_hold_for_any_size_seed_and_period(
    n: int, seed: int, start: dt.date, days: int
) -> None:
    end = start + dt.timedelta(days=days)
    tx, customers = generate_transactions(n, seed=seed, start=start, end=end)
    check_invariants(tx, customers, n, start, end)


def test_invariants_on_the_default_period(retailer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    tx, customers = retailer
    check_invariants(tx, customers, 3000, dt.date(2022, 1, 1), dt.date(2023, 12, 31))
    assert datasets.DEFAULT_START == generate_cmd._START == "2022-01-01"
    assert datasets.DEFAULT_END == generate_cmd._END == "2023-12-31"


def test_looks_like_a_retailer(retailer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    tx, customers = retailer
    assert 18 <= len(tx) / len(customers) <= 28  # lines per customer
    returns = (tx["quantity"] < 0).mean()
    assert 0.015 <= returns <= 0.035
    assert tx["category"].nunique() == 8
    assert 200 <= tx["stock_code"].nunique() <= 400
    # popularity skew: the 10 % most sold products make far more than 10 % of the lines
    counts = tx["stock_code"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() / counts.sum() > 0.3


# --- the BG/NBD story and the season -------------------------------------------------------------


def test_purchase_counts_are_heterogeneous(retailer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    orders = orders_of(retailer[0])
    n = orders.groupby("customer_id").size()
    assert n.var() / n.mean() > 3  # a Poisson count would give about 1
    assert 0.45 <= (n > 1).mean() <= 0.75  # customers who buy again
    assert n.median() <= 3 < n.mean()


def test_customers_drop_out(retailer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    orders = orders_of(retailer[0])
    early = orders[orders["date"] < "2023-01-01"].groupby("customer_id").size()
    busy = early[early >= 5].index  # at least 5 orders in 2022
    late = set(orders.loc[orders["date"] >= "2023-07-01", "customer_id"])
    # without dropout a customer buying 5+ times a year is rarely silent for half a year
    assert len(busy) > 100
    assert 1 - np.isin(busy, list(late)).mean() > 0.3


def test_more_orders_at_christmas_and_more_customers_early(
    retailer: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    orders = orders_of(retailer[0])

    def per_day(lo: str, hi: str) -> float:
        inside = orders["date"].between(pd.Timestamp(lo), pd.Timestamp(hi), inclusive="left")
        return inside.sum() / (pd.Timestamp(hi) - pd.Timestamp(lo)).days

    assert per_day("2023-11-01", "2024-01-01") > 1.25 * per_day("2023-09-01", "2023-11-01")
    first = orders.groupby("customer_id")["date"].min()
    assert (first < "2023-01-01").mean() > 0.55


def test_attributes_change_behaviour(retailer: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from scipy.stats import spearmanr

    tx, customers = retailer
    orders = orders_of(tx)
    per = customers.set_index("customer_id").join(
        orders.groupby("customer_id").agg(n=("value", "size"), aov=("value", "mean"))
    )
    income = per["income_bracket"].map(INCOME_ORDER.index)
    rho, p = spearmanr(income, per["aov"])
    assert rho > 0.15 and p < 1e-6
    by_income = per.groupby("income_bracket")["aov"].mean()
    assert by_income[">100k"] > 1.3 * by_income["<25k"]
    rho, p = spearmanr(per["age"], per["n"])  # older customers buy more often
    assert rho > 0 and p < 0.01
    assert per.loc[per["age"] >= 55, "n"].mean() > 1.15 * per.loc[per["age"] < 30, "n"].mean()
    by_channel = per.groupby("signup_channel")["n"].mean()
    assert by_channel["app"] > by_channel["store"]
    assert set(per["gender"]) <= {"F", "M", "X"}
    assert set(per["income_bracket"]) == set(INCOME_ORDER)


# --- writing -------------------------------------------------------------------------------------


def test_failed_run_leaves_no_file_and_keeps_the_old_one(
    small_blocks: None, tmp_path: Path
) -> None:
    out = tmp_path / "tx.parquet"
    out.write_text("old")

    def stop(done: int, rows: int) -> None:
        if done >= 80:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_transactions(200, out=out, chunk_customers=40, on_progress=stop)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tx.parquet"]


def test_customers_out_and_progress(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    result = generate_transactions(
        50,
        out=tmp_path / "a" / "tx.parquet",
        customers_out=tmp_path / "b" / "people.csv",
        on_progress=lambda done, rows: seen.append((done, rows)),
    )
    assert result.customers == tmp_path / "b" / "people.csv"
    assert pd.read_csv(result.customers)["customer_id"].tolist()[:2] == ["C0000001", "C0000002"]
    assert seen == [(50, result.rows)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 0}, "n_customers must be at least 1, got 0"),
        ({"n_customers": 2.5}, "n_customers must be a whole number"),
        ({"seed": -1}, "seed must be a non-negative whole number"),
        ({"start": "2022-02-30"}, "start must be a date like 2022-01-01, got '2022-02-30'"),
        ({"end": "2021-12-31"}, "end must be on or after start (2022-01-01), got 2021-12-31"),
        ({"out": "tx.xlsx"}, "out must be a file name ending in .parquet, .csv, .csv.gz"),
        ({"customers_out": "c.csv"}, "customers_out needs out"),
        ({"out": "t.csv", "customers_out": "t.csv"}, "customers_out must differ from out"),
        ({"chunk_customers": 0}, "chunk_customers must be at least 1"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"n_customers": 10, **kwargs}
    for key in ("out", "customers_out"):
        if key in args:
            args[key] = tmp_path / str(args[key])
    with pytest.raises(InputError) as err:
        generate_transactions(**args)  # type: ignore[call-overload]
    assert message in str(err.value)
    assert list(tmp_path.iterdir()) == []


# --- the command ---------------------------------------------------------------------------------


def test_cli_writes_the_same_data(tmp_path: Path) -> None:
    out = tmp_path / "demo.parquet"
    result = CliRunner().invoke(
        app, ["generate", "--customers", "120", "--out", str(out), "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    tx, customers = generate_transactions(120, seed=4)
    pd.testing.assert_frame_equal(pd.read_parquet(out), tx)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "demo_customers.parquet"), customers)
    assert f"wrote {len(tx):,} transaction lines" in result.output
    assert "120 customers" in result.output and "demo_customers.parquet" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--customers", "0"], "--customers must be at least 1, got 0"),
        (["--customers", "-3"], "--customers must be at least 1, got -3"),
        (["--seed", "-1"], "--seed must be a non-negative whole number"),
        (["--start", "yesterday"], "--start must be a date like 2022-01-01, got 'yesterday'"),
        (["--end", "2023-02-30"], "--end must be a date like 2022-01-01, got '2023-02-30'"),
        (
            ["--start", "2023-01-01", "--end", "2022-12-31"],
            "--end must be on or after --start (2023-01-01), got 2022-12-31",
        ),
        (["--out", "tx.txt"], "--out must be a file name ending in .parquet, .csv, .csv.gz"),
        (["--customers-out", "c.json"], "--customers-out must be a file name ending in"),
        (["--customers-out", "tx.csv"], "--customers-out must differ from --out"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_cli_bad_options(tmp_path: Path, options: list[str], message: str) -> None:
    args = {"--customers": "10", "--out": "tx.csv"}
    it = iter(options)
    args.update(zip(it, it, strict=True))
    for key in ("--out", "--customers-out"):
        if key in args:
            args[key] = str(tmp_path / args[key])
    result = CliRunner().invoke(app, ["generate", *[x for kv in args.items() for x in kv]])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
