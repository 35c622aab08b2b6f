"""Segmentation: preprocessing, parameter choice, indices, names, profiles, persistence.

Tables are small enough to check by hand; every random draw is seeded.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.pipeline import Pipeline

from toolkit.errors import InputError, UnsafeModelError
from toolkit.segments import Segmenter, fit_preprocessor, parse_k_range, readable, rfm_roles
from toolkit.segments._names import NOISE_NAME, name_segments
from toolkit.segments._profiles import profile_table

METHODS = ["kmeans", "hierarchical", "gmm", "dbscan"]
FAST = {"k_range": (2, 5), "n_bootstrap": 2}


def blobs(n_per: int = 20, seed: int = 0, centers=((0, 0), (10, 0), (0, 10))) -> pd.DataFrame:
    """Well separated round groups of ``n_per`` customers each, with an id column."""
    rng = np.random.default_rng(seed)
    pts = np.vstack([rng.normal(c, 0.6, size=(n_per, 2)) for c in centers])
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(len(pts))],
            "a": pts[:, 0],
            "b": pts[:, 1],
        }
    )


# --- preprocessing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ("none", [0.0, 2.0, 4.0, 10.0]),
        ("minmax", [0.0, 0.2, 0.4, 1.0]),
        ("standard", (np.array([0.0, 2.0, 4.0, 10.0]) - 4) / np.sqrt(14)),  # mean 4, var 56/4
        ("robust", [-0.75, -0.25, 0.25, 1.75]),  # median 3, IQR 5.5 - 1.5 = 4
    ],
    ids=["none", "minmax", "standard", "robust"],
)
def test_scaling_by_hand(scale: str, expected: list[float]) -> None:
    df = pd.DataFrame({"x": [0.0, 2.0, 4.0, 10.0]})
    prep = fit_preprocessor(df, None, scale=scale, log_skewed=False)
    np.testing.assert_allclose(prep.transform(df).ravel(), expected)


def test_imputation_median_and_most_frequent_counted() -> None:
    df = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 10.0],
            "colour": pd.array(["red", "blue", None, "red"], dtype="string"),
        }
    )
    prep = fit_preprocessor(df, None, scale="none", log_skewed=False, include_categorical=True)
    assert prep.impute_values == {"x": 3.0, "colour": "red"}
    assert prep.n_imputed == {"x": 1, "colour": 1}
    assert prep.feature_names == ["x", "colour=blue", "colour=red"]
    np.testing.assert_array_equal(prep.transform(df), [[1, 0, 1], [3, 1, 0], [3, 0, 1], [10, 0, 1]])


def test_no_impute_refuses_naming_every_column() -> None:
    df = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, 4.0], "y": [np.nan, np.nan, 1.0, 5.0], "z": [1, 2, 3, 4]}
    )
    with pytest.raises(InputError, match=r"'x' \(1 missing\), 'y' \(2 missing\)"):
        Segmenter(impute=False).fit(df)


def test_log1p_only_for_skewed_non_negative_columns() -> None:
    df = pd.DataFrame(
        {
            "spend": [1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 500.0],  # skewness > 1
            "signed": [-1.0, 0.0, 0.0, 1.0, 1.0, 2.0, 500.0],  # skewed but negative
            "flat": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    prep = fit_preprocessor(df, None, scale="none")
    assert prep.log_columns == ["spend"]
    assert prep.skewness["spend"] > 1 and abs(prep.skewness["flat"]) < 1e-9
    np.testing.assert_allclose(prep.transform(df)[:, 0], np.log1p(df["spend"]))
    assert fit_preprocessor(df, None, log_skewed=False).log_columns == []


def test_default_columns_skip_ids_labels_dates_and_wide_text() -> None:
    df = pd.DataFrame(
        {
            "CustomerID": ["0001", "0002", "0003", "0004"],
            "ID": [1, 2, 3, 4],
            "first_purchase": pd.to_datetime(["2020-01-01"] * 4),
            "repeat_purchase": [0, 1, 0, 1],
            "holdout_spend": [0.0, 5.0, 0.0, 3.0],
            "note": ["a", "b", "c", "d"],
            "Genre": pd.Categorical(["Male", "Female", "Male", "Female"]),
            "Age": [20, 30, 40, 50],
        }
    )
    prep = fit_preprocessor(df, None, max_categories=3)
    assert prep.numeric == ["Age"]
    # categories describe the segments by default, cluster only when asked
    assert prep.categorical == [] and prep.describe == ["Genre"]
    assert set(prep.skipped) == {
        "CustomerID",
        "ID",
        "first_purchase",
        "repeat_purchase",
        "holdout_spend",
        "note",
    }
    both = fit_preprocessor(df, None, max_categories=3, include_categorical=True)
    assert both.categorical == ["Genre"]
    refused = fit_preprocessor(df, None, categorical="refuse", include_categorical=True)
    assert refused.categorical == []


@pytest.mark.parametrize(
    ("columns", "kwargs", "message"),
    [
        (["Age", "Income"], {}, r"'Income' not found.*available columns: 'CustomerID', 'Genre'"),
        (["CustomerID"], {}, r"'CustomerID' holds customer ids"),
        (["joined"], {}, r"'joined' holds dates"),
        (["Genre"], {"categorical": "refuse"}, r"'Genre' is categorical .*refuse"),
        (["Genre"], {"max_categories": 1}, r"'Genre' .* 2 distinct values.*max_categories=1"),
        (["Age", "Age"], {}, r"listed once"),
    ],
    ids=["missing", "id", "date", "refused", "too-many-levels", "duplicate"],
)
def test_bad_columns_are_named(columns, kwargs, message) -> None:
    df = pd.DataFrame(
        {
            "CustomerID": ["1", "2", "3"],
            "Genre": ["Male", "Female", "Male"],
            "Age": [20, 30, 40],
            "joined": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"]),
        }
    )
    with pytest.raises(InputError, match=message):
        fit_preprocessor(df, columns, **kwargs)


def test_unknown_category_at_predict_is_all_zero() -> None:
    df = pd.DataFrame({"c": ["x", "y", "x"], "v": [1.0, 2.0, 3.0]})
    prep = fit_preprocessor(df, None, scale="none", include_categorical=True)
    new = pd.DataFrame({"c": ["z"], "v": [2.0]})
    np.testing.assert_array_equal(prep.transform(new), [[2.0, 0.0, 0.0]])


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("Annual Income (k$)", "income"),
        ("Spending Score (1-100)", "spending"),
        ("Age", "age"),
        ("recency_days", "recency"),
        ("lifetime_spend", "lifetime spend"),
        ("avg_order_value", "order value"),
        ("n_orders", "orders"),
        ("avgBasketSize", "basket size"),
        ("orders_90d", "orders 90d"),
    ],
)
def test_readable_names(column: str, expected: str) -> None:
    assert readable(column) == expected


def test_generic_names_two_columns_in_column_order() -> None:
    z = pd.DataFrame(
        {"Annual Income (k$)": [1.1, -1.3, 0.1, 1.0], "Spending Score (1-100)": [-1.3, 1.1, 0, 1.2]}
    )
    groups = {c: [c] for c in z.columns}
    assert name_segments(z, groups) == {
        0: "high income, low spending",
        1: "low income, high spending",
        2: "average income, average spending",
        3: "high income, high spending",
    }


def test_clashing_names_get_more_columns_then_a_comparison_never_a_number() -> None:
    z = pd.DataFrame(
        {"a": [2.0, 2.0, 2.0], "b": [-2.0, -2.0, -2.0], "c": [1.0, -1.0, 1.3], "d": [0, 0, 0.1]},
    )
    names = name_segments(z, {c: [c] for c in z.columns})
    assert names == {
        0: "high a, low b, high c, lower c",
        1: "high a, low b, low c",
        2: "high a, low b, high c, higher c",
    }


def test_identical_profiles_are_said_to_be_identical() -> None:
    z = pd.DataFrame({"a": [1.0, 1.0], "b": [0.0, 0.0]})
    names = name_segments(z, {c: [c] for c in z.columns})
    assert len(set(names.values())) == 2
    assert all("#" not in n and "identical profile" in n for n in names.values())


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ({"Female": [0.9, 0.5, 0.55]}, {0: "mostly Female"}),  # 0.9 >= 0.6 and 1.8x 0.5
        ({"Female": [0.7, 0.5, 0.55]}, {}),  # 1.4x the overall share: not strong enough
    ],
    ids=["over-represented", "mild"],
)
def test_describing_categories_enter_names_only_when_strong(shares, expected) -> None:
    from toolkit.segments._names import describe_terms

    female = pd.Series(shares["Female"])
    table = pd.DataFrame({"Female": female, "Male": 1 - female})
    got = describe_terms({"Gender": table}, {"Gender": pd.Series({"Female": 0.5, "Male": 0.5})})
    assert got == expected


@pytest.mark.parametrize(
    ("r", "f", "m", "t", "expected"),
    [
        (-1.0, 1.2, 1.5, 0.5, "loyal big spenders"),
        (-0.2, 1.0, 0.2, 0.5, "loyal regulars"),
        (1.2, 0.8, 1.0, 0.5, "at-risk high value"),
        (1.5, -1.0, -0.8, 0.3, "lapsing one-timers"),
        (-1.0, -0.9, -0.5, -1.2, "new customers"),
        (0.0, 0.0, 1.0, 0.0, "big spenders"),
        (0.1, 0.0, 0.0, 0.0, "steady mid-value"),
    ],
)
def test_rfm_marketer_names(r, f, m, t, expected) -> None:
    cols = ["recency_days", "frequency", "lifetime_spend", "tenure_days"]
    z = pd.DataFrame([[r, f, m, t]], columns=cols)
    roles = rfm_roles(cols)
    assert roles == dict(zip(["recency", "frequency", "monetary", "tenure"], cols, strict=True))
    assert name_segments(z, {c: [c] for c in cols}, roles) == {0: expected}


def test_rfm_clash_told_apart_by_the_separating_column() -> None:
    cols = ["recency_days", "frequency", "lifetime_spend", "tenure_days"]
    z = pd.DataFrame([[-0.2, 1.0, 0.1, 1.0], [-0.3, 1.1, 0.0, -0.9]], columns=cols)
    names = name_segments(z, {c: [c] for c in cols}, rfm_roles(cols))
    assert names == {0: "loyal regulars (high tenure)", 1: "loyal regulars (low tenure)"}


def test_btyd_summary_gets_marketer_names() -> None:
    # lifetimes convention: time since the last purchase = T - recency
    df = pd.DataFrame(
        {
            "ID": range(1, 61),
            "frequency": [0] * 20 + [8] * 20 + [0] * 20,
            "recency": [0.0] * 20 + [30.0] * 20 + [0.0] * 20,
            "T": [38.0] * 20 + [36.0] * 20 + [3.0] * 20,
        }
    )
    df["frequency"] += np.arange(60) % 2
    seg = Segmenter(k=3, n_bootstrap=0, scale="standard").fit(df)
    assert set(seg.names_.values()) == {"lapsing one-timers", "loyal regulars", "new customers"}


@pytest.mark.parametrize(
    ("r", "f", "m", "t", "expected"),
    [
        (-1.0, 1.2, 1.5, 0.5, "lapsed big spenders"),
        (-0.2, 1.0, 0.2, 0.5, "lapsed regulars"),
        (0.0, 0.0, 1.0, 0.0, "lapsed big spenders"),
        (0.1, 0.0, 0.0, 0.0, "lapsed mid-value"),
        (0.0, -0.9, -0.2, 0.0, "lapsed one-timers"),
        (0.0, 0.2, -0.9, 0.0, "lapsed low-value"),
        (-1.0, -0.9, -0.5, -1.2, "new customers, gone quiet"),
        # already named as lapsing by the comparison: unchanged
        (1.2, 0.8, 1.0, 0.5, "at-risk high value"),
    ],
)
def test_a_segment_gone_quiet_is_not_named_for_loyalty_or_value(r, f, m, t, expected) -> None:
    cols = ["recency_days", "frequency", "lifetime_spend", "tenure_days"]
    z = pd.DataFrame([[r, f, m, t]], columns=cols)
    assert name_segments(z, {c: [c] for c in cols}, rfm_roles(cols), quiet={0}) == {0: expected}


def test_generic_names_say_gone_quiet() -> None:
    z = pd.DataFrame({"income": [1.2, -1.1], "spending": [-1.3, 1.0]})
    names = name_segments(z, {"income": ["income"], "spending": ["spending"]}, quiet={1})
    assert names == {0: "high income, low spending", 1: "low income, high spending, gone quiet"}


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # recency_days / gap_mean; the one-timer against the median gap of the others (10 days)
        (
            {"recency_days": [30.0, 5.0, 40.0, 4.0], "gap_mean": [10.0, 10.0, None, 20.0]},
            [3.0, 0.5, 4.0, 0.2],
        ),
        # lifetimes: (T - recency) / (recency / frequency); the one-timer against the median gap
        (
            {"frequency": [2, 0, 4], "recency": [20.0, 0.0, 20.0], "T": [50.0, 30.0, 25.0]},
            [3.0, 30.0 / 7.5, 1.0],
        ),
        # no rhythm to compare with (income, spending): the rule does not apply
        ({"income": [1.0, 2.0], "spending": [3.0, 4.0]}, None),
    ],
    ids=["features", "lifetimes", "no-rhythm"],
)
def test_overdue_ratios_by_hand(table, expected) -> None:
    from toolkit.segments._history import overdue_ratios

    got = overdue_ratios(pd.DataFrame(table))
    assert (got is None) if expected is None else got.tolist() == pytest.approx(expected)


def _log_features(n: int = 40, quiet_days: float = 30.0, tenure: float = 400.0) -> pd.DataFrame:
    """Half big spenders (8 orders, a 10-day rhythm, silent ``quiet_days``), half small buyers
    (2 orders, a 60-day rhythm, last seen 90 days ago): the toolkit's feature names."""
    big = np.arange(n) < n // 2
    return pd.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(n)],
            "recency_days": np.where(big, quiet_days, 90.0) + np.arange(n) % 3,
            "frequency": np.where(big, 7, 1),
            "n_orders": np.where(big, 8, 2),
            "lifetime_spend": np.where(big, 2000.0, 80.0) + np.arange(n),
            "tenure_days": np.where(big, tenure, tenure / 2),
            "gap_mean": np.where(big, 10.0, 60.0),
        }
    )


RFM_COLUMNS = ["recency_days", "frequency", "lifetime_spend", "tenure_days"]


def test_big_spenders_gone_quiet_are_lapsed_with_a_win_back() -> None:
    df = _log_features()
    seg = Segmenter(k=2, n_bootstrap=0, columns=RFM_COLUMNS).fit(df)
    big = int(seg.labels_[0])
    # more recent than the others (30-32 days against 90-92), but silent for three times their
    # 10-day rhythm: overdue 3.0 / 3.1 / 3.2 (median 3.1), every member above 2
    assert seg.names_[big] == "lapsed big spenders"
    rule, action, evidence = seg.actions_[big]
    assert rule == "high value, lapsing" and "win-back" in action and "VIP" not in action
    assert "silent 3.1 x their usual gap" in evidence
    row = seg.profiles_.set_index("segment").loc[big]
    assert row["overdue_median"] == pytest.approx(3.1) and row["overdue_share"] == 1.0
    assert seg.metrics_["naming"]["gone_quiet"] == [big]
    # the same customers still buying in rhythm (silent 5 days): loyal, VIP
    active = Segmenter(k=2, n_bootstrap=0, columns=RFM_COLUMNS).fit(_log_features(quiet_days=5))
    assert active.names_[int(active.labels_[0])] == "loyal big spenders"
    assert "VIP" in active.actions_[int(active.labels_[0])][1]


@pytest.mark.parametrize(
    ("table", "why"),
    [
        (_log_features(tenure=3.0, quiet_days=1.0), "3 days of history"),
        (_log_features(n=30).assign(frequency=lambda d: np.where(d.index < 10, 1, 0)), "only 10"),
    ],
    ids=["3-days", "10-repeat-customers"],
)
def test_too_little_history_gives_neutral_names(table, why) -> None:
    seg = Segmenter(k=2, n_bootstrap=0, columns=RFM_COLUMNS).fit(table)
    naming = seg.metrics_["naming"]
    assert naming["basis"] == "neutral (short history)" and why in naming["reason"]
    for s, name in seg.names_.items():
        assert name.startswith(f"segment {s}: ")
        assert not any(w in name for w in ("loyal", "VIP", "big spender", "champion", "regular"))
        assert seg.actions_[s][0] == "short history" and "onboarding" in seg.actions_[s][1]
    big = int(seg.labels_[0])
    assert seg.names_[big].startswith(f"segment {big}: high spend, 8 orders, last bought")


def test_a_table_without_history_keeps_its_names() -> None:
    df = blobs().rename(columns={"a": "income", "b": "spending"})
    seg = Segmenter(k=3, n_bootstrap=0).fit(df)
    assert seg.metrics_["naming"] == {
        "basis": "behaviour",
        "reason": None,
        "lapsed_ratio": None,
        "gone_quiet": [],
    }
    assert not any(n.startswith("segment ") or "quiet" in n for n in seg.names_.values())
    assert "overdue_median" not in seg.profiles_


def test_lifetimes_recency_is_not_days_since_last_purchase() -> None:
    assert "recency" not in rfm_roles(["frequency", "recency", "T"])
    assert rfm_roles(["Recency", "Frequency", "Monetary"]) == {
        "recency": "Recency",
        "frequency": "Frequency",
        "monetary": "Monetary",
    }


# --- the estimator -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_three_blobs_found_by_every_method(method: str) -> None:
    df = blobs()
    seg = Segmenter(method=method, **FAST).fit(df)
    assert seg.n_segments_ == 3
    assert seg.metrics_["k"] == 3
    sizes = np.bincount(seg.labels_[seg.labels_ >= 0])
    if method == "dbscan":  # a few edge customers may be noise
        assert (seg.labels_ < 0).sum() <= 6 and sizes.min() >= 15
    else:
        assert sorted(sizes.tolist()) == [20, 20, 20]
    truth = np.repeat([0, 1, 2], 20)
    for s in range(3):  # every segment lies inside one true group
        assert np.unique(truth[seg.labels_ == s]).size == 1
    assert seg.preprocessor_.columns == ["a", "b"]  # the id never enters
    assert len(set(seg.names_.values())) == len(seg.names_)
    assert 0.5 < seg.metrics_["stability_ari"] <= 1.0
    assert seg.metrics_["reason"]
    assert not seg.metrics_["sampled"]


@pytest.mark.parametrize("method", METHODS)
def test_indices_equal_sklearn_on_the_same_labels(method: str) -> None:
    df = blobs(n_per=15, seed=3, centers=((0, 0), (4, 0), (0, 4), (5, 5)))
    seg = Segmenter(method=method, scale="standard", **FAST).fit(df)
    X, lab = seg.encode(df), seg.labels_
    keep = lab >= 0
    m = seg.metrics_
    assert m["silhouette"] == pytest.approx(silhouette_score(X[keep], lab[keep]), abs=1e-12)
    assert m["calinski_harabasz"] == pytest.approx(
        calinski_harabasz_score(X[keep], lab[keep]), rel=1e-12
    )
    assert m["davies_bouldin"] == pytest.approx(davies_bouldin_score(X[keep], lab[keep]), rel=1e-12)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=m["k"], n_init=10, random_state=0).fit(X)
        assert m["inertia"] == pytest.approx(km.inertia_, rel=1e-9)


def test_selection_table_and_vote_recorded() -> None:
    seg = Segmenter(k_range=(2, 6), n_bootstrap=0).fit(blobs())
    t = seg.selection_
    assert t["k"].tolist() == [2, 3, 4, 5, 6]
    assert {
        "inertia",
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "knee",
        "chosen",
    } <= set(t.columns)
    assert t.loc[t["chosen"], "k"].tolist() == [3]
    assert seg.metrics_["reason"].startswith("k=3: chosen by")
    assert len(seg.metrics_["selection"]) == 5
    json.dumps(seg.metrics_)  # plain JSON


def test_gmm_lowest_bic_wins() -> None:
    seg = Segmenter(method="gmm", **FAST).fit(blobs())
    t = seg.selection_
    best = t.loc[t["bic"].idxmin()]
    assert bool(best["chosen"]) and int(best["k"]) == 3
    assert set(t["covariance_type"]) == {"full", "tied", "diag", "spherical"}


def test_dbscan_noise_is_its_own_group() -> None:
    df = blobs()
    outliers = pd.DataFrame({"customer_id": ["o1", "o2"], "a": [30.0, -25.0], "b": [-30.0, 40.0]})
    df = pd.concat([df, outliers], ignore_index=True)
    seg = Segmenter(method="dbscan", scale="none", **FAST).fit(df)
    assert seg.metrics_["n_noise"] == (seg.labels_ == -1).sum() >= 2
    assert seg.labels_[-2:].tolist() == [-1, -1]
    assert seg.names_[-1] == NOISE_NAME
    assert seg.profiles_["segment"].tolist()[-1] == -1
    assert seg.params_["min_samples"] == 4  # 2 x 2 dimensions


def test_segments_numbered_by_size_and_deterministic() -> None:
    df = blobs(n_per=10)
    df = pd.concat([df, blobs(n_per=15, seed=1, centers=((10, 0),))], ignore_index=True)
    a = Segmenter(k=3, n_bootstrap=0).fit(df)
    b = Segmenter(k=3, n_bootstrap=0).fit(df)
    assert np.bincount(a.labels_).tolist() == [25, 10, 10]
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.names_ == b.names_


@pytest.mark.parametrize("method", METHODS)
def test_large_input_is_sampled_and_everyone_assigned(method: str) -> None:
    df = blobs(n_per=100)
    seg = Segmenter(method=method, sample_size=90, linkage_size=60, silhouette_size=50, **FAST)
    labels = seg.fit_predict(df)
    m = seg.metrics_
    assert m["sampled"] and m["n_evaluated"] == 90 and m["n"] == 300
    assert m["silhouette_n"] <= 50
    assert len(labels) == 300 and seg.n_segments_ == 3
    assert "sample" in m["sampling"]


def test_profiles_by_hand() -> None:
    df = pd.DataFrame({"x": [1.0, 3.0, 10.0, 18.0], "g": ["u", "u", "v", "u"]})
    prep = fit_preprocessor(df, None)
    t = profile_table(df, prep, np.array([0, 0, 1, 1]), {0: "low x", 1: "high x"})
    assert t["size"].tolist() == [2, 2] and t["share"].tolist() == [0.5, 0.5]
    assert t["x_mean"].tolist() == [2.0, 14.0]  # overall mean 8
    assert t["x_median"].tolist() == [2.0, 14.0]
    assert t["x_ratio"].tolist() == [0.25, 1.75]
    assert t["g=v_share"].tolist() == [0.0, 0.5]
    assert t["g=v_ratio"].tolist() == [0.0, 2.0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "spectral"}, "method must be one of"),
        ({"k": 1}, "k \\(--k\\) must be 'auto' or a whole number >= 2"),
        ({"k": "many"}, "k \\(--k\\) must be 'auto'"),
        ({"k_range": "5..2"}, "2 <= low <= high"),
        ({"k_range": "two..ten"}, "k_range \\(--k-range\\) must look like 2..10"),
        ({"scale": "log"}, "scale must be one of"),
        ({"eps": -1.0}, "eps must be"),
        ({"sample_size": 3}, "sample_size \\(--sample-size\\) must be"),
    ],
)
def test_bad_parameters(params, message) -> None:
    with pytest.raises(InputError, match=message):
        Segmenter(**params).fit(blobs())


def test_parse_k_range() -> None:
    assert parse_k_range("2..10") == (2, 10)
    assert parse_k_range([3, 4]) == (3, 4)


# --- scikit-learn behaviour ----------------------------------------------------------------------


def test_sklearn_api_clone_params_pipeline_arrays() -> None:
    seg = Segmenter(k=3, n_bootstrap=0)
    assert clone(seg).get_params() == seg.get_params()
    assert seg.set_params(scale="standard") is seg and seg.scale == "standard"
    with pytest.raises(NotFittedError):
        seg.predict(blobs())
    X = blobs()[["a", "b"]].to_numpy()
    assert seg.fit(X) is seg
    pipe = Pipeline([("segment", Segmenter(k=3, n_bootstrap=0))])
    np.testing.assert_array_equal(pipe.fit_predict(X), seg.labels_)
    np.testing.assert_array_equal(pipe.predict(X), seg.predict(X))
    with pytest.raises(ValueError, match="X has 3 features, but Segmenter is expecting 2"):
        seg.predict(np.zeros((2, 3)))
    framed = Segmenter(k=3, n_bootstrap=0).fit(pd.DataFrame(X))  # integer column names
    np.testing.assert_array_equal(framed.labels_, seg.labels_)


# --- persistence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_save_load_round_trip_without_pickle(method: str, tmp_path) -> None:
    df = blobs(n_per=25, seed=5)
    seg = Segmenter(method=method, **FAST).fit(df)
    seg.save(tmp_path / "seg")
    files = sorted(p.name for p in (tmp_path / "seg").iterdir())
    assert all(f.endswith((".json", ".npy")) for f in files)
    for f in files:
        if f.endswith(".npy"):
            np.load(tmp_path / "seg" / f, allow_pickle=False)  # no object arrays
    loaded = Segmenter.load(tmp_path / "seg")
    new = blobs(n_per=10, seed=9)
    np.testing.assert_array_equal(loaded.predict(new), seg.predict(new))
    np.testing.assert_array_equal(loaded.predict(df), seg.predict(df))
    assert loaded.names_ == seg.names_
    assert loaded.get_params() == seg.get_params()


def test_saving_over_another_segmenter_leaves_no_stale_arrays(tmp_path) -> None:
    d = Segmenter(k=3, n_bootstrap=0).fit(blobs()).save(tmp_path / "seg")
    h = Segmenter(method="hierarchical", k=3, n_bootstrap=0).fit(blobs()).save(d)
    assert not (h / "centroids.npy").exists()
    assert Segmenter.load(h).method == "hierarchical"


def test_load_refuses_tampered_or_unexpected_files(tmp_path) -> None:
    seg = Segmenter(k=3, n_bootstrap=0).fit(blobs())
    d = seg.save(tmp_path / "seg")
    (d / "model.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(UnsafeModelError, match="unexpected files"):
        Segmenter.load(d)
    (d / "model.pkl").unlink()
    np.save(d / "centroids.npy", np.zeros((3, 2)))
    with pytest.raises(UnsafeModelError, match="SHA-256"):
        Segmenter.load(d)
    with pytest.raises(InputError, match="not a saved segmenter"):
        Segmenter.load(tmp_path)


def test_load_refuses_a_linked_array_and_a_hand_edited_manifest(tmp_path) -> None:
    import json

    seg = Segmenter(k=3, n_bootstrap=0).fit(blobs())
    d = seg.save(tmp_path / "seg")
    real = tmp_path / "elsewhere.npy"
    (d / "centroids.npy").rename(real)
    (d / "centroids.npy").symlink_to(real)  # same bytes, same hash: still a link
    with pytest.raises(UnsafeModelError, match="is a link; refused"):
        Segmenter.load(d)
    (d / "centroids.npy").unlink()
    real.rename(d / "centroids.npy")
    manifest = json.loads((d / "segmenter.json").read_text())
    manifest["n_segments"] = "three"
    (d / "segmenter.json").write_text(json.dumps(manifest))
    with pytest.raises(UnsafeModelError, match="is malformed"):
        Segmenter.load(d)
    # a scaling that does not fit the columns would scale them wrong, silently
    manifest["n_segments"] = 3
    manifest["preprocessor"]["divisor"] = [1.0]
    (d / "segmenter.json").write_text(json.dumps(manifest))
    with pytest.raises(UnsafeModelError, match="1 divisors for 2 model columns"):
        Segmenter.load(d)


# --- invariants ----------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(12, 40),
    d=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(METHODS),
)
def test_invariants(n: int, d: int, seed: int, method: str) -> None:
    X = np.random.default_rng(seed).normal(size=(n, d))
    seg = Segmenter(method=method, k_range=(2, 4), n_bootstrap=0).fit(X)
    labels = seg.labels_
    assert labels.shape == (n,)
    assert set(np.unique(labels)) <= set(seg.names_)
    assert set(labels[labels >= 0]) == set(range(seg.n_segments_))
    assert len(set(seg.names_.values())) == len(seg.names_)
    assert seg.profiles_["size"].sum() == n
    counts = np.bincount(labels[labels >= 0])
    assert (np.diff(counts) <= 0).all()  # segment 0 is the largest
    predicted = seg.predict(X)
    if method == "dbscan":  # border points may sit within eps of another segment's core point
        assert (predicted[labels >= 0] >= 0).all()
    else:
        np.testing.assert_array_equal(predicted, labels)


def test_method_comparison_counts_dbscan_noise_as_zero() -> None:
    from types import SimpleNamespace

    from toolkit.segments import choose_best

    def fake(sil: float, noise_share: float = 0.0, k: int = 3) -> SimpleNamespace:
        metrics = {"silhouette": sil, "noise_share": noise_share}
        return SimpleNamespace(metrics_=metrics, n_segments_=k)

    segs = {"kmeans": fake(0.60), "dbscan": fake(0.62, noise_share=0.05)}  # 0.62 x 0.95 = 0.589
    assert choose_best(segs)[0] == "kmeans"
    segs = {"kmeans": fake(0.50), "dbscan": fake(0.62, noise_share=0.05)}
    assert choose_best(segs)[0] == "dbscan"
    segs = {"kmeans": fake(0.50, k=1), "dbscan": fake(0.9, noise_share=0.6)}  # neither qualifies
    assert "no method" in choose_best(segs)[1]
