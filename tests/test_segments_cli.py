"""``toolkit segment``: the Mall customers acceptance figures, outputs, ``--assign``, and every bad
input ending with exit 2 and a message naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

MALL_COLS = "Annual Income (k$),Spending Score (1-100)"
MALL_GROUPS = {
    "high income, high spending",
    "high income, low spending",
    "low income, high spending",
    "low income, low spending",
    "average income, average spending",
}


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def _fails(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def _mall_frame(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "Mall_Customers.csv", dtype={"CustomerID": str})


@pytest.fixture(scope="module")
def mall_none(cli, shared_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mall") / "none"
    args = ["--columns", MALL_COLS, "--scale", "none", "--method", "kmeans", "--k", "auto"]
    _ok(cli("segment", shared_data / "Mall_Customers.csv", "--out", out, *args))
    return out


# --- acceptance on the Mall customers ------------------------------------------------------------


def test_mall_unscaled_kmeans_published_figures(mall_none: Path) -> None:
    m = json.loads((mall_none / "metrics.json").read_text())
    km = m["methods"]["kmeans"]
    assert m["method"] == "kmeans" and m["k"] == km["k"] == 5
    assert km["silhouette"] == pytest.approx(0.554, abs=0.002)
    assert km["inertia"] == pytest.approx(44_448.5, abs=1)
    assert "k=5" in km["reason"] and "silhouette peak" in km["reason"]
    assert [row["k"] for row in km["selection"]] == list(range(2, 11))
    assert km["sampled"] is False
    seg = pd.read_csv(mall_none / "segments.csv", dtype={"customer_id": str})
    assert list(seg.columns) == ["customer_id", "segment", "segment_name"]
    assert seg["customer_id"].iloc[0] == "0001"  # zero-padded ids kept
    assert set(seg["segment_name"]) == MALL_GROUPS
    assert set(m["names"].values()) == MALL_GROUPS
    by_name = seg.groupby("segment_name").size()
    assert by_name["average income, average spending"] == 81
    for png in ["elbow_silhouette.png", "silhouette.png", "scatter.png", "profiles_heatmap.png"]:
        assert (mall_none / png).stat().st_size > 10_000


def test_mall_indices_equal_sklearn(mall_none: Path, shared_data: Path) -> None:
    df = _mall_frame(shared_data)
    seg = pd.read_csv(mall_none / "segments.csv", dtype={"customer_id": str})
    assert (seg["customer_id"] == df["CustomerID"]).all()
    X = df[MALL_COLS.split(",")].to_numpy(float)  # --scale none: raw units
    lab = seg["segment"].to_numpy()
    km = json.loads((mall_none / "metrics.json").read_text())["methods"]["kmeans"]
    assert km["silhouette"] == pytest.approx(silhouette_score(X, lab), abs=1e-12)
    assert km["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, lab), rel=1e-12)
    assert km["davies_bouldin"] == pytest.approx(davies_bouldin_score(X, lab), rel=1e-12)
    wss = sum(((X[lab == s] - X[lab == s].mean(axis=0)) ** 2).sum() for s in np.unique(lab))
    assert km["inertia"] == pytest.approx(wss, rel=1e-9)


def test_mall_profiles(mall_none: Path) -> None:
    p = pd.read_csv(mall_none / "profiles.csv")
    assert p["size"].sum() == 200 and p["share"].sum() == pytest.approx(1)
    assert p["size"].is_monotonic_decreasing
    for col in MALL_COLS.split(","):
        for stat in ("mean", "median", "ratio"):
            assert f"{col}_{stat}" in p.columns
    hi = p.set_index("segment_name").loc["high income, low spending"]
    assert hi["Annual Income (k$)_ratio"] > 1.3 and hi["Spending Score (1-100)_ratio"] < 0.5


def test_mall_assign_round_trip_and_no_pickle(cli, mall_none: Path, shared_data: Path, tmp_path):
    saved = mall_none / "segmenter"
    assert {p.suffix for p in saved.iterdir()} == {".json", ".npy"}
    for p in saved.glob("*.npy"):
        np.load(p, allow_pickle=False)
    out = tmp_path / "assigned"
    r = cli("segment", shared_data / "Mall_Customers.csv", "--out", out, "--assign", saved)
    _ok(r)
    before = pd.read_csv(mall_none / "segments.csv", dtype={"customer_id": str})
    after = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    pd.testing.assert_frame_equal(before, after)
    assert (out / "profiles.csv").exists()


def test_mall_minmax_also_chooses_five(cli, shared_data: Path, tmp_path) -> None:
    out = tmp_path / "minmax"
    _ok(cli("segment", shared_data / "Mall_Customers.csv", "--out", out, "--columns", MALL_COLS))
    m = json.loads((out / "metrics.json").read_text())
    assert m["k"] == 5 and m["data"]["scale"] == "minmax"
    assert set(m["names"].values()) == MALL_GROUPS


@pytest.mark.slow
def test_mall_all_methods_compared(cli, shared_data: Path, tmp_path) -> None:
    out = tmp_path / "all"
    args = ["--columns", MALL_COLS, "--scale", "none", "--method", "all"]
    output = _ok(cli("segment", shared_data / "Mall_Customers.csv", "--out", out, *args))
    comp = pd.read_csv(out / "comparison.csv")
    assert comp["method"].tolist() == ["kmeans", "dbscan", "hierarchical", "gmm"]
    assert comp["chosen"].sum() == 1
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["methods"]) == {"kmeans", "dbscan", "hierarchical", "gmm"}
    assert m["methods"]["dbscan"]["n_noise"] >= 0 and m["choice"]
    for method, plot in [
        ("kmeans", "elbow_silhouette.png"),
        ("hierarchical", "dendrogram.png"),
        ("gmm", "bic_aic.png"),
        ("dbscan", "k_distance.png"),
    ]:
        assert (out / method / plot).exists()
        assert (out / method / "segmenter" / "segmenter.json").exists()
    assert "chosen:" in output


# --- small hand-made tables ----------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """30 customers in three tight groups, zero-padded ids, one missing value."""
    rng = np.random.default_rng(0)
    centers = [(10, 10), (50, 80), (90, 20)]
    rows = []
    for g, (a, b) in enumerate(centers):
        for i in range(10):
            rows.append((f"{g * 10 + i:03d}", a + rng.normal(0, 2), b + rng.normal(0, 2)))
    df = pd.DataFrame(rows, columns=["CustomerID", "visits", "basket"])
    df.loc[3, "basket"] = np.nan
    df["region"] = ["north", "south"] * 15
    path = tmp_path / "tiny.csv"
    df.to_csv(path, index=False)
    return path


def test_tiny_table_end_to_end(cli, tiny: Path, tmp_path) -> None:
    out = tmp_path / "out"
    args = ["--columns", "visits,basket", "--seed", "3", "--k-range", "2..5"]
    output = _ok(cli("segment", tiny, "--out", out, *args))
    seg = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    assert seg["customer_id"].tolist()[:2] == ["000", "001"]
    assert seg["segment"].nunique() == 3
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["imputed"] == {"basket": 1}
    assert "imputed missing values: basket (1)" in output
    assert m["data"]["id_column"] == "CustomerID"


def test_tiny_table_default_columns_describe_with_the_categories(cli, tiny: Path, tmp_path):
    out = tmp_path / "out"
    output = _ok(cli("segment", tiny, "--out", out, "--k", "3", "--no-plots"))
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["columns"] == ["visits", "basket"] and m["data"]["describe"] == ["region"]
    assert m["data"]["column_rules"]["region"].startswith("category: 2 values; describes")
    assert "region: category: 2 values; describes the segments" in output
    profiles = pd.read_csv(out / "profiles.csv")
    assert {"region=north_share", "region=south_share", "action"} <= set(profiles.columns)


def test_tiny_table_default_columns_one_hot_tsne(cli, tiny: Path, tmp_path) -> None:
    out = tmp_path / "out"
    args = ["--k", "3", "--embed", "tsne", "--include-categorical"]
    _ok(cli("segment", tiny, "--out", out, *args))
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["columns"] == ["visits", "basket", "region"]
    assert m["data"]["one_hot"] == {"region": ["north", "south"]}
    assert m["k"] == 3 and "given by the user" in m["methods"]["kmeans"]["reason"]
    assert (out / "scatter.png").exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--columns", "visits,nope"], ["'nope' not found", "available columns", "'basket'"]),
        (["--columns", "visits,basket", "--no-impute"], ["'basket' (1 missing)", "--no-impute"]),
        (["--columns", "visits,region", "--categorical", "refuse"], ["'region' is categorical"]),
        (["--k", "1"], ["--k must be 'auto' or a whole number >= 2"]),
        (["--k-range", "9..3"], ["k_range (--k-range) must satisfy 2 <= low <= high"]),
        (["--columns", "CustomerID"], ["'CustomerID' holds customer ids"]),
        (["--target", "nope"], ["--target 'nope' is not a column", "'visits'"]),
    ],
    ids=[
        "missing-column",
        "no-impute",
        "refuse-categorical",
        "bad-k",
        "bad-k-range",
        "id-column",
        "unknown-target",
    ],
)
def test_bad_input_exits_2_naming_the_problem(cli, tiny: Path, tmp_path, args, fragments) -> None:
    _fails(cli("segment", tiny, "--out", tmp_path / "out", *args), *fragments)


def test_assign_with_missing_column_exits_2(cli, tiny: Path, tmp_path) -> None:
    out = tmp_path / "out"
    _ok(cli("segment", tiny, "--out", out, "--columns", "visits,basket", "--no-plots"))
    other = tmp_path / "other.csv"
    pd.DataFrame({"CustomerID": ["1"], "visits": [3.0]}).to_csv(other, index=False)
    r = cli("segment", other, "--out", tmp_path / "o2", "--assign", out / "segmenter")
    _fails(r, "'basket' used by the segmenter not found")


def test_transaction_log_becomes_features_first(cli, tmp_path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for c in range(40):
        n = 1 + c % 5
        days = np.sort(rng.choice(300, size=n, replace=False))
        for d in days:
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))
            rows.append((f"C{c:02d}", day.strftime("%Y-%m-%d"), round(10 + 30 * rng.random(), 2)))
    path = tmp_path / "tx.csv"
    pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"]).to_csv(path, index=False)
    out = tmp_path / "out"
    output = _ok(
        cli(
            "segment",
            path,
            "--out",
            out,
            "--columns",
            "recency_days,frequency,lifetime_spend",
            "--k",
            "3",
            "--no-plots",
        )
    )
    assert "transaction log" in output
    seg = pd.read_csv(out / "segments.csv")
    assert len(seg) == 40 and seg["segment"].nunique() == 3
    rfm_words = ("loyal", "lapsing", "at-risk", "new customers", "spenders", "one-timers", "steady")
    assert all(any(w in n for w in rfm_words) for n in seg["segment_name"].unique())


def test_dbscan_finding_only_noise_is_an_input_error_or_skipped(cli, tmp_path) -> None:
    data = tmp_path / "three.csv"
    data.write_text("id,a,b\n1,1,2\n2,3,4\n3,5,1\n")
    _fails(
        cli("segment", data, "--out", tmp_path / "o", "--method", "dbscan"),
        "dbscan found no segment in 3 rows: every row is noise",
    )
    # among all the methods, it drops out of the comparison and the others go on
    r = cli("segment", data, "--out", tmp_path / "all", "--method", "all", "--k", "2")
    output = _ok(r)
    assert "DBSCAN: skipped (dbscan found no segment" in output
    assert (tmp_path / "all" / "kmeans" / "segments.csv").exists()
    assert not (tmp_path / "all" / "dbscan").exists()


def test_infinite_values_name_the_column(cli, tiny: Path, tmp_path) -> None:
    df = pd.read_csv(tiny, dtype={"CustomerID": str})
    df.loc[4, "visits"] = np.inf
    data = tmp_path / "inf.csv"
    df.to_csv(data, index=False)
    _fails(
        cli("segment", data, "--out", tmp_path / "o"),
        "column 'visits' has 1 infinite value(s) (first in row 5)",
    )


def test_library_warnings_are_summed_up_once(cli, tmp_path) -> None:
    data = tmp_path / "same.csv"
    data.write_text("id,a,b\n" + "".join(f"{i},1,2\n" for i in range(30)))
    # constant columns are left out by default: asked for by name, k-means meets them
    output = _ok(cli("segment", data, "--out", tmp_path / "o", "--columns", "a,b"))
    notes = [ln for ln in output.splitlines() if "Number of distinct clusters" in ln]
    assert len(notes) == 1 and "more like it" in notes[0], output
    assert "Warning" not in output  # no file:line warning text


def test_a_failed_run_leaves_the_previous_outputs_whole(
    cli, tiny: Path, tmp_path, monkeypatch
) -> None:
    out = tmp_path / "out"
    _ok(cli("segment", tiny, "--out", out, "--k", "3"))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # the run fails while writing: segments.csv, profiles.csv and metrics.json are written,
    # the plots fail
    import toolkit.segments._plots as plots

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "write_plots", full_disk)
    _fails(cli("segment", tiny, "--out", out, "--k", "4"), "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_new_segmenter_replaces_the_old_one_whole(cli, tiny: Path, tmp_path) -> None:
    out = tmp_path / "out"
    _ok(cli("segment", tiny, "--out", out, "--k", "3", "--columns", "visits,basket"))
    _ok(cli("segment", tiny, "--out", out, "--method", "gmm", "--k", "3"))
    # the k-means centroids are gone: the segmenter's files are the new manifest's
    assert not (out / "segmenter" / "centroids.npy").exists()
    _ok(cli("segment", tiny, "--out", tmp_path / "again", "--assign", out / "segmenter"))


def test_assign_refuses_options_that_would_change_the_fit(cli, tiny: Path, tmp_path) -> None:
    out = tmp_path / "out"
    _ok(cli("segment", tiny, "--out", out, "--k", "3"))
    _fails(
        cli(
            "segment", tiny, "--out", tmp_path / "a", "--assign", out, "--k", "4", "--method", "gmm"
        ),
        "--assign applies the saved segmenter as it was fitted: --method, --k do not apply",
    )
    args = ["--assign", out, "--include-categorical", "--target", "visits"]
    _fails(
        cli("segment", tiny, "--out", tmp_path / "a", *args),
        "--include-categorical, --target do not apply",
    )
    _ok(cli("segment", tiny, "--out", tmp_path / "a", "--assign", out, "--seed", "1"))


# --- defaults a marketer can use, playbook, products, churn risk ---------------------------------


def test_mall_defaults_describe_gender_and_act(cli, shared_data: Path, tmp_path) -> None:
    out = tmp_path / "defaults"
    output = _ok(cli("segment", shared_data / "Mall_Customers.csv", "--out", out, "--no-plots"))
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["columns"] == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert m["data"]["describe"] == ["Genre"] and "Genre: category" in output
    assert 4 <= m["k"] <= 6
    assert "parsimony" in m["methods"]["kmeans"]["reason"] and "parsimony" in output
    names = " ".join(m["names"].values())
    for word in ("income", "spending"):
        assert word in names
    assert "older" in names or "younger" in names
    assert all("#" not in n for n in m["names"].values())
    actions = pd.read_csv(out / "actions.csv")
    profiles = pd.read_csv(out / "profiles.csv")
    assert len(actions) == len(profiles) == m["k"]
    assert actions["action"].notna().all() and (actions["basis"] == "heuristic").all()
    assert profiles["action"].notna().all() and "Genre=Female_share" in profiles
    vip = actions[actions["segment_name"] == "high income, high spending"]
    assert vip["rule"].tolist() == ["high income, high spending"]


def _product_log(tmp_path: Path) -> Path:
    """40 customers: the first 20 buy often and buy candles, the others once, and buy mugs."""
    rng = np.random.default_rng(4)
    rows = []
    for c in range(40):
        frequent = c < 20
        n = 6 if frequent else 1
        days = np.sort(rng.choice(np.arange(0, 300) if frequent else np.arange(0, 60), n, False))
        for i, d in enumerate(days):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d))
            code, desc = ("C1", "CANDLE") if frequent else ("M1", "MUG")
            if i % 2:
                code, desc = ("X9", "BAG")  # bought by everyone: lift about 1
            rows.append((f"K{c:02d}", f"INV{c}-{i}", day.strftime("%Y-%m-%d"), code, desc, 2, 4.5))
        if not frequent:
            rows.append((f"K{c:02d}", f"INV{c}-b", "2024-03-01", "X9", "BAG", 1, 4.5))
    path = tmp_path / "log.csv"
    cols = ["CustomerID", "InvoiceNo", "InvoiceDate", "StockCode", "Description"]
    pd.DataFrame(rows, columns=[*cols, "Quantity", "UnitPrice"]).to_csv(path, index=False)
    return path


def test_log_with_products_gives_top_products_per_segment(cli, tmp_path) -> None:
    out = tmp_path / "out"
    args = ["--columns", "recency_days,frequency,lifetime_spend", "--k", "2", "--no-plots"]
    output = _ok(cli("segment", _product_log(tmp_path), "--out", out, *args))
    assert "segment_products.csv" in output
    seg = pd.read_csv(out / "segments.csv")
    frequent = seg.loc[seg["customer_id"].str[1:].astype(int) < 20, "segment"].unique()
    assert len(frequent) == 1
    products = pd.read_csv(out / "segment_products.csv")
    top = products[products["rank"] == 1].set_index("segment")
    assert top.loc[frequent[0], "product"] == "C1"
    assert top.loc[frequent[0], "description"] == "CANDLE"
    assert top.loc[frequent[0], "lift"] == pytest.approx(2.0)  # 20 of 20 vs 20 of 40
    assert top.loc[1 - frequent[0], "product"] == "M1"
    assert set(products["segment_name"]) == set(seg["segment_name"])
    actions = pd.read_csv(out / "actions.csv")
    assert actions["action"].notna().all() and len(actions) == 2


def test_churn_list_adds_risk_and_orders_actions(cli, tiny: Path, tmp_path) -> None:
    ids = [f"{i:03d}" for i in range(30)]
    churn = pd.DataFrame(
        {
            "customer_id": ids,
            "churn_probability": [0.9 if i >= 20 else 0.1 for i in range(30)],
            "value_at_risk": [100.0 if i >= 20 else 1.0 for i in range(30)],
        }
    )
    churn_file = tmp_path / "churn.csv"
    churn.to_csv(churn_file, index=False)
    out = tmp_path / "out"
    args = ["--columns", "visits,basket", "--k", "3", "--no-plots", "--churn-list", churn_file]
    _ok(cli("segment", tiny, "--out", out, *args))
    actions = pd.read_csv(out / "actions.csv")
    seg = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    risky = seg.loc[seg["customer_id"].astype(int) >= 20, "segment"].unique().tolist()
    assert actions["segment"].iloc[0] == risky[0] and bool(actions["at_risk"].iloc[0])
    assert actions["churn_probability_mean"].iloc[0] == pytest.approx(0.9)
    assert actions["value_at_risk_total"].iloc[0] == pytest.approx(1000.0)
    assert actions["action"].iloc[0].startswith("retention offer first")
    profiles = pd.read_csv(out / "profiles.csv")
    assert {"churn_probability_mean", "value_at_risk_total", "at_risk"} <= set(profiles.columns)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("customer_id,score\n001,0.5\n", "no 'churn_probability' column"),
        ("customer_id,churn_probability\n001,1.5\n", "must lie in [0, 1]"),
        ("customer_id,churn_probability\nzzz,0.5\n", "shares no customer id"),
    ],
    ids=["no-probability", "out-of-range", "no-overlap"],
)
def test_bad_churn_list_exits_2(cli, tiny: Path, tmp_path, content, fragment) -> None:
    churn_file = tmp_path / "churn.csv"
    churn_file.write_text(content)
    args = ["--no-plots", "--churn-list", churn_file]
    _fails(cli("segment", tiny, "--out", tmp_path / "out", *args), fragment)


@pytest.mark.slow
@pytest.mark.realdata
def test_online_retail_rfm_segments_act_and_buy(cli, shared_data: Path, tmp_path) -> None:
    out = tmp_path / "retail"
    _ok(cli("segment", shared_data / "online_retail.csv.gz", "--out", out, "--no-plots"))
    actions = pd.read_csv(out / "actions.csv")
    products = pd.read_csv(out / "segment_products.csv")
    assert actions["action"].notna().all()
    assert set(products["segment"]) == set(actions["segment"])
    assert products["description"].notna().all() and (products["lift"] > 1).all()
