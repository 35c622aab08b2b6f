"""The churn list: columns, ranks, deciles, value at risk, reasons, segments, formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_synthetic import features_frame, trained_result

from toolkit.btyd._value import expected_value
from toolkit.models._persist import ModelBundle
from toolkit.models.action._churnlist import churn_list


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.from_result(trained_result())


@pytest.fixture(scope="module")
def churn(bundle: ModelBundle) -> pd.DataFrame:
    return churn_list(bundle, features_frame(437, 41))


def test_columns(churn: pd.DataFrame) -> None:
    assert list(churn.columns) == [
        "customer_id",
        "priority_rank",
        "churn_probability",
        "risk_band",
        "risk_rank",
        "risk_decile",
        "expected_value",
        "value_at_risk",
        "last_purchase",
        "recency_days",
        "n_orders",
        "lifetime_spend",
        "avg_days_between_orders",
        "expected_next_order",
        "reason_1",
        "reason_2",
        "reason_3",
    ]
    assert str(churn["customer_id"].dtype) == "string"


def test_default_order_is_money_at_risk_first(churn: pd.DataFrame) -> None:
    assert churn["priority_rank"].tolist() == list(range(1, len(churn) + 1))
    assert churn["value_at_risk"].is_monotonic_decreasing
    assert churn.attrs["toolkit"]["order"] == "value_at_risk"
    # risk ranks still count by probability
    by_risk = churn.sort_values("risk_rank")
    assert by_risk["churn_probability"].is_monotonic_decreasing


def test_ranks_and_deciles_are_consistent(bundle: ModelBundle) -> None:
    churn = churn_list(bundle, features_frame(437, 41), sort="churn_probability")
    n = len(churn)
    assert churn["risk_rank"].tolist() == list(range(1, n + 1))
    assert churn["priority_rank"].tolist() == list(range(1, n + 1))
    assert churn["churn_probability"].is_monotonic_decreasing
    assert churn["risk_decile"].is_monotonic_increasing
    assert churn["risk_decile"].min() == 1 and churn["risk_decile"].max() == 10
    sizes = churn["risk_decile"].value_counts().sort_index()
    assert sizes.max() - sizes.min() <= 1  # equal-count deciles
    assert churn["churn_probability"].between(0, 1).all()


def test_risk_band_follows_the_documented_cuts(churn: pd.DataFrame) -> None:
    p = churn["churn_probability"]
    expected = np.where(p < 0.33, "low", np.where(p < 0.66, "medium", "high"))
    assert churn["risk_band"].astype(str).tolist() == expected.tolist()


def test_expected_next_order_is_empty_for_the_likely_gone(churn: pd.DataFrame) -> None:
    gone = churn["churn_probability"] >= 0.5
    assert churn.loc[gone, "expected_next_order"].isna().all()
    active = churn.loc[~gone]
    assert active["expected_next_order"].notna().all()
    cutoff = pd.Timestamp("2024-01-01")  # features_frame's cutoff
    assert (active["expected_next_order"] >= cutoff).all()


def test_expected_value_is_the_value_if_retained(bundle: ModelBundle) -> None:
    """Two customers alike but for how long they have been silent: BG/NBD gives the silent one
    a lower P(alive), but if retained both are worth the same."""
    frame = features_frame(2, 45)
    frame.loc[:, ["frequency", "T", "lifetime_spend", "tenure_days"]] = [[5, 300, 500.0, 301]] * 2
    frame.loc[:, "recency"] = [290.0, 20.0]
    ev = expected_value(bundle.value_model, frame)
    assert bundle.value_model["kind"] == "bgnbd_gg"
    assert ev[0] == pytest.approx(ev[1]) and ev[0] > 0


def test_no_context_gives_the_bare_list(bundle: ModelBundle) -> None:
    out = churn_list(bundle, features_frame(50, 46), context=False)
    assert list(out.columns) == [
        "customer_id", "priority_rank", "churn_probability", "risk_rank", "risk_decile",
        "value_at_risk", "reason_1", "reason_2", "reason_3",
    ]  # fmt: skip


def test_columns_choose_the_context(bundle: ModelBundle) -> None:
    out = churn_list(bundle, features_frame(50, 46), columns=["n_orders", "risk_band"])
    assert "n_orders" in out.columns and "risk_band" in out.columns
    assert "last_purchase" not in out.columns and "value_at_risk" in out.columns


@pytest.mark.parametrize(
    "columns, match",
    [(["nope"], "unknown column 'nope'"), (["segment"], "cannot be computed")],
    ids=["unknown", "unavailable"],
)
def test_columns_are_checked(bundle: ModelBundle, columns: list[str], match: str) -> None:
    from toolkit.errors import InputError

    with pytest.raises(InputError, match=match):
        churn_list(bundle, features_frame(50, 46), columns=columns)


def test_churn_probability_is_one_minus_p_buy_again(bundle: ModelBundle) -> None:
    frame = features_frame(100, 42)
    out = churn_list(bundle, frame, with_reasons=False).sort_values("customer_id")
    p = bundle.champion_scorer.predict_proba(bundle.batch(frame.sort_values("customer_id")))
    np.testing.assert_allclose(out["churn_probability"], 1 - p, atol=1e-9)


def test_value_at_risk_is_churn_times_expected_value(bundle: ModelBundle) -> None:
    frame = features_frame(120, 43)
    out = churn_list(bundle, frame).set_index("customer_id")
    ev = pd.Series(expected_value(bundle.value_model, frame), index=frame["customer_id"])
    np.testing.assert_allclose(
        out["value_at_risk"], out["churn_probability"] * ev.loc[out.index], rtol=1e-9
    )


def test_top_keeps_the_first_rows(bundle: ModelBundle, churn: pd.DataFrame) -> None:
    top = churn_list(bundle, features_frame(437, 41), top=25)
    assert len(top) == 25
    assert top["customer_id"].tolist() == churn["customer_id"].head(25).tolist()


def test_every_customer_has_a_reason(churn: pd.DataFrame) -> None:
    first = churn["reason_1"]
    assert first.notna().all() and (first != "").all()
    words = r" raises risk by | lowers risk by |\(little effect on risk\)"
    for slot in ("reason_1", "reason_2", "reason_3"):
        texts = churn[slot].fillna("")
        assert (texts.str.contains(words) | (texts == "")).all()


def test_reasons_that_lower_risk_fill_the_slots(churn: pd.DataFrame) -> None:
    safest = churn.sort_values("churn_probability").head(20)
    assert safest["reason_1"].str.contains("lowers risk by").any()


def test_segment_column_when_the_model_has_a_segmenter(tmp_path: Path) -> None:
    from toolkit.segments import Segmenter

    frame = features_frame(300, 44)
    seg = Segmenter(k=3, n_bootstrap=0).fit(frame[["recency_days", "frequency", "lifetime_spend"]])
    b = ModelBundle.from_result(trained_result(), segmenter=seg)
    out = churn_list(b, frame)
    assert "segment" in out.columns
    assert list(out.columns).index("segment") == 6
    assert out["segment"].notna().all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_written_in_every_format(churn: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    from toolkit.io import write_frame

    path = write_frame(churn, tmp_path / f"churn{suffix}")
    back = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": pd.read_json}[suffix](path)
    assert len(back) == len(churn)


def test_numbers_for_people_are_rounded_parquet_keeps_them(
    churn: pd.DataFrame, tmp_path: Path
) -> None:
    from toolkit.io import write_frame
    from toolkit.io._present import round_for_people
    from toolkit.models.action._churnlist import DISPLAY

    write_frame(round_for_people(churn, DISPLAY), tmp_path / "c.csv")
    text = (tmp_path / "c.csv").read_text()
    header, first = text.splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=False))
    assert len(row["churn_probability"].split(".")[-1]) <= 4
    assert len(row["value_at_risk"].split(".")[-1]) <= 2
    assert "." not in row["n_orders"]
    assert "e-0" not in text  # no scientific notation anywhere
    assert len(row["last_purchase"]) == 10  # YYYY-MM-DD
    write_frame(churn, tmp_path / "c.parquet")
    back = pd.read_parquet(tmp_path / "c.parquet")
    np.testing.assert_array_equal(back["churn_probability"], churn["churn_probability"])
    formulas = back.attrs["toolkit"]["formulas"]
    assert formulas["value_at_risk"] == "churn_probability x expected_value"
    assert "if still active" in formulas["expected_value"]
