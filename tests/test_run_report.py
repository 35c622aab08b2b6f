"""`toolkit run`: the report that tells the whole story, checks before the first write, skipped
steps with their reasons, one read of a slow format and the reuse of unchanged steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.reports.run_report import SECTIONS

DATA = Path(__file__).resolve().parent / "data"

TITLES = [title for _, title in SECTIONS]


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _run(out):
    return json.loads((out / "run.json").read_text())


# --- the report of a full run -------------------------------------------------------------------


@pytest.mark.slow
def test_the_report_has_every_section_and_each_has_its_content(demo_dir):
    s = _summary(demo_dir)["sections"]
    assert [sec["title"] for sec in s.values()] == TITLES
    assert all(sec["available"] for sec in s.values())
    churn = pd.read_csv(demo_dir / "churn_list.csv", dtype={"customer_id": str})
    # the top of the churn list is the list's own top, with its reasons
    top = s["churn"]["top"]
    assert len(top) == 20
    assert [r["customer_id"] for r in top] == churn["customer_id"].head(20).tolist()
    assert all(r["reason_1"] for r in top)
    assert s["churn"]["value_at_risk_total"] == pytest.approx(churn["value_at_risk"].sum())
    # segments with their churn risk and action; the BG/NBD fit with its flags
    actions = pd.read_csv(demo_dir / "segments" / "actions.csv")
    assert [r["segment_name"] for r in s["segments"]["rows"]] == actions["segment_name"].tolist()
    assert all(r["action"] for r in s["segments"]["rows"])
    assert "churn_probability_mean" in s["segments"]["rows"][0]
    params = json.loads((demo_dir / "clv" / "params.json").read_text())
    assert s["clv"]["flags"] == params["bgnbd"]["flags"]
    assert s["clv"]["bgnbd"]["r"] == pytest.approx(params["bgnbd"]["r"])
    assert (
        s["models"]["champion"]
        == json.loads((demo_dir / "model" / "metrics.json").read_text())["champion"]
    )
    assert s["method"]["steps"]["train"] == "ran"
    html = (demo_dir / "report.html").read_text()
    md = (demo_dir / "report.md").read_text()
    for title in TITLES:
        assert f">{title}</h2>" in html
        assert f"## {title}" in md
    assert 'href="model/report.html"' in html
    # one story: the CLV section names the value forecast the churn list uses, and how each did
    vm = json.loads((demo_dir / "model" / "value_model.json").read_text())
    vf = s["clv"]["value_forecast"]
    assert vf["used"] == vm["kind"] == vm["evaluation"]["used"]
    assert set(vf["gini"]) == set(vm["evaluation"]["candidates"])
    story = f"The churn list's expected value is the {vm['kind']} forecast of net spend"
    assert story in md
    assert "P(alive) is the chance that a customer has not left for good" in md
    # two money totals, two names: BG/NBD's CLV, and the churn list's value if retained
    assert "BG/NBD x Gamma-Gamma CLV over" in md
    assert "expected value if retained" in md
    assert s["churn"]["expected_value_total"] == pytest.approx(churn["expected_value"].sum())
    assert 'alt="Value forecasts by decile"' in html
    # self-contained: every image embedded, nothing fetched
    assert "<img" in html and 'src="http' not in html and "<script" not in html


@pytest.mark.slow
def test_pairs_that_hold_by_definition_are_not_in_plain_words(demo_dir):
    pairs = _summary(demo_dir)["sections"]["features"]["correlations"]["pairs"]
    assert pairs, "some significant pair is left"
    shown = {frozenset((p["var_1"], p["var_2"])) for p in pairs}
    assert frozenset(("tenure_days", "T")) not in shown
    assert all(abs(p["r"]) < 0.999 and p["q_value"] < 0.05 for p in pairs)


@pytest.mark.parametrize(
    ("a", "b", "r", "expected"),
    [
        ("tenure_days", "T", 1.0, True),
        ("recency", "T", 0.6, True),
        ("frequency", "n_orders", 0.97, True),
        ("orders_90d", "spend_90d", 0.9, True),
        ("expected_value", "spend_180d", 0.97, True),
        ("frequency", "loyalty_index", 0.7, False),
        ("age", "expected_value", 0.2, False),
        ("income", "income_eur", -0.9995, True),
    ],
)
def test_definitional(a, b, r, expected):
    from toolkit.features._correlate import definitional

    assert definitional(a, b, r) is expected


# --- a customer table ---------------------------------------------------------------------------


def _customer_table(path, n=90, churn=False):
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, n)
    table = pd.DataFrame(
        {
            "id": [f"K{i:03d}" for i in range(n)],
            "age": 25 + 15 * groups + rng.integers(0, 5, n),
            "income": 30 + 30 * groups + rng.normal(0, 3, n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    if churn:  # the young leave more often
        table["churned"] = np.where(rng.random(n) < np.where(groups == 0, 0.7, 0.2), "Yes", "No")
    table.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_customer_table_gets_segments_and_says_why_there_are_no_models(cli, tmp_path):
    data = _customer_table(tmp_path / "customers.csv")
    out = tmp_path / "run"
    result = cli("run", data, "--out", out)
    assert result.exit_code == 0, result.output
    s = _summary(out)["sections"]
    assert [k for k, v in s.items() if v["available"]] == [
        "data",
        "features",
        "segments",
        "method",
    ]
    assert "no purchase dates" in s["clv"]["absent_reason"]
    assert "--target" in s["models"]["absent_reason"]
    assert s["data"]["kind"] == "customer_table" and s["data"]["rows"] == 90
    assert not (out / "model").exists() and not (out / "churn_list.csv").exists()
    html = (out / "report.html").read_text()
    assert "Not computed:" in html
    assert "train: skipped:" in result.stderr


@pytest.mark.slow
def test_a_customer_table_with_a_churn_column_gets_models_and_a_churn_list(cli, tmp_path):
    data = _customer_table(tmp_path / "customers.csv", n=200, churn=True)
    out = tmp_path / "run"
    args = ["--target", "churned", "--positive", "Yes", "--models", "linear,tree"]
    result = cli("run", data, "--out", out, *args)
    assert result.exit_code == 0, result.output
    s = _summary(out)["sections"]
    assert not s["clv"]["available"]
    assert s["models"]["available"] and s["churn"]["available"]
    assert s["churn"]["customers"] == 200
    # the churn column is an outcome: it describes the segments, it does not shape them
    assert "churned" not in s["segments"]["columns"]
    assert s["method"]["options"]["target"] == "churned"


# --- checks before the first write --------------------------------------------------------------


def _log(path, days):
    rows = [
        f"c{c},{d},{10 + c}"
        for c in range(5)
        for d in pd.date_range("2024-01-01", periods=days, freq="7D").strftime("%Y-%m-%d")
    ]
    path.write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("days", "args", "message"),
    [
        (1, [], "covers a single day (2024-01-01)"),
        (10, ["--cutoff", "2023-06-01"], "--cutoff 2023-06-01 leaves no data"),
        (10, ["--cutoff", "2025-06-01"], "choose a date after 2024-01-01 and at most 2024-03-05"),
    ],
    ids=["one-day", "cutoff-before", "cutoff-after"],
)
def test_run_refuses_data_no_step_can_use_before_writing_anything(
    cli, tmp_path, days, args, message
):
    data = _log(tmp_path / "log.csv", days)
    out = tmp_path / "run"
    result = cli("run", data, "--out", out, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert str(data) in result.stderr  # the input, never an intermediate file
    assert not out.exists()


def test_run_refuses_a_target_for_a_transaction_log(cli, tmp_path):
    data = _log(tmp_path / "log.csv", 10)
    result = cli("run", data, "--out", tmp_path / "run", "--target", "x", "--positive", "1")
    assert result.exit_code == 2
    assert "--target applies to a customer table" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cutoff", "2024-01-01"], "--cutoff applies only to a transaction log"),
        (["--customers-table", "SELF"], "--customers-table applies only to a transaction log"),
        (["--target", "churn", "--positive", "Yes"], "--target 'churn' is not a column"),
        (["--target", "region", "--positive", "east"], "its values are 'north', 'south'"),
        (["--target", "region"], "--target and --positive go together"),
    ],
    ids=["cutoff", "customers-table", "no-such-target", "no-such-value", "target-alone"],
)
def test_run_refuses_log_options_for_a_customer_table(cli, tmp_path, args, message):
    data = _customer_table(tmp_path / "customers.csv")
    args = [str(data) if a == "SELF" else a for a in args]
    result = cli("run", data, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "run").exists()


# --- read once, reuse, skip ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def whitespace_log(tmp_path_factory):
    """A small log in the whitespace-aligned layout of CDNOW (a format read by pandas)."""
    from toolkit.datasets import generate_transactions

    tx, _ = generate_transactions(250, seed=5)
    tx["amount"] = tx["quantity"] * tx["unit_price"]
    orders = (
        tx[tx["quantity"] > 0]
        .groupby(["customer_id", "invoice_no", "invoice_date"], as_index=False)["amount"]
        .sum()
    )
    lines = [f"{'customer':<10}{'date':>10}{'amount':>12}"] + [
        f"{c:<10}{pd.Timestamp(d):%Y%m%d}{a:>12.2f}"
        for c, d, a in zip(
            orders["customer_id"], orders["invoice_date"], orders["amount"], strict=True
        )
    ]
    path = tmp_path_factory.mktemp("ws") / "log.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def first_run(whitespace_log, tmp_path_factory):
    from typer.testing import CliRunner

    from toolkit.cli import app

    out = tmp_path_factory.mktemp("runs") / "run"
    args = ["run", str(whitespace_log), "--out", str(out), "--date-format", "%Y%m%d"]
    result = CliRunner().invoke(app, [*args, "--models", "linear,bgnbd"])
    assert result.exit_code == 0, result.output
    return out, args, result


@pytest.mark.slow
def test_a_slow_format_is_read_once_and_a_second_run_reuses_every_step(cli, first_run):
    out, args, result = first_run
    assert "once (whitespace)" in result.stderr
    copies = list((out / ".toolkit-cache").glob("input-*.parquet"))
    assert len(copies) == 1
    assert set(_run(out)["steps"].values()) == {"ran"}
    second = cli(*args, "--models", "linear,bgnbd")
    assert second.exit_code == 0, second.output
    steps = _run(out)["steps"]
    assert set(steps.values()) == {"reused"}, steps
    assert "reused" in second.stderr
    # an output removed by hand is remade, and so is everything that reads it
    (out / "segments" / "segments.csv").unlink()
    third = cli(*args, "--models", "linear,bgnbd")
    assert third.exit_code == 0, third.output
    steps = _run(out)["steps"]
    assert [k for k, v in steps.items() if v == "ran"] == ["segment", "train", "predict", "report"]
    assert "churn_probability_mean" in pd.read_csv(out / "segments" / "actions.csv")


@pytest.mark.slow
def test_every_money_figure_of_the_report_carries_the_currency(cli, whitespace_log, tmp_path):
    out = tmp_path / "run"
    args = ["run", whitespace_log, "--out", out, "--date-format", "%Y%m%d"]
    result = cli(*args, "--models", "linear,bgnbd", "--currency", "EUR")
    assert result.exit_code == 0, result.output
    report = _summary(out)
    assert report["currency"] == "EUR"
    assert report["sections"]["method"]["options"]["currency"] == "EUR"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    value_line = next(line for line in md.splitlines() if "Value at risk over the horizon" in line)
    assert "EUR " in value_line
    assert "a month): total EUR " in md  # the CLV total
    assert "expected value if retained EUR " in md  # the churn list's
    assert "<strong>EUR " in html


@pytest.mark.slow
def test_the_currency_the_amounts_are_written_in_is_the_reports(cli, tmp_path):
    rng = np.random.default_rng(1)
    lines = ["customer,date,amount"]
    for c in range(60):
        for _ in range(int(rng.integers(1, 7))):
            day = f"2023-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
            lines.append(f"c{c},{day},£{rng.uniform(5, 200):.2f}")
    log = tmp_path / "pounds.csv"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = cli("run", log, "--out", out, "--models", "linear")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "validation.json").read_text())["currency"] == "£"
    report = _summary(out)
    assert report["currency"] == "£"
    headline = (out / "report.md").read_text().splitlines()
    assert any("Value at risk over the horizon: £" in line for line in headline)
    # --currency wins over the sign in the data
    again = cli("run", log, "--out", out, "--models", "linear", "--currency", "GBP")
    assert again.exit_code == 0, again.output
    assert _summary(out)["currency"] == "GBP"


@pytest.mark.parametrize("currency", ["", "E U R", "DOLLARS"])
def test_a_bad_currency_is_refused_before_anything_is_written(cli, tmp_path, currency):
    out = tmp_path / "run"
    result = cli("run", DATA / "features_tiny.csv", "--out", out, "--currency", currency)
    assert result.exit_code == 2
    assert "--currency must be a symbol or code of 1 to 5 characters" in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_step_the_data_cannot_support_is_skipped_with_its_reason(cli, first_run):
    out, args, _ = first_run
    # seven weeks of history before the cutoff cannot label any churn model, nor value customers
    # over 90 days (that needs twice the horizon): the rest still runs
    result = cli(*args, "--models", "linear,bgnbd", "--cutoff", "2022-02-20")
    assert result.exit_code == 0, result.output
    run = _run(out)
    assert run["steps"]["features"] == run["steps"]["segment"] == "ran"
    assert run["steps"]["clv"] == run["steps"]["train"] == run["steps"]["predict"] == "skipped"
    assert "give a longer log or a later --cutoff" in run["skipped"]["train"]
    assert "too little to value customers over 90 days" in run["skipped"]["clv"]
    assert not (out / "model").exists() and not (out / "churn_list.csv").exists()
    assert not (out / "clv").exists()
    s = _summary(out)["sections"]
    assert not s["models"]["available"] and "a later --cutoff" in s["models"]["absent_reason"]
    assert not s["clv"]["available"]


@pytest.mark.slow
def test_a_directory_of_parquet_files_runs_and_a_changed_file_runs_again(cli, tmp_path):
    """The README's `toolkit run history/`: a directory (or glob) of Parquet files is the input;
    its identity for the reuse of steps is its files' paths, sizes and modification times."""
    import os

    from toolkit.datasets import generate_transactions

    tx, _ = generate_transactions(300, seed=7)
    history = tmp_path / "history"
    history.mkdir()
    half = len(tx) // 2
    tx.iloc[:half].to_parquet(history / "a.parquet")
    tx.iloc[half:].to_parquet(history / "b.parquet")
    out = tmp_path / "run"
    args = ("run", str(history), "--out", str(out), "--models", "linear,bgnbd")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert set(_run(out)["steps"].values()) == {"ran"}
    assert (out / "churn_list.csv").exists()
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert set(_run(out)["steps"].values()) == {"reused"}
    # a file of the log rewritten: nothing is reused (the validation and every step read it)
    tx.iloc[half:].head(len(tx) - half - 5).to_parquet(history / "b.parquet")
    os.utime(history / "b.parquet", ns=(1, 1))
    third = cli(*args)
    assert third.exit_code == 0, third.output
    assert "reused" not in set(_run(out)["steps"].values())
    glob = cli("run", str(history / "*.parquet"), "--out", str(tmp_path / "g"), "--models", "bgnbd")
    assert glob.exit_code == 0, glob.output


# --- a history too short to tell loyalty or value ------------------------------------------------

CLAIMS = ("loyal", "vip", "big spender", "champion", "regular", "high value", "steady")


@pytest.fixture(params=["generated-5-days", "online-retail-3-days"])
def short_log(request, tmp_path_factory):
    """A log of a few days: five days of the generator's customers, or Online Retail's rows of
    2010-12-01 to 2010-12-03 (where ../shared/data exists)."""
    path = tmp_path_factory.mktemp("short") / "log.csv"
    if request.param == "generated-5-days":
        from toolkit.datasets import generate_transactions

        tx, _ = generate_transactions(1500, seed=1)
        tx = tx[(tx["invoice_date"] >= "2023-06-01") & (tx["invoice_date"] < "2023-06-06")]
        tx.to_csv(path, index=False)
        return path, 5
    data = request.getfixturevalue("shared_data")
    retail = pd.read_csv(data / "online_retail.csv.gz", dtype=str)
    day = retail["InvoiceDate"].str[:10]
    retail[(day >= "2010-12-01") & (day <= "2010-12-03")].to_csv(path, index=False)
    return path, 3


@pytest.mark.slow
def test_a_short_history_says_what_it_cannot_tell_and_the_run_goes_on(cli, short_log, tmp_path):
    log, days = short_log
    out = tmp_path / "run"
    result = cli("run", log, "--out", out)
    assert result.exit_code == 0, result.output
    # the two plain lines: no value over the horizon, no loyalty in the names
    assert f"{days} days of history before the cutoff" in result.output
    assert "too little to value customers over 90 days" in result.output
    assert f"segments: {days} days of history" in result.output
    assert "too little to tell loyal customers from one-off buyers" in result.output
    run = _run(out)
    assert run["steps"]["clv"] == "skipped" and run["steps"]["segment"] == "ran"
    assert not (out / "clv").exists()
    names = pd.read_csv(out / "segments" / "segments.csv")["segment_name"].unique()
    assert all(n.startswith("segment ") for n in names)
    assert not any(w in n.lower() for n in names for w in CLAIMS)
    actions = pd.read_csv(out / "segments" / "actions.csv")["action"]
    assert not actions.str.contains("VIP").any()
    summary = _summary(out)
    headline = " ".join(summary["headline"])
    assert "Expected value" not in headline and "Value at risk" not in headline
    assert "No customer lifetime value: " in headline and "no expected value shown" in headline
    assert not summary["sections"]["clv"]["available"]
    assert "too little to tell loyal" in summary["sections"]["segments"]["naming_note"]
    md = (out / "report.md").read_text()
    assert "Gamma-Gamma CLV over" not in md and "Names: " in md
    assert "total BG/NBD x Gamma-Gamma CLV" not in (out / "report.html").read_text()


@pytest.mark.slow
def test_segment_and_clv_on_a_short_log_say_so_in_one_line(cli, short_log, tmp_path):
    log, days = short_log
    seg = cli("segment", log, "--out", tmp_path / "seg", "--no-plots")
    assert seg.exit_code == 0, seg.output
    line = [ln for ln in seg.stderr.splitlines() if "too little to tell loyal" in ln]
    assert len(line) == 1 and line[0].startswith(f"segments: {days} days of history")
    names = pd.read_csv(tmp_path / "seg" / "segments.csv")["segment_name"].unique()
    assert not any(w in n.lower() for n in names for w in CLAIMS)
    clv = cli("clv", log, "--out", tmp_path / "clv")
    assert clv.exit_code == 0, clv.output
    assert f"{days} days of history before the cutoff" in clv.stderr
    assert "too little to value customers over 360 days" in clv.stderr
