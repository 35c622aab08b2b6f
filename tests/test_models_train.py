"""Training: feature schema, preprocessing, the models, the evaluation protocol, bad input."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from models_synthetic import customer_table, features_frame

from toolkit.errors import InputError
from toolkit.models.estimators._base import Batch
from toolkit.models.estimators._data import FeatureSchema
from toolkit.models.estimators._linear import LinearPreprocessor
from toolkit.models.training._from_table import target_labels, train_from_table
from toolkit.models.training._train import _validation_split, origin_dates, train_models


@pytest.fixture(scope="module")
def trained():
    train = pd.concat(
        [features_frame(700, 1, origin="2023-09-01"), features_frame(700, 2, origin="2023-10-01")],
        ignore_index=True,
    )
    evaluate = features_frame(600, 3)
    return train_models(train, evaluate, horizon=90, seed=0, n_boot=50)


def test_schema_keeps_features_and_leaves_out_ids_dates_labels() -> None:
    df = features_frame(50).assign(
        origin=pd.Timestamp("2024-01-01"), note=[f"t{i}" for i in range(50)]
    )
    s = FeatureSchema.infer(df, exclude=("repeat_purchase",))
    assert "customer_id" not in s.features
    assert not {"first_purchase", "last_purchase", "holdout_spend", "origin"} & set(s.features)
    assert "note" in s.ignored  # free text with one value a row is not a category
    assert "recency_days" in s.numeric


def test_every_model_and_reference_row_is_trained(trained) -> None:
    assert set(trained.metrics) == {
        "linear",
        "logistic",
        "tree",
        "xgboost",
        "bgnbd",
        "bgnbd_expected",
        "ensemble",
        "days_since_last_purchase",
        "repeat_purchases",
    }
    assert trained.champion in {"linear", "logistic", "tree", "xgboost", "bgnbd", "ensemble"}
    assert "r2" in trained.metrics["linear"]
    assert "r2" not in trained.metrics["xgboost"]
    for m in trained.metrics.values():
        assert set(m) >= {
            "roc_auc",
            "pr_auc",
            "accuracy",
            "precision",
            "recall",
            "f1",
            "brier",
            "log_loss",
            "top_decile_lift",
        }
    # the synthetic label depends on recency and frequency: every learned model sees it
    assert trained.metrics["logistic"]["roc_auc"]["value"] > 0.7


def test_probabilities_are_probabilities(trained) -> None:
    b = Batch(features_frame(200, 9), trained.schema)
    for s in trained.scorers.values():
        p = s.predict_proba(b)
        assert np.all((p > 0) & (p < 1))


def test_linear_models_say_how_they_treat_missing_values(trained) -> None:
    ols = trained.scorers["linear"].summary_
    assert "gap_mean" in ols["note"] and "missing-indicator" in ols["note"]
    assert any(c["term"] == "gap_mean missing" for c in ols["coefficients"])
    assert all(0 <= c["p_value"] <= 1 for c in ols["coefficients"])
    assert any("missing" in n for n in trained.notes)


def test_collinear_columns_are_left_out_of_the_linear_models() -> None:
    df = features_frame(300)
    df["T_copy"] = df["T"] * 2 + 1
    s = FeatureSchema.infer(df, exclude=("repeat_purchase",))
    prep = LinearPreprocessor().fit(Batch(df, s))
    assert any("T_copy" in d or d.endswith("T") for d in prep.dropped_)


def test_tree_rules_are_text(trained) -> None:
    rules = trained.scorers["tree"].rules_
    assert "|---" in rules and "class:" in rules


def test_final_models_reuse_the_evaluation_hyperparameters(trained) -> None:
    chosen = trained.scorers["xgboost"].chosen_
    assert len(chosen["search"]) == 1  # the final fit only re-chose the number of rounds


@pytest.mark.parametrize(
    ("models", "message"),
    [(["linear", "forest"], "forest"), ([], "empty")],
    ids=["unknown", "empty"],
)
def test_bad_model_names(models: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        train_models(features_frame(300), features_frame(100, 1), models=models)


def test_one_class_label_is_refused() -> None:
    df = features_frame(300).assign(repeat_purchase=1)
    with pytest.raises(InputError, match="too few customers of one class"):
        train_models(df, features_frame(100, 1), models=["linear"])


def test_too_few_rows_are_refused() -> None:
    with pytest.raises(InputError, match="too few"):
        train_models(features_frame(40), features_frame(100, 1), models=["linear"])


def test_origins_by_hand() -> None:
    got = origin_dates(date(2011, 9, 10), 91, date(2010, 12, 1))
    assert got == [date(2011, 6, 11), date(2011, 5, 12), date(2011, 4, 12), date(2011, 3, 13)]
    # every label window ends by the cutoff, every origin has 60 days of history
    assert origin_dates(date(2011, 2, 1), 30, date(2010, 12, 1)) == []


def test_validation_split_is_time_ordered_across_origins() -> None:
    frame = pd.concat(
        [features_frame(30, 1, origin="2023-09-01"), features_frame(20, 2, origin="2023-10-01")],
        ignore_index=True,
    )
    val = _validation_split(frame, seed=0)
    # the newest origin validates, every older row trains, whatever the seed
    assert val.tolist() == [False] * 30 + [True] * 20
    assert (_validation_split(frame, seed=5) == val).all()
    # one origin: a random share of the customers, every row of a customer on one side
    one = pd.concat([features_frame(200, 1)] * 2, ignore_index=True)
    val = _validation_split(one, seed=0)
    assert 0.1 < val.mean() < 0.4
    assert (val[:200] == val[200:]).all()


def test_ols_baseline_learns_from_every_row(trained) -> None:
    # nothing to tune: the validation rows (the newest origin) are learnt from too; the final
    # fit has 2 x 700 training rows and the 600 evaluation rows
    assert trained.scorers["linear"].summary_["n"] == 2000


def test_target_mode_one_hot_and_cross_validation() -> None:
    table = customer_table(500)
    res = train_from_table(
        table,
        target="Churn",
        positive="Yes",
        models=["linear", "tree"],
        id_column="customerID",
        n_boot=30,
    )
    assert "Contract" in res.schema.categorical
    assert "Contract=Month-to-month" in res.schema.encoded_names
    assert res.settings.churn_is_positive is True
    assert res.settings.churn_probability == "P(Churn = 'Yes')"
    assert "stratified 5-fold" in res.settings.evaluation["method"]
    assert res.metrics["logistic"]["roc_auc"]["value"] > 0.65
    assert "customer_id" not in res.schema.features


@pytest.mark.parametrize(
    ("target", "positive", "message"),
    [
        ("churn", "Yes", "not a column"),
        ("Churn", "Maybe", "not a value"),
        ("Contract", "Two year", None),
    ],
    ids=["missing-column", "absent-value", "ok"],
)
def test_target_labels(target: str, positive: str, message: str | None) -> None:
    table = customer_table(100)
    if message is None:
        y = target_labels(table, target, positive)
        assert y.sum() == (table["Contract"] == "Two year").sum()
    else:
        with pytest.raises(InputError, match=message):
            target_labels(table, target, positive)


def test_library_errors_name_the_parameter_and_the_cli_the_option() -> None:
    """A Python user has no --target: the library says `target`, the CLI says --target."""
    from toolkit.commands.common import in_cli_words
    from toolkit.models.training._from_table import train_from_table

    with pytest.raises(InputError) as exc:
        train_from_table(customer_table(120), target="churn", positive="Yes")
    message = str(exc.value)
    assert message.startswith("`target` 'churn' is not a column") and "--" not in message
    assert in_cli_words(message).startswith("--target 'churn' is not a column")
