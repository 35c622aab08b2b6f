"""The churn list: columns, ranks, deciles, value at risk, reasons, segments, formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from models_synthetic import features_frame, trained_result

from toolkit.models._churnlist import churn_list
from toolkit.models._persist import ModelBundle
from toolkit.models._value import expected_value


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.from_result(trained_result())


@pytest.fixture(scope="module")
def churn(bundle: ModelBundle) -> pd.DataFrame:
    return churn_list(bundle, features_frame(437, 41))


def test_columns(churn: pd.DataFrame) -> None:
    assert list(churn.columns) == [
        "customer_id",
        "churn_probability",
        "risk_rank",
        "risk_decile",
        "value_at_risk",
        "reason_1",
        "reason_2",
        "reason_3",
    ]
    assert str(churn["customer_id"].dtype) == "string"


def test_ranks_and_deciles_are_consistent(churn: pd.DataFrame) -> None:
    n = len(churn)
    assert churn["risk_rank"].tolist() == list(range(1, n + 1))
    assert churn["churn_probability"].is_monotonic_decreasing
    assert churn["risk_decile"].is_monotonic_increasing
    assert churn["risk_decile"].min() == 1 and churn["risk_decile"].max() == 10
    sizes = churn["risk_decile"].value_counts().sort_index()
    assert sizes.max() - sizes.min() <= 1  # equal-count deciles
    assert churn["churn_probability"].between(0, 1).all()


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


def test_top_keeps_the_riskiest(bundle: ModelBundle, churn: pd.DataFrame) -> None:
    top = churn_list(bundle, features_frame(437, 41), top=25)
    assert len(top) == 25
    assert top["customer_id"].tolist() == churn["customer_id"].head(25).tolist()


def test_reasons_are_sentences_about_features(churn: pd.DataFrame) -> None:
    first = churn["reason_1"].fillna("")
    assert (first.str.contains(" raises risk by ") | (first == "")).all()
    assert (first != "").mean() > 0.5


def test_segment_column_when_the_model_has_a_segmenter(tmp_path: Path) -> None:
    from toolkit.segments import Segmenter

    frame = features_frame(300, 44)
    seg = Segmenter(k=3, n_bootstrap=0).fit(frame[["recency_days", "frequency", "lifetime_spend"]])
    b = ModelBundle.from_result(trained_result(), segmenter=seg)
    out = churn_list(b, frame)
    assert "segment" in out.columns
    assert list(out.columns).index("segment") == 4
    assert out["segment"].notna().all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_written_in_every_format(churn: pd.DataFrame, tmp_path: Path, suffix: str) -> None:
    from toolkit.io import write_frame

    path = write_frame(churn, tmp_path / f"churn{suffix}")
    back = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".json": pd.read_json}[suffix](path)
    assert len(back) == len(churn)
