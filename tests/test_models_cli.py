"""``toolkit train / predict / explain / report`` end to end, and their answers to bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_synthetic import customer_table, trained_result
from typer.testing import CliRunner

import toolkit.cli  # noqa: F401  (registers every command on the app)
from toolkit.commands.common import app
from toolkit.datasets import generate_transactions
from toolkit.models._persist import save_model_dir

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "tx.parquet"
    generate_transactions(1500, seed=5, start="2022-06-01", end="2023-12-31", out=path)
    return path


@pytest.fixture(scope="module")
def model(log: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "M"
    res = run("train", log, "--out", out, "--horizon", "60", "--seed", "1")
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_train_writes_a_complete_model_directory(model: Path) -> None:
    names = {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()}
    assert {
        "manifest.json",
        "metrics.json",
        "report.html",
        "report.md",
        "report.json",
        "value_model.json",
        "models/xgboost.booster.json",
    } <= names
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["horizon"] == 60
    assert manifest["data_fingerprint"]["file"] == "tx.parquet"
    assert manifest["settings"]["evaluation"]["out_of_time"] is True


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_the_churn_list(model: Path, log: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"churn{suffix}"
    res = run("predict", model, log, "--out", out, "--top", "100")
    assert res.exit_code == 0, res.output
    assert "churn_probability = 1 - P(" in res.output
    df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(df) == 100
    assert df["priority_rank"].tolist() == list(range(1, 101))
    assert df["value_at_risk"].is_monotonic_decreasing  # money at risk first
    assert "money at risk first" in res.output
    assert {"reason_1", "reason_2", "reason_3", "value_at_risk", "expected_value"} <= set(
        df.columns
    )
    assert df["reason_1"].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, order, columns",
    [
        (["--sort", "churn_probability"], "churn_probability", None),
        (
            ["--no-context"],
            "value_at_risk",
            [
                "customer_id",
                "priority_rank",
                "churn_probability",
                "risk_rank",
                "risk_decile",
                "value_at_risk",
                "reason_1",
                "reason_2",
                "reason_3",
            ],
        ),
        (["--columns", "n_orders,expected_next_order"], "value_at_risk", None),
    ],
    ids=["sort", "no-context", "columns"],
)
def test_predict_order_and_columns(
    model: Path, log: Path, tmp_path: Path, args: list[str], order: str, columns: list[str] | None
) -> None:
    out = tmp_path / "c.csv"
    res = run("predict", model, log, "--out", out, *args)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert df[order].is_monotonic_decreasing
    if columns is not None:
        assert list(df.columns) == columns
    if "--columns" in args:
        assert {"n_orders", "expected_next_order"} <= set(df.columns)
        assert "lifetime_spend" not in df.columns


@pytest.mark.parametrize(
    "args, match",
    [
        (["--columns", "bogus"], "--columns must be"),
        (["--columns", "n_orders", "--no-context"], "contradict"),
    ],
    ids=["unknown", "contradiction"],
)
def test_predict_refuses_bad_column_options(
    model: Path, log: Path, tmp_path: Path, args: list[str], match: str
) -> None:
    res = run("predict", model, log, "--out", tmp_path / "c.csv", *args)
    assert res.exit_code == 2 and match in res.output


@pytest.mark.slow
def test_predict_at_an_earlier_cutoff(model: Path, log: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    res = run("predict", model, log, "--out", out, "--cutoff", "2023-06-01")
    assert res.exit_code == 0, res.output
    assert "as of 2023-06-01" in res.output
    assert len(pd.read_json(out)) > 0


@pytest.mark.slow
def test_explain_writes_importance_and_plots(model: Path, log: Path, tmp_path: Path) -> None:
    churn = tmp_path / "c.csv"
    run("predict", model, log, "--out", churn)
    cid = pd.read_csv(churn, dtype={"customer_id": str})["customer_id"].iloc[3]
    out = tmp_path / "E"
    res = run("explain", model, log, "--out", out, "--customer", cid)
    assert res.exit_code == 0, res.output
    for name in (
        "importance.csv",
        "importance.png",
        "beeswarm.png",
        f"waterfall_{cid}.png",
        f"customer_{cid}.csv",
    ):
        assert (out / name).exists(), name
    imp = pd.read_csv(out / "importance.csv")
    assert imp["mean_abs_contribution"].is_monotonic_decreasing
    res = run("explain", model, log, "--out", out, "--customer", "nobody")
    assert res.exit_code == 2
    assert "'nobody'" in res.output


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".html", ".md", ".json"])
def test_report_rerenders(model: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"r{suffix}"
    res = run("report", model, "--out", out)
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "xgboost" in text and "days_since_last_purchase" in text
    if suffix == ".md":
        assert text == (model / "report.md").read_text()


@pytest.mark.slow
def test_a_tampered_model_is_refused_by_predict(model: Path, log: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    (bad / "value_model.json").write_text('{"kind": "none"}')
    res = run("predict", bad, log, "--out", tmp_path / "x.csv")
    assert res.exit_code == 2
    assert "SHA-256" in res.output


# --- fast answers to bad input ------------------------------------------------------------------


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "telco.csv"
    customer_table(300).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "tx.csv"
    generate_transactions(200, seed=2, start="2023-01-01", end="2023-12-31", out=path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "linear,forest"], "--models must be"),
        (["--target", "churn", "--positive", "Yes"], "--target 'churn' is not a column"),
        (["--target", "Churn", "--positive", "Maybe"], "--positive 'Maybe' is not a value"),
        (["--target", "Churn"], "--target and --positive go together"),
        ([], "no date column"),
    ],
    ids=["unknown-model", "missing-target", "absent-positive", "target-alone", "table-no-target"],
)
def test_train_refuses_bad_input(
    table: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    res = run("train", table, "--out", tmp_path / "M", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("cutoff", ["2030-01-01", "2020-01-01"])
def test_train_refuses_a_cutoff_outside_the_data(
    small_log: Path, tmp_path: Path, cutoff: str
) -> None:
    res = run("train", small_log, "--out", tmp_path / "M", "--cutoff", cutoff)
    assert res.exit_code == 2, res.output
    assert cutoff in res.output


def test_train_refuses_a_cutoff_without_enough_history(small_log: Path, tmp_path: Path) -> None:
    res = run(
        "train", small_log, "--out", tmp_path / "M", "--cutoff", "2023-03-01", "--horizon", "30"
    )
    assert res.exit_code == 2, res.output
    assert "history" in res.output


def test_predict_refuses_a_model_directory_with_a_pickle(small_log: Path, tmp_path: Path) -> None:
    import pickle

    m = tmp_path / "M"
    save_model_dir(trained_result(), m)
    (m / "model.pkl").write_bytes(pickle.dumps([1, 2]))
    res = run("predict", m, small_log, "--out", tmp_path / "c.csv")
    assert res.exit_code == 2
    assert "pickle" in res.output


def test_report_refuses_to_write_into_the_model_directory(tmp_path: Path) -> None:
    m = tmp_path / "M"
    save_model_dir(trained_result(), m, report=None)
    res = run("report", m, "--out", m / "again.html")
    assert res.exit_code == 2
    assert "is inside the saved model" in res.output


@pytest.mark.slow
def test_target_mode_end_to_end(table: Path, tmp_path: Path) -> None:
    m = tmp_path / "T"
    res = run(
        "train", table, "--out", m, "--target", "Churn", "--positive", "Yes", "--models", "linear"
    )
    assert res.exit_code == 0, res.output
    assert "churn probability = P(Churn = 'Yes')" in res.output
    out = tmp_path / "c.csv"
    res = run("predict", m, table, "--out", out)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 300 and df["customer_id"].str.endswith("-X").all()


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        ("id-target", ["--target", "customerID", "--positive", "0000-X"], "is the customer id"),
        ("repeat-ids", ["--target", "Churn", "--positive", "Yes"], "appears 2 times"),
        ("constant", ["--target", "Churn", "--positive", "Yes"], "no feature column varies"),
    ],
    ids=["target-is-the-id", "ids-repeat", "nothing-varies"],
)
def test_target_mode_refuses_tables_it_cannot_learn_from(
    table: Path, tmp_path: Path, change: str, args: list[str], message: str
) -> None:
    df = pd.read_csv(table)
    if change == "repeat-ids":  # rows of a log, not one per customer
        df = pd.concat([df, df.head(20)], ignore_index=True)
    elif change == "constant":
        df = df.assign(tenure=5, Contract="Two year", MonthlyCharges=20.0)
    data = tmp_path / "t.csv"
    df.to_csv(data, index=False)
    res = run("train", data, "--out", tmp_path / "m", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "m").exists()


def test_a_segmenter_of_other_columns_is_refused_before_training(log: Path, tmp_path: Path):
    table = tmp_path / "people.csv"
    table.write_text(
        "CustomerID,age,income\n" + "".join(f"{i},{20 + i % 40},{i % 7}\n" for i in range(60))
    )
    res = run("segment", table, "--out", tmp_path / "S", "--k", "3")
    assert res.exit_code == 0, res.output
    res = run("train", log, "--out", tmp_path / "m", "--segmenter", tmp_path / "S" / "segmenter")
    assert res.exit_code == 2, res.output
    assert "--segmenter uses columns 'age', 'income', which the features of" in res.output
    assert not (tmp_path / "m").exists()


# --- a horizon longer than the history gives labels for ------------------------------------------


@pytest.mark.slow
def test_a_long_horizon_is_scored_by_bgnbd_and_said(log: Path, tmp_path: Path) -> None:
    """Data from 2022-06-01; at 2023-04-01 a 365-day horizon has no labels before the cutoff."""
    from datetime import date

    from toolkit.btyd import fit_standard
    from toolkit.features import compute_features, data_range
    from toolkit.io import read_transactions
    from toolkit.models.training._from_log import longest_label_horizon

    m = tmp_path / "M"
    res = run("train", log, "--out", m, "--cutoff", "2023-04-01", "--horizon", "365",
              "--models", "linear")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "longer than the history before 2023-04-01 gives labels for" in res.output
    assert "BG/NBD was added to the models" in res.output
    manifest = json.loads((m / "manifest.json").read_text())
    long = manifest["settings"]["long_horizon"]
    first = data_range(read_transactions(log))[0]
    label_days, _ = longest_label_horizon(date(2023, 4, 1), first)
    assert (long["asked_days"], long["label_days"], long["out_of_time"]) == (365, label_days, True)
    assert 100 < label_days < 150
    assert manifest["champion"] == "bgnbd"
    assert f"at {label_days} days" in (m / "report.html").read_text()
    metrics = json.loads((m / "metrics.json").read_text())
    assert metrics["long_horizon"]["asked_days"] == 365
    # on this log BG/NBD ranks churn best at the label horizon, so it scores the asked one
    assert "bgnbd ranked churn best there" in metrics["long_horizon"]["note"]
    assert "bgnbd at 365 days, refitted" in metrics["long_horizon"]["note"]
    out = tmp_path / "c.parquet"
    res = run("predict", m, log, "--cutoff", "2023-04-01", "--out", out)
    assert res.exit_code == 0, res.output
    churn = pd.read_parquet(out).sort_values("customer_id", ignore_index=True)
    f = compute_features(read_transactions(log), cutoff="2023-04-01")
    f = f.sort_values("customer_id", ignore_index=True)
    bg = fit_standard(f["frequency"], f["recency"], f["T"])
    expected = 1 - bg.p_any_purchase(365, f["frequency"], f["recency"], f["T"])
    np.testing.assert_allclose(churn["churn_probability"], expected, atol=1e-9)


# --- value of a customer table ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--value-col", "MonthlyCharges"]], ids=["found", "given"])
def test_a_customer_table_is_valued_by_its_spend_column(
    table: Path, tmp_path: Path, args: list[str]
) -> None:
    m = tmp_path / "T"
    res = run("train", table, "--out", m, "--target", "Churn", "--positive", "Yes",
              "--models", "linear", *args)  # fmt: skip
    assert res.exit_code == 0, res.output
    if not args:
        assert "'MonthlyCharges' was taken as each customer's spend per period" in res.output
    out = tmp_path / "c.parquet"
    res = run("predict", m, table, "--out", out)
    assert res.exit_code == 0, res.output
    churn = pd.read_parquet(out).set_index("customer_id")
    charges = pd.read_csv(table).set_index("customerID")["MonthlyCharges"]
    np.testing.assert_allclose(churn["expected_value"], charges.loc[churn.index])
    np.testing.assert_allclose(
        churn["value_at_risk"], churn["churn_probability"] * churn["expected_value"]
    )
    assert churn["value_at_risk"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "Churn", "--positive", "Yes", "--value-col", "Contract"],
            "must hold numbers",
        ),
        (["--target", "Churn", "--positive", "Yes", "--value-col", "nope"], "is not a feature"),
        (["--value-col", "MonthlyCharges"], "applies to a customer table with --target"),
    ],
    ids=["text", "absent", "no-target"],
)
def test_value_col_is_checked(table: Path, tmp_path: Path, args: list[str], message: str) -> None:
    res = run("train", table, "--out", tmp_path / "M", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output


@pytest.mark.slow
def test_one_bgnbd_fit_per_cutoff_across_commands(log: Path, model: Path, tmp_path: Path) -> None:
    """features, clv (default) and the churn model's value model give the same fit at a cutoff."""
    from toolkit.features import compute_features, data_range
    from toolkit.io import read_transactions
    from toolkit.models._persist import load_model_dir

    bundle = load_model_dir(model)
    cutoff = bundle.settings.cutoff
    assert bundle.value_model["fitted_at"] == cutoff
    tx = read_transactions(log)
    assert str(data_range(tx)[1]) < cutoff
    from_features = compute_features(tx, cutoff=cutoff, btyd=True).attrs["btyd"]["bgnbd"]
    res = run("clv", log, "--out", tmp_path / "clv", "--cutoff", cutoff)
    assert res.exit_code == 0, res.output
    from_clv = json.loads((tmp_path / "clv" / "params.json").read_text())["bgnbd"]
    for k in ("r", "alpha", "a", "b"):
        assert from_features[k] == from_clv[k] == bundle.value_model["bgnbd"][k], k
