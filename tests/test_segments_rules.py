"""The analyst's defaults of segmentation: which columns cluster and why, parsimony when the
evidence is flat, and the playbook of actions. Small generated tables, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from toolkit.errors import InputError
from toolkit.segments import Segmenter, fit_preprocessor
from toolkit.segments._columns import plan_columns
from toolkit.segments._methods import vote_k
from toolkit.segments._playbook import actions_table, churn_by_segment, suggest

N = 60


def base_table(seed: int = 0) -> pd.DataFrame:
    """Two behaviour groups (spend, visits) and nothing else."""
    rng = np.random.default_rng(seed)
    group = np.repeat([0, 1], N // 2)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(N)],
            "spend": np.where(group == 0, 100.0, 900.0) + rng.normal(0, 20, N),
            "visits": np.where(group == 0, 2.0, 12.0) + rng.normal(0, 1, N),
        }
    )


def _with(column: str, values) -> pd.DataFrame:
    df = base_table()
    df[column] = values
    return df


rng = np.random.default_rng(1)
CASES = {
    # name: (column, values, decision, fragment of the reason)
    "flag-0-1": ("vip", rng.integers(0, 2, N), "describe", "0/1 flag"),
    "flag-bool": ("newsletter", rng.integers(0, 2, N).astype(bool), "describe", "0/1 flag"),
    "code-3-values": ("Region", rng.integers(1, 4, N), "describe", "code: 3 distinct"),
    "count-not-a-code": ("kids", rng.integers(0, 3, N), "numeric", "behaviour"),
    "constant": ("Z_CostContact", np.full(N, 3), "skipped", "constant"),
    "response": ("Response", rng.integers(0, 2, N), "skipped", "outcome"),
    "accepted": ("AcceptedCmp3", rng.integers(0, 2, N), "skipped", "outcome"),
    "churn": ("churned", rng.integers(0, 2, N), "skipped", "outcome"),
    "free-text": (
        "comment",
        [f"comment {i % 25}" for i in range(N)],
        "skipped",
        "free text: 25 distinct",
    ),
    "near-unique-text": (
        "email",
        [f"user{i}@example.com" for i in range(N)],
        "skipped",
        "near-unique text",
    ),
    "category": (
        "Education",
        rng.choice(["Basic", "Graduation", "PhD"], N),
        "describe",
        "category",
    ),
    "other-date": (
        "last_visit",
        pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, N), unit="D"),
        "skipped",
        "not a signup-like date",
    ),
}


@pytest.mark.parametrize(("column", "values", "decision", "reason"), CASES.values(), ids=CASES)
def test_each_column_rule(column, values, decision, reason) -> None:
    prep = fit_preprocessor(_with(column, values), None)
    placed = {
        "numeric": prep.numeric,
        "describe": prep.describe,
        "skipped": prep.skipped,
    }
    assert column in placed[decision], prep.reasons
    assert reason in prep.reasons[column]
    assert prep.reasons["customer_id"].startswith("id:")
    assert prep.numeric[:2] == ["spend", "visits"]


def test_near_constant_column_is_left_out() -> None:
    values = np.zeros(200)
    values[0] = 1.0  # one customer in 200: 99.5% of the rows hold 0
    df = pd.DataFrame({"spend": np.arange(200.0), "rare": values * 5 + 2})
    prep = fit_preprocessor(df, None)
    assert prep.skipped == ["rare"] and "near-constant" in prep.reasons["rare"]


def test_target_given_is_left_out() -> None:
    df = _with("bought_again", np.arange(N) % 7)
    assert "bought_again" in fit_preprocessor(df, None).numeric
    prep = fit_preprocessor(df, None, target="bought_again")
    assert "bought_again" in prep.skipped and "outcome" in prep.reasons["bought_again"]


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("signup_date", pd.to_datetime(["2024-03-01", "2024-01-01"] * (N // 2))),
        ("Dt_Customer", ["01-03-2024", "01-01-2024"] * (N // 2)),  # text, day first
    ],
    ids=["datetime", "text-day-first"],
)
def test_signup_date_becomes_an_age_in_days(column, values) -> None:
    df = _with(column, values)
    prep = fit_preprocessor(df, None, scale="none", log_skewed=False)
    derived = f"{column}_age_days"
    assert derived in prep.numeric and prep.ages[derived] == [column, "2024-03-01"]
    assert "signup-like date" in prep.reasons[column]
    ages = prep.transform(df)[:, prep.numeric.index(derived)]
    np.testing.assert_array_equal(ages[:2], [0.0, 60.0])  # 2024 is a leap year


def test_signup_age_that_repeats_tenure_is_left_out() -> None:
    df = _with("first_purchase", pd.Timestamp("2024-06-01") - pd.to_timedelta(np.arange(N), "D"))
    df["tenure_days"] = np.arange(N) + 3.0
    prep = fit_preprocessor(df, None)
    assert (
        "first_purchase" in prep.skipped
        and "repeats 'tenure_days'" in prep.reasons["first_purchase"]
    )


def test_categories_cluster_when_asked_or_when_nothing_else() -> None:
    df = _with("Region", np.arange(N) % 3 + 1)
    prep = fit_preprocessor(df, None, include_categorical=True, scale="none")
    assert prep.categorical == ["Region"] and prep.categories["Region"] == ["1", "2", "3"]
    only = pd.DataFrame({"colour": ["red", "blue", "green"] * 10, "size": ["S", "L"] * 15})
    prep = fit_preprocessor(only, None)
    assert prep.categorical == ["colour", "size"]
    assert "no behavioural number" in prep.reasons["colour"]


def test_nothing_usable_names_every_column() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "c": [1, 1, 1]})
    with pytest.raises(InputError, match=r"no usable clustering columns.*'c': constant"):
        fit_preprocessor(df, None)


def test_codes_and_outcomes_do_not_drive_the_segments() -> None:
    # spend groups are independent of the codes; the codes would split the table on their own
    df = base_table()
    df["Channel"] = np.tile([1, 2], N // 2)
    df["Region"] = np.tile([1, 2, 3], N // 3)
    df["Response"] = np.tile([0, 1], N // 2)
    seg = Segmenter(k=2, n_bootstrap=0).fit(df)
    assert seg.preprocessor_.columns == ["spend", "visits"]
    truth = np.repeat([0, 1], N // 2)
    assert adjusted_rand_score(truth, seg.labels_) == 1.0
    assert {"Channel=1_share", "Region=3_share"} <= set(seg.profiles_.columns)


def test_plan_columns_with_given_columns_still_describes() -> None:
    df = _with("Gender", ["F", "M"] * (N // 2))
    prep = fit_preprocessor(df, ["spend"])
    assert prep.numeric == ["spend"] and prep.describe == ["Gender"]
    assert plan_columns(df).describe == ["Gender"]


# --- parsimony -----------------------------------------------------------------------------------


def _table(sil, sd):
    ks = list(range(2, 2 + len(sil)))
    return pd.DataFrame(
        {
            "k": ks,
            "silhouette": sil,
            "silhouette_sd": sd,
            "calinski_harabasz": sil,
            "davies_bouldin": [1 - s for s in sil],
        }
    )


@pytest.mark.parametrize(
    ("sil", "expected"),
    [
        ([0.30, 0.38, 0.423, 0.425, 0.414, 0.427], 4),  # 4..7 within 0.013 of 0.427
        ([0.30, 0.40, 0.55, 0.53, 0.50, 0.45], 4),  # a clear peak: no change
        ([0.50, 0.499, 0.45, 0.40, 0.30, 0.20], 2),
    ],
    ids=["flat-top", "clear-peak", "already-smallest"],
)
def test_parsimony_picks_the_smallest_k_within_the_noise(sil, expected) -> None:
    k, reason = vote_k(_table(sil, [0.013] * len(sil)), None)
    assert k == expected
    assert ("parsimony" in reason) == (expected != int(np.argmax(sil)) + 2)


def test_selection_records_the_silhouette_noise() -> None:
    df = base_table()
    seg = Segmenter(k_range=(2, 4), n_bootstrap=0).fit(df)
    sd = seg.selection_["silhouette_sd"]
    assert sd.notna().all() and (sd > 0).all() and (sd < 0.1).all()


# --- playbook ------------------------------------------------------------------------------------

RFM = {"recency": "r", "frequency": "f", "value": "m", "order_value": "aov", "tenure": "t"}


@pytest.mark.parametrize(
    ("z", "rule", "word"),
    [
        ({"r": 1.2, "f": 0.9, "m": 1.1}, "high value, lapsing", "win-back"),
        ({"r": -0.8, "t": -1.2, "f": -0.4}, "new", "onboarding"),
        ({"r": 1.3, "f": -0.8, "m": -0.9}, "low value, lapsing", "let go"),
        ({"r": -0.7, "f": 1.2, "aov": -0.9}, "high frequency, low order value", "bundles"),
        ({"r": -0.7, "f": 1.0, "m": 1.4, "aov": 0.5}, "high value, active", "early access"),
        ({"r": 0.0, "f": 0.1, "m": -0.9}, "low affinity", "education"),
        ({"r": 0.1, "f": 0.1, "m": 0.1}, "average", "nurture"),
    ],
    ids=["win-back", "new", "low-lapsing", "bundles", "vip", "low-affinity", "average"],
)
def test_playbook_rules_on_rfm_profiles(z, rule, word) -> None:
    got = suggest(pd.Series(z, dtype=float), RFM)
    assert got[0] == rule and word in got[1]


@pytest.mark.parametrize(
    ("z", "overdue", "rule", "word"),
    [
        # a VIP profile whose median customer is silent 3 x their usual gap: win-back
        ({"r": -0.7, "f": 1.0, "m": 1.4}, 3.0, "high value, lapsing", "win-back"),
        ({"r": -0.7, "f": 1.0, "m": 1.4}, 1.5, "high value, active", "early access"),
        ({"r": -0.7, "f": 1.0, "m": 1.4}, None, "high value, active", "early access"),
        # new customers gone quiet are not onboarded but reactivated
        ({"r": -0.8, "t": -1.2, "f": -0.4}, 2.5, "lapsing", "reactivation"),
        ({"r": 0.0, "f": -0.8, "m": -0.9}, 4.0, "low value, lapsing", "let go"),
    ],
    ids=["vip-quiet", "vip-in-rhythm", "vip-unknown", "new-quiet", "low-quiet"],
)
def test_playbook_reads_a_segment_gone_quiet_as_lapsing(z, overdue, rule, word) -> None:
    got = suggest(pd.Series(z, dtype=float), RFM, overdue)
    assert got[0] == rule and word in got[1]
    assert ("x their usual gap" in got[2]) == (overdue is not None and overdue > 2)


@pytest.mark.parametrize(
    ("income", "spending", "rule"),
    [
        (1.2, -1.1, "high income, low spending"),
        (1.0, 1.1, "high income, high spending"),
        (-1.2, 1.0, "low income, high spending"),
        (-1.0, -1.0, "low income, low spending"),
    ],
)
def test_playbook_rules_on_income_and_spending(income, spending, rule) -> None:
    roles = {"income": "Annual Income (k$)", "spending": "Spending Score (1-100)"}
    z = pd.Series({"Annual Income (k$)": income, "Spending Score (1-100)": spending})
    assert suggest(z, roles)[0] == rule


def test_churn_puts_at_risk_segments_first_with_a_retention_offer() -> None:
    segments = pd.DataFrame({"customer_id": list("abcdefgh"), "segment": [0, 0, 0, 0, 1, 1, 2, 2]})
    churn = pd.DataFrame(
        {
            "customer_id": list("abcdefgh"),
            "churn_probability": [0.1, 0.1, 0.1, 0.1, 0.9, 0.7, 0.2, 0.2],
            "value_at_risk": [1.0, 1.0, 1.0, 1.0, 50.0, 30.0, 5.0, 5.0],
        }
    )
    stats = churn_by_segment(segments, churn)
    assert stats.attrs["overall_churn_probability"] == pytest.approx(0.3)
    profiles = pd.DataFrame(
        {"segment": [0, 1, 2], "segment_name": ["a", "b", "c"], "size": [4, 2, 2], "share": 0.0}
    )
    suggestions = {s: ("average", "nurture: newsletter", "") for s in range(3)}
    table = actions_table(profiles, suggestions, stats)
    assert table["segment"].tolist() == [1, 2, 0]  # at risk first, then by value at risk
    assert table["at_risk"].tolist() == [True, False, False]
    assert table.loc[0, "action"].startswith("retention offer first (churn risk 80% vs 30%")
    assert table.loc[0, "value_at_risk_total"] == 80.0
    assert (table["basis"] == "heuristic").all()


def test_a_signup_age_survives_save_and_load(tmp_path) -> None:
    df = _with("signup_date", pd.to_datetime(["2024-03-01", "2023-01-01"] * (N // 2)))
    seg = Segmenter(k=2, n_bootstrap=0).fit(df)
    assert "signup_date_age_days" in seg.preprocessor_.model_columns
    assert "signup_date" in seg.preprocessor_.columns  # what a new table must hold
    again = Segmenter.load(seg.save(tmp_path / "seg"))
    np.testing.assert_array_equal(again.predict(df), seg.labels_)
    assert again.actions_ == seg.actions_
