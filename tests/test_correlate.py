"""Correlations: r, p and q-values against numpy/scipy/statsmodels, column choice, heatmap, CLI."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from toolkit.errors import InputError
from toolkit.features._correlate import CorrelationResult, _Ranker, correlate
from toolkit.reports.heatmap import cluster_order, heatmap_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# permutations of 1..6, so Pearson = Spearman = 1 - 6 sum(d^2) / (n (n^2 - 1)), by hand:
#   x~y: d = (-1, 1, -1, 1, -1, 1), sum d^2 = 6   -> r = 1 - 36/210 = 29/35
#   x~z: z = 7 - (3, 1, 2, 6, 4, 5)               -> r = -(1 - 6*8/210) = -23/35
#   y~z:                                           -> r = -(1 - 6*12/210) = -17/35
HAND = {
    "x": [1, 2, 3, 4, 5, 6],
    "y": [2, 1, 4, 3, 6, 5],
    "z": [4, 6, 5, 1, 3, 2],
}
HAND_R = {
    ("x", "y"): Fraction(29, 35),
    ("x", "z"): Fraction(-23, 35),
    ("y", "z"): Fraction(-17, 35),
}


@pytest.fixture
def hand() -> pd.DataFrame:
    return pd.DataFrame(HAND)


def _scipy(method: str, x: pd.Series, y: pd.Series) -> tuple[float, float, int]:
    ok = x.notna() & y.notna() & np.isfinite(x) & np.isfinite(y)
    func = stats.pearsonr if method == "pearson" else stats.spearmanr
    res = func(x[ok].to_numpy(float), y[ok].to_numpy(float))
    return float(res[0]), float(res[1]), int(ok.sum())


# --- the numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_hand_table_r_p_q(hand: pd.DataFrame, method: str) -> None:
    res = correlate(hand, method=method)
    pairs = res.pairs
    assert pairs.columns.tolist() == ["var_1", "var_2", "r", "p_value", "q_value", "n"]
    # sorted by |r| descending, the sign kept
    assert list(zip(pairs.var_1, pairs.var_2, strict=True)) == [("x", "y"), ("x", "z"), ("y", "z")]
    expected_r = [float(HAND_R[(a, b)]) for a, b in zip(pairs.var_1, pairs.var_2, strict=True)]
    np.testing.assert_allclose(pairs.r, expected_r, rtol=1e-12)
    corr = np.corrcoef(hand.to_numpy(float), rowvar=False)
    np.testing.assert_allclose(res.matrix.to_numpy(), corr, rtol=1e-12)
    # p-values: scipy's, and t = r sqrt((n - 2) / (1 - r^2)) by hand
    for row in pairs.itertuples():
        r, p, n = _scipy(method, hand[row.var_1], hand[row.var_2])
        assert row.r == pytest.approx(r, rel=1e-12)
        assert row.p_value == pytest.approx(p, rel=1e-9)
        assert row.n == n == 6
        t = abs(row.r) * np.sqrt(4 / (1 - row.r**2))
        assert row.p_value == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-9)
    np.testing.assert_allclose(
        pairs.q_value, multipletests(pairs.p_value, method="fdr_bh")[1], rtol=1e-12
    )
    assert res.method == method
    assert res.columns == ["x", "y", "z"]
    assert res.matrix.columns.tolist() == res.matrix.index.tolist() == ["x", "y", "z"]


def _messy_frame(seed: int = 7, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "a": a,
            "b": a + rng.normal(size=n),
            "count": rng.poisson(2 + 2 * (a > 0), size=n),  # whole numbers, many ties
            "rounded": np.round(rng.normal(size=n) - a, 1),  # float ties
            "big": 1e9 + np.exp(a) + rng.normal(size=n),  # large offset, small spread
            "flag": rng.random(n) < 0.3,  # boolean
        }
    )
    df["count"] = df["count"].astype("Int64")
    # three missingness patterns: "gap" columns missing together, one on its own, and inf
    gap = rng.random(n) < 0.3
    df.loc[gap, ["rounded", "b"]] = np.nan
    df.loc[rng.random(n) < 0.2, "count"] = pd.NA
    df.loc[rng.random(n) < 0.05, "big"] = np.inf
    return df


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_pairwise_complete_matches_scipy(method: str) -> None:
    df = _messy_frame()
    res = correlate(df, method=method)
    assert len(res.pairs) == 15
    for row in res.pairs.itertuples():
        x = df[row.var_1].astype("float64")
        y = df[row.var_2].astype("float64")
        r, p, n = _scipy(method, x, y)
        assert row.n == n, (row.var_1, row.var_2)
        assert row.r == pytest.approx(r, rel=1e-9, abs=1e-12), (row.var_1, row.var_2)
        assert row.p_value == pytest.approx(p, rel=1e-8, abs=1e-300), (row.var_1, row.var_2)
        assert res.matrix.loc[row.var_1, row.var_2] == res.matrix.loc[row.var_2, row.var_1]
    np.testing.assert_allclose(
        res.pairs.q_value, multipletests(res.pairs.p_value, method="fdr_bh")[1], rtol=1e-12
    )


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_matches_pandas_corr(method: str) -> None:
    # without "big": pandas' one-pass update loses ~1e-8 of r to the 1e9 offset (checked against
    # exact rational arithmetic; ours and scipy's agree with it to 1e-15)
    df = _messy_frame(seed=3, n=500).drop(columns="big").astype("float64")
    res = correlate(df, method=method)
    expected = df.corr(method=method, min_periods=3)
    np.testing.assert_allclose(res.matrix.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_ranker_matches_scipy_rankdata() -> None:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            rng.normal(size=400),  # sorted once, subsets read off the order
            rng.integers(0, 6, 400).astype(float),  # counted
            np.round(rng.normal(size=400), 1),  # float ties
            rng.integers(-3, 3, 400) * 1e9,  # whole numbers, too wide a range to count
        ]
    )
    X[rng.random(400) < 0.3, 1] = np.nan
    X[rng.random(400) < 0.3, 2] = np.nan
    ranker = _Ranker(X)
    rows = ~np.isnan(X).any(axis=1)
    for j in range(X.shape[1]):
        np.testing.assert_array_equal(ranker.ranks(j, rows), stats.rankdata(X[rows, j]))
    np.testing.assert_array_equal(ranker.ranks(3), stats.rankdata(X[:, 3]))


def test_spearman_and_pearson_differ_on_monotone_nonlinear() -> None:
    x = np.arange(1.0, 21.0)
    df = pd.DataFrame({"x": x, "y": np.exp(x)})
    spearman = correlate(df, method="spearman").pairs.iloc[0]
    pearson = correlate(df, method="pearson").pairs.iloc[0]
    assert spearman.r == pytest.approx(1.0)
    assert spearman.p_value == 0.0
    assert pearson.r < 0.8
    assert pearson.r == pytest.approx(stats.pearsonr(x, np.exp(x))[0], rel=1e-12)


def test_constant_on_a_pairs_rows_gives_no_r() -> None:
    # a is constant where b is present: no correlation can be measured there
    df = pd.DataFrame(
        {
            "a": [1.0, 1.0, 1.0, 5.0, 2.0, 3.0],
            "b": [0.3, 2.0, 7.0, np.nan, np.nan, np.nan],
            "c": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
        }
    )
    for method in ("pearson", "spearman"):
        pairs = correlate(df, method=method).pairs.set_index(["var_1", "var_2"])
        assert np.isnan(pairs.loc[("a", "b"), "r"])
        assert np.isnan(pairs.loc[("a", "b"), "p_value"])
        assert np.isnan(pairs.loc[("a", "b"), "q_value"])
        assert pairs.loc[("a", "b"), "n"] == 3
        # pairs without an r sort last
        assert pairs.index[-1] == ("a", "b")


def test_pairs_with_fewer_than_three_common_rows_have_no_r() -> None:
    df = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],
            "b": [np.nan, 5.0, 1.0, 2.0, 4.0, 3.0],
            "c": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
        }
    )
    pairs = correlate(df).pairs.set_index(["var_1", "var_2"])
    assert pairs.loc[("a", "b"), "n"] == 2
    assert np.isnan(pairs.loc[("a", "b"), "r"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.tuples(*[st.one_of(st.none(), st.integers(-20, 20)) for _ in range(4)]),
        min_size=3,
        max_size=30,
    ),
    method=st.sampled_from(["pearson", "spearman"]),
)
def test_invariants(data: list[tuple[int | None, ...]], method: str) -> None:
    df = pd.DataFrame(data, columns=list("abcd"), dtype="float64")
    try:
        res = correlate(df, method=method)
    except InputError:
        return  # fewer than 2 usable columns
    r = res.pairs["r"].dropna()
    assert ((r >= -1) & (r <= 1)).all()
    absr = res.pairs["r"].abs().to_numpy()
    known = absr[~np.isnan(absr)]
    assert (np.diff(known) <= 0).all()
    assert np.isnan(absr[len(known) :]).all()  # no-r pairs last
    q, p = res.pairs["q_value"], res.pairs["p_value"]
    assert (q.dropna() >= p.dropna() - 1e-15).all()
    m = res.matrix.to_numpy()
    np.testing.assert_array_equal(m, m.T)
    expected = df[res.columns].corr(method=method, min_periods=3).to_numpy()
    np.testing.assert_allclose(m, expected, rtol=1e-9, atol=1e-9)


# --- which columns ------------------------------------------------------------------------------


def test_skipped_columns_are_reported(hand: pd.DataFrame) -> None:
    df = hand.assign(
        customer_id=pd.array(list("abcdef"), dtype="string"),
        ticket=pd.array(["t1", "t2", "t3", "t4", "t5", "t6"], dtype="string"),
        city=pd.Categorical(["A", "B", "A", "B", "A", "B"]),
        first_purchase=pd.date_range("2024-01-01", periods=6),
        country=pd.array(["UK"] * 6, dtype="string"),
        const=7,
        sparse=[1.0, 2.0, np.nan, np.nan, np.nan, np.nan],
        empty=np.nan,
        blank=pd.array([None] * 6, dtype="string"),
    )
    res = correlate(df)
    assert res.columns == ["x", "y", "z"]
    assert res.skipped == {
        "customer_id": "id",
        "ticket": "id",  # unique text identifies the row
        "city": "non-numeric",
        "first_purchase": "non-numeric",
        "country": "non-numeric",
        "const": "constant",
        "sparse": "too few values",
        "empty": "all missing",
        "blank": "all missing",
    }
    summary = res.summary()
    assert {s["column"]: s["reason"] for s in summary["skipped"]} == res.skipped
    assert {s["column"]: s["dtype"] for s in summary["skipped"]}["city"] == "category"
    json.dumps(summary, allow_nan=False)


def test_labels_booleans_and_explicit_columns(hand: pd.DataFrame) -> None:
    df = hand.assign(
        repeat_purchase=[0, 0, 1, 0, 1, 1],
        holdout_spend=[0.0, 0.0, 9.5, 0.0, 20.0, 12.0],
        vip=[False, True, False, True, True, True],
        ID=[11, 12, 13, 14, 15, 16],
    )
    res = correlate(df)
    assert res.columns == ["x", "y", "z", "repeat_purchase", "holdout_spend", "vip"]
    assert res.skipped == {"ID": "id"}
    vip = res.pairs.set_index(["var_1", "var_2"]).loc[("x", "vip"), "r"]
    assert vip == pytest.approx(np.corrcoef(df.x, df.vip.astype(float))[0, 1])
    # named explicitly, a numeric id-like column is used; the order is the caller's
    res = correlate(df, columns=["ID", "x"])
    assert res.columns == ["ID", "x"]
    assert correlate(df, columns=["x", "y"], id_column="z").columns == ["x", "y"]
    assert correlate(df, id_column="x").skipped == {"x": "id"}


def test_summary_strongest_are_significant_and_capped() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(size=(200, 1))
    strong = base + 0.3 * rng.normal(size=(200, 6))
    noise = rng.normal(size=(200, 3))
    df = pd.DataFrame(np.hstack([strong, noise]), columns=[f"s{i}" for i in range(6)] + list("uvw"))
    res = correlate(df)
    summary = res.summary()
    assert summary["n_pairs"] == 36
    assert summary["n_significant"] == int((res.pairs.q_value < 0.05).sum()) >= 15
    assert len(summary["strongest"]) == 10
    assert all(p["q_value"] < 0.05 for p in summary["strongest"])
    assert summary["strongest"][0]["r"] == pytest.approx(res.pairs.r.iloc[0])
    assert set(summary["strongest"][0]) == {"var_1", "var_2", "r", "p_value", "q_value", "n"}
    assert summary["columns"] == res.columns and summary["method"] == "pearson"
    assert summary["n_rows"] == 200 and summary["alpha"] == 0.05
    assert len(res.summary(top=3)["strongest"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "kendall"}, "method must be one of ['pearson', 'spearman'], got 'kendall'"),
        ({"columns": ["x", "nope"]}, "columns ['nope'] are not in the table"),
        ({"columns": "x"}, "columns must be a list of column names"),
        ({"id_column": "nope"}, "id_column 'nope' is not a column"),
        ({"columns": ["x"]}, "at least 2 usable numeric columns"),
    ],
    ids=["method", "unknown-column", "string-columns", "unknown-id", "one-column"],
)
def test_bad_arguments(hand: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        correlate(hand, **kwargs)


def test_too_few_usable_columns_says_why() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "g": ["u", "v", "u"], "k": [1, 1, 1], "x": [1, 2, 3]})
    with pytest.raises(InputError) as err:
        correlate(df)
    text = str(err.value)
    assert "got 1 ('x')" in text
    assert "'g' (non-numeric)" in text and "'k' (constant)" in text and "'id' (id)" in text


# --- heatmap ------------------------------------------------------------------------------------


def test_cluster_order_puts_related_columns_together() -> None:
    m = pd.DataFrame(
        [
            [1.0, 0.0, 0.9, 0.0],
            [0.0, 1.0, 0.1, -0.8],
            [0.9, 0.1, 1.0, 0.0],
            [0.0, -0.8, 0.0, 1.0],
        ],
        index=list("abcd"),
        columns=list("abcd"),
    )
    order = cluster_order(m)
    assert sorted(order) == list("abcd")
    assert abs(order.index("a") - order.index("c")) == 1
    assert abs(order.index("b") - order.index("d")) == 1  # strong negative r clusters too


@pytest.mark.parametrize(("k", "annotated"), [(3, True), (21, False)])
def test_heatmap_annotates_small_matrices_only(k: int, annotated: bool) -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame(rng.normal(size=(30, k)), columns=[f"income (k$) {i}" for i in range(k)])
    res = correlate(df, method="spearman")
    fig = heatmap_figure(res)
    ax = fig.axes[0]
    assert len(ax.texts) == (k * k if annotated else 0)
    assert ax.get_title().startswith("Spearman correlation")
    assert len(fig.axes) == 2  # the colorbar
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(label.replace("\\$", "$") for label in labels) == sorted(df.columns)


def test_heatmap_leaves_pairs_without_r_blank() -> None:
    df = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan],
            "b": [np.nan, np.nan, np.nan, 2.0, 4.0, 3.0],
            "c": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
        }
    )
    res = correlate(df)
    assert cluster_order(res.matrix)[1] == "c"  # no r = unrelated, c is between
    ax = heatmap_figure(res).axes[0]
    assert len(ax.texts) == 9 - 2


# --- CLI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_writes_three_files(cli, tmp_path, hand: pd.DataFrame, suffix: str) -> None:
    data = tmp_path / f"features{suffix}"
    df = hand.assign(customer_id=[f"c{i}" for i in range(6)], segment=list("aabbab"))
    if suffix == ".csv":
        df.to_csv(data, index=False)
    else:
        df.to_parquet(data, index=False)
    out = tmp_path / "corr"
    result = cli("correlate", data, "--out", out, "--method", "spearman")
    assert result.exit_code == 0, result.output
    assert (out / "heatmap.png").read_bytes()[:8] == PNG_MAGIC
    table = pd.read_csv(out / "correlations.csv")
    assert table.columns.tolist() == ["var_1", "var_2", "r", "p_value", "q_value", "n"]
    assert list(zip(table.var_1, table.var_2, strict=True)) == [("x", "y"), ("x", "z"), ("y", "z")]
    np.testing.assert_allclose(table.r, [29 / 35, -23 / 35, -17 / 35], rtol=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "spearman" and summary["n_pairs"] == 3
    assert {s["column"]: s["reason"] for s in summary["skipped"]} == {
        "customer_id": "id",
        "segment": "non-numeric",
    }
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["pair", "r", "q_value", "n"]
    assert lines[1].split()[:4] == ["x", "~", "y", "0.829"]
    assert not list(out.glob(".*.tmp"))  # nothing half-written left behind


def test_cli_columns_and_top_five(cli, tmp_path) -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(40, 5)), columns=list("abcde"))
    data = tmp_path / "f.json"
    df.to_json(data, orient="records")
    result = cli("correlate", data, "--out", tmp_path / "o", "--columns", "a, b,c")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1 + 3
    result = cli("correlate", data, "--out", tmp_path / "o")
    assert len(result.stdout.strip().splitlines()) == 1 + 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "kendall"], "'kendall' is not one of 'pearson', 'spearman'"),
        (["--columns", "x,nope"], "--columns: ['nope'] not in"),
        (["--columns", ","], "--columns must name at least 2 columns"),
        (["--columns", "x,label"], "at least 2 usable numeric columns"),
        (["--id-col", "nope"], "id column 'nope' is not a column"),
    ],
    ids=["method", "unknown-column", "empty-columns", "one-numeric", "unknown-id"],
)
def test_cli_bad_input_exits_2(cli, tmp_path, hand: pd.DataFrame, args, message) -> None:
    data = tmp_path / "f.csv"
    hand.assign(label=list("abcabc")).to_csv(data, index=False)
    result = cli("correlate", data, "--out", tmp_path / "o", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o" / "correlations.csv").exists()


def test_cli_out_must_be_a_directory(cli, tmp_path, hand: pd.DataFrame) -> None:
    data = tmp_path / "f.csv"
    hand.to_csv(data, index=False)
    (tmp_path / "taken").write_text("")
    result = cli("correlate", data, "--out", tmp_path / "taken")
    assert result.exit_code == 2
    assert "is a file" in result.output


# --- real data ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_mall_customers(shared_data, cli, tmp_path) -> None:
    from toolkit.io import read_table

    df = read_table(shared_data / "Mall_Customers.csv")
    res = correlate(df)
    assert isinstance(res, CorrelationResult)
    assert res.columns == ["Age", "Annual Income (k$)", "Spending Score (1-100)"]
    assert res.skipped == {"CustomerID": "id", "Genre": "non-numeric"}
    top = res.pairs.iloc[0]
    assert (top.var_1, top.var_2) == ("Age", "Spending Score (1-100)")
    assert top.r == pytest.approx(-0.327, abs=5e-4)
    assert top.q_value < 0.05
    assert res.summary()["n_significant"] == 1
    result = cli("correlate", shared_data / "Mall_Customers.csv", "--out", tmp_path / "mall")
    assert result.exit_code == 0, result.output
    assert "Age ~ Spending Score (1-100)" in result.stdout.splitlines()[1]


def test_cli_outputs_land_together_or_not_at_all(cli, tmp_path, hand: pd.DataFrame) -> None:
    data = tmp_path / "f.csv"
    hand.to_csv(data, index=False)
    out = tmp_path / "corr"
    (out / "heatmap.png").mkdir(parents=True)  # in the way of one of the three
    (out / "summary.json").write_text('{"old": 1}')
    result = cli("correlate", data, "--out", out)
    assert result.exit_code == 2, result.output
    assert "a directory is in the way" in result.stderr
    # no new correlations.csv beside the old summary
    assert sorted(p.name for p in out.iterdir()) == ["heatmap.png", "summary.json"]
    assert (out / "summary.json").read_text() == '{"old": 1}'


def test_cli_notes_a_table_that_is_not_one_row_per_customer(cli, tmp_path, hand) -> None:
    data = tmp_path / "log.csv"
    hand.assign(customer_id=list("aabbcc")).to_csv(data, index=False)
    result = cli("correlate", data, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "note: the ids in 'customer_id' repeat (6 rows, 3 distinct)" in result.stderr


def test_cli_csv_booleans_are_used_and_infinities_noted(cli, tmp_path) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    df = pd.DataFrame(
        {"x": x, "y": x * 2 + rng.normal(size=40), "big": rng.normal(size=40) * 1e160}
    )
    df["flag"] = np.where(x > 0, "True", "False")  # read as booleans, as Parquet's are
    df.loc[5, "y"] = np.inf
    data = tmp_path / "f.csv"
    df.to_csv(data, index=False)
    result = cli("correlate", data, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "note: 'y' has 1 infinite value, counted as missing" in result.stderr
    assert "RuntimeWarning" not in result.stderr  # the 1e160 sums overflow: no r, no warning
    table = pd.read_csv(tmp_path / "o" / "correlations.csv")
    assert "flag" in set(table.var_1) | set(table.var_2)
    assert table.loc[(table.var_1 == "x") & (table.var_2 == "y"), "n"].item() == 39
