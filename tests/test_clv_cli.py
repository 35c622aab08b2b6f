"""``toolkit clv`` end to end, and the BTYD plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.btyd._clv import OUTPUT_COLUMNS, find_summary_columns

SUMMARY = """CustomerID,frequency,recency,T,monetary_value
0001,0,0,40,0
0002,1,10,40,25.5
0003,3,35,40,18.0
0004,2,5,30,60.0
0005,0,0,12,0
0006,5,27,28,33.0
0007,1,2,40,12.0
"""


@pytest.fixture
def summary_file(tmp_path: Path) -> Path:
    path = tmp_path / "summary.csv"
    path.write_text(SUMMARY)
    return path


def read_outputs(out: Path) -> tuple[pd.DataFrame, dict]:
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    params = json.loads((out / "params.json").read_text())
    return customers, params


def test_summary_table_end_to_end(cli, summary_file: Path, tmp_path: Path):
    out = tmp_path / "clv"
    result = cli("clv", summary_file, "--out", out, "--horizon", "90", "--discount-rate", "0.02")
    assert result.exit_code == 0, result.output
    customers, params = read_outputs(out)
    assert list(customers.columns) == OUTPUT_COLUMNS
    assert customers["customer_id"].tolist() == [f"000{i}" for i in range(1, 8)]  # ids kept
    assert customers.loc[customers["frequency"] == 0, "p_alive"].eq(1.0).all()
    for col in ("p_alive", "p_any_purchase"):
        assert customers[col].between(0, 1).all()
    assert (customers["p_any_purchase"] <= customers["expected_purchases"] + 1e-12).all()
    assert customers["clv"].gt(0).all() and customers["expected_avg_spend"].gt(0).all()
    assert set(params) >= {"bgnbd", "gamma_gamma", "prediction"}
    for key in ("r", "alpha", "a", "b", "log_likelihood", "standard_errors", "warnings"):
        assert key in params["bgnbd"]
    assert params["bgnbd"]["n_customers"] == 7
    assert params["gamma_gamma"]["n_customers"] == 5
    prediction = params["prediction"]
    assert (prediction["horizon"], prediction["time_unit"]) == (90.0, "days")
    assert prediction["discount_rate"] == 0.02 and prediction["n_periods"] == 3.0
    assert (out / "p_alive_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_without_spend_leaves_clv_empty(cli, tmp_path: Path):
    path = tmp_path / "rfm.csv"
    path.write_text("x,t_x,T\n0,0,40\n1,10,40\n3,35,40\n2,5,30\n")
    out = tmp_path / "o"
    result = cli("clv", path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "no Gamma-Gamma spend model" in result.output
    customers, params = read_outputs(out)
    assert params["gamma_gamma"] is None
    assert customers["clv"].isna().all()
    assert customers["customer_id"].tolist() == ["1", "2", "3", "4"]  # numbered when no id


@pytest.mark.parametrize(
    "content,extra,message",
    [
        ("ID,frequency,T\n1,0,5\n", [], "missing recency"),
        ("ID,frequency,recency,T\n1,0,0,5\n2,2,9,5\n3,1,7,6\n", [], "recency must be <= T: 2 rows"),
        ("ID,frequency,recency,T\n1,0,0,5\n2,two,1,5\n", [], "column 'frequency'"),
        ("ID,frequency,recency,T\n1,1,1,5\n", ["--cutoff", "2020-01-01"], "--cutoff applies"),
        ("ID,frequency,recency,T\n1,1,1,5\n", ["--horizon", "0"], "--horizon must be > 0"),
        # a missing spend of a repeat customer is an input error (one of 0 or less is not)
        (
            "ID,x,t_x,T,zbar\n1,1,1,5,\n2,2,3,5,10\n3,1,2,5,7\n",
            [],
            "column 'zbar'|monetary value must be a number \\(not missing",
        ),
        # a century is the longest: the CLV sum has a term a month (1e9 weeks never ended)
        ("ID,frequency,recency,T\n1,1,1,5\n", ["--horizon", "inf"], "--horizon must be at most"),
        ("ID,frequency,recency,T\n1,1,1,5\n", ["--horizon", "1e9"], "--horizon must be at most"),
        (
            "ID,frequency,recency,T\n1,1,1,5\n",
            ["--discount-rate", "inf"],
            "--discount-rate must be a finite",
        ),
    ],
    ids=[
        "missing-column",
        "recency>T",
        "text",
        "cutoff",
        "horizon",
        "missing-spend",
        "infinite-horizon",
        "huge-horizon",
        "infinite-rate",
    ],
)
def test_bad_input_exits_2_naming_the_problem(cli, tmp_path: Path, content, extra, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = cli("clv", path, "--out", tmp_path / "o", *extra)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output
    assert pytest.importorskip("re").search(message, result.output), result.output
    if not message.startswith(("--cutoff", "--horizon", "--discount-rate")):
        assert "bad.csv" in result.output
    assert not (tmp_path / "o" / "customers.csv").exists()


def test_a_repeat_spend_of_zero_or_less_is_left_out_of_gamma_gamma(cli, tmp_path: Path):
    path = tmp_path / "summary.csv"
    path.write_text(SUMMARY + "0008,2,20,40,0\n0009,1,30,40,-3.5\n")
    out = tmp_path / "clv"
    result = cli("clv", path, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Gamma-Gamma on 5 customers with repeat purchases" in result.output
    assert "2 with a mean repeat spend of 0 or less are left out of the fit" in result.output
    customers, params = read_outputs(out)
    assert params["gamma_gamma"]["n_left_out_nonpositive_spend"] == 2
    assert params["gamma_gamma"]["n_customers"] == 5
    spend = customers.set_index("customer_id")["expected_avg_spend"]
    assert spend["0008"] == pytest.approx(spend["0001"]) == pytest.approx(spend["0009"])
    assert customers["clv"].notna().all()


def test_the_standard_fit_says_when_it_needed_the_penalty(cli, tmp_path: Path):
    rng = np.random.default_rng(3)  # steady buyers who never stop: the dropout goes to 0
    n = 400
    T = rng.uniform(100, 300, n)
    x = rng.poisson(T / 20.0)
    t = np.where(x > 0, T - rng.exponential(5.0, n).clip(0, None), 0.0).clip(0, None)
    path = tmp_path / "steady.csv"
    pd.DataFrame({"id": range(n), "frequency": x, "recency": np.minimum(t, T), "T": T}).to_csv(
        path, index=False
    )
    result = cli("clv", path, "--out", tmp_path / "clv")
    assert result.exit_code == 0, result.output
    _, params = read_outputs(tmp_path / "clv")
    fit = params["bgnbd"]["fit"]
    # 0.001 still leaves the dropout undetermined here: the next penalty of the ladder
    assert fit.startswith("penalised (0.01): the unpenalised fit ran to a boundary (a -> 0")
    assert params["bgnbd"]["penalizer"] == 0.01 and params["bgnbd"]["flags"] == []
    assert f"BG/NBD fit: {fit}" in result.output
    forced = cli("clv", path, "--out", tmp_path / "forced", "--penalizer", "0.05")
    assert forced.exit_code == 0, forced.output
    _, params = read_outputs(tmp_path / "forced")
    assert params["bgnbd"]["fit"] == "penalised (0.05) (the penalty asked for)"
    assert params["bgnbd"]["penalizer"] == 0.05


def test_transaction_log_is_summarised_first(cli, tmp_path: Path):
    rows = ["customer,order_date,amount"]
    rng = np.random.default_rng(0)
    for c in range(40):
        days = np.sort(rng.choice(120, size=1 + c % 6, replace=False))
        rows += [f"c{c:02d},2024-01-01,{10 + c}"] + [
            f"c{c:02d},{(pd.Timestamp('2024-01-01') + pd.Timedelta(days=int(d) + 1)).date()},"
            f"{5 + (c * d) % 40}"
            for d in days
        ]
    path = tmp_path / "tx.csv"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    result = cli("clv", path, "--out", out, "--cutoff", "2024-04-01", "--time-unit", "weeks")
    assert result.exit_code == 0, result.output
    customers, params = read_outputs(out)
    assert len(customers) == 40 and customers["customer_id"].str.startswith("c").all()
    # T: first purchase 2024-01-01 to the day before the cutoff, in weeks
    assert (
        customers["T"].eq((pd.Timestamp("2024-03-31") - pd.Timestamp("2024-01-01")).days / 7).all()
    )
    assert params["bgnbd"]["time_unit"] == "weeks"


def test_find_summary_columns_spellings():
    assert find_summary_columns(["Frequency", "Recency", "t", "Monetary Value"]) == {
        "frequency": "Frequency",
        "recency": "Recency",
        "T": "t",
        "monetary_value": "Monetary Value",
    }
    assert find_summary_columns(["customer_id", "date", "amount"]) == {}


# --- acceptance on the CDNOW data ----------------------------------------------------------------


@pytest.mark.realdata
def test_cdnow_summary_weeks(cli, shared_data: Path, tmp_path: Path):
    out = tmp_path / "D"
    result = cli(
        "clv", shared_data / "cdnow_customers_summary.csv", "--time-unit", "weeks", "--out", out,
        "--penalizer", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    customers, params = read_outputs(out)
    bg = params["bgnbd"]
    for k, v in {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}.items():
        assert bg[k] == pytest.approx(v, abs=0.001), k
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert bg["warnings"] == [] and bg["converged"] is True
    assert params["gamma_gamma"] is None
    assert len(customers) == 2357 and customers["customer_id"].iloc[0] == "1"


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cdnow_customers_summary.csv", {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}),
        ("cdnow_customers_summary_with_transactions.csv", {"p": 6.25, "q": 3.74, "v": 15.44}),
    ],
    ids=["bgnbd", "gamma-gamma"],
)
def test_cdnow_without_options_is_the_published_fit(
    cli, shared_data: Path, tmp_path, name, expected
):
    """The standard fit is plain maximum likelihood where it is interior and well determined."""
    out = tmp_path / "D"
    result = cli("clv", shared_data / name, "--out", out)
    assert result.exit_code == 0, result.output
    _, params = read_outputs(out)
    bg, gg = params["bgnbd"], params["gamma_gamma"]
    for k, v in {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}.items():
        assert bg[k] == pytest.approx(v, abs=0.001), k
    assert bg["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert bg["fit"] == "maximum likelihood" and bg["penalizer"] == 0
    assert "BG/NBD fit: maximum likelihood" in result.output
    if "p" in expected:
        for k, v in expected.items():
            assert gg[k] == pytest.approx(v, abs=0.01), k
        assert gg["fit"] == "maximum likelihood" and gg["n_customers"] == 946
        assert "Gamma-Gamma fit: maximum likelihood" in result.output
    else:
        assert gg is None


@pytest.mark.realdata
def test_cdnow_with_spend_and_paper_customer(cli, shared_data: Path, tmp_path: Path):
    out = tmp_path / "D"
    data = shared_data / "cdnow_customers_summary_with_transactions.csv"
    result = cli(
        "clv", data, "--time-unit", "weeks", "--horizon", "39", "--out", out, "--penalizer", "0"
    )
    assert result.exit_code == 0, result.output
    customers, params = read_outputs(out)
    for k, v in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert params["gamma_gamma"][k] == pytest.approx(v, abs=0.01), k
    first = customers.iloc[0]  # x = 2, t_x = 30.43, T = 38.86: FHL 2005's worked example
    assert (first["frequency"], first["recency"], first["T"]) == (2, 30.43, 38.86)
    assert first["expected_purchases"] == pytest.approx(1.226, abs=0.001)
    assert customers["clv"].notna().all()


@pytest.mark.realdata
def test_cdnow_transaction_log_reproduces_the_paper(cli, shared_data: Path, tmp_path: Path):
    """The raw CDNOW log, summarised by toolkit's features at the end of week 39."""
    out = tmp_path / "D"
    result = cli(
        "clv", shared_data / "CDNOW_sample.txt", "--out", out,
        "--names", "master,customer_id,date,cds,amount", "--customer-col", "customer_id",
        "--date-col", "date", "--amount-col", "amount", "--date-format", "%Y%m%d",
        "--time-unit", "weeks", "--cutoff", "1997-10-01", "--penalizer", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _, params = read_outputs(out)
    for k, v in {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}.items():
        assert params["bgnbd"][k] == pytest.approx(v, abs=0.001), k
    assert params["bgnbd"]["n_customers"] == 2357
    assert params["gamma_gamma"]["n_customers"] == 946


# --- plots ---------------------------------------------------------------------------------------


def test_plots_render_and_save(tmp_path: Path):
    from toolkit.btyd import BetaGeoModel
    from toolkit.reports.btyd_plots import (
        calibration_holdout_table,
        p_alive_matrix,
        plot_calibration_holdout,
        plot_p_alive_matrix,
    )

    m = BetaGeoModel()
    m.params_ = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}
    matrix = p_alive_matrix(m, T=38.86, max_frequency=5, n_recency=10)
    assert matrix.shape == (6, 10)
    assert matrix.iloc[0, 0] == 1.0 and matrix.iloc[0, 1:].isna().all()
    assert (matrix.iloc[1:].diff(axis=1).iloc[:, 1:] > 0).all().all()  # more recent: more alive
    plot_p_alive_matrix(matrix, tmp_path / "m.png")
    table = calibration_holdout_table([0, 0, 1, 2, 9, 12], [0, 1, 1, 2, 6, 8], [0.3] * 6, 7)
    assert table.index.tolist() == ["0", "1", "2", "7+"]
    assert table.loc["7+", "actual"] == 7.0 and table["customers"].sum() == 6
    plot_calibration_holdout(table, tmp_path / "c.png")
    for name in ("m.png", "c.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_a_fit_at_a_boundary_is_flagged_where_it_is_printed(cli, tmp_path: Path):
    """Steady buyers who never stop: plain maximum likelihood sends the dropout to 0."""
    rng = np.random.default_rng(3)
    n = 400
    T = rng.uniform(100, 300, n)
    x = rng.poisson(T / 20.0)
    t = np.where(x > 0, T - rng.exponential(5.0, n).clip(0, None), 0.0).clip(0, None)
    path = tmp_path / "steady.csv"
    pd.DataFrame({"id": range(n), "frequency": x, "recency": np.minimum(t, T), "T": T}).to_csv(
        path, index=False
    )
    result = cli("clv", path, "--out", tmp_path / "clv", "--penalizer", "0")
    assert result.exit_code == 0, result.output
    _, params = read_outputs(tmp_path / "clv")
    flags = params["bgnbd"]["flags"]
    assert flags and any("boundary" in f for f in flags)
    assert f"flag: {flags[0]}" in result.output
