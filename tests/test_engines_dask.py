"""The Dask engine gives the embedded engine's features, and says how to install dask without it.

Most tests share one in-process LocalCluster of two single-threaded workers (``processes=False``):
the tasks, their arguments and results go through the scheduler as on a real cluster (the
functions are shipped by name, the partitions written and read by each task), only without
process start-up costs on a 2-core machine. The acceptance test on 200k customers uses two worker
processes, as a real cluster has.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toolkit.features import compute_features
from toolkit.io import read_transactions

pytest.importorskip("distributed")

from toolkit.engines._cluster import _SESSION, dask_client  # noqa: E402
from toolkit.engines.dask_engine import DaskEngine  # noqa: E402

TINY = Path(__file__).resolve().parent / "data" / "features_tiny.csv"
CUTOFF = "2024-07-01"


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with dask_client(n_workers=2, threads_per_worker=1, processes=False) as c:
        yield c


@pytest.fixture
def session(client: object) -> Iterator[object]:
    """The CLI's ``--engine dask`` runs on the module's cluster instead of starting its own."""
    token = _SESSION.set(client)
    try:
        yield client
    finally:
        _SESSION.reset(token)


def on_dask(client: object, path: Path | str, partitions: int | None = None, **kwargs):
    with read_transactions(path) as tx:
        tx.engine = DaskEngine(client, partitions=partitions)
        try:
            return compute_features(tx, **kwargs)
        finally:
            tx.engine.close()


def embedded(path: Path | str, **kwargs) -> pd.DataFrame:
    with read_transactions(path) as tx:
        return compute_features(tx, **kwargs)


def split_by_month(csv: Path, out: Path) -> Path:
    """The log as a directory of Parquet files, one per month (a customer's lines are spread
    over several files, as in a history partitioned by date)."""
    df = pd.read_csv(csv, dtype=str)
    out.mkdir()
    for month, part in df.groupby(df["InvoiceDate"].str[:7]):
        part.to_parquet(out / f"{month}.parquet", index=False)
    return out


@pytest.mark.parametrize("partitions", [1, 3, 7])
@pytest.mark.parametrize("horizon", [None, 61])
def test_tiny_log_features_equal_the_embedded_engine(client, partitions, horizon):
    want = embedded(TINY, cutoff=CUTOFF, horizon=horizon)
    got = on_dask(client, TINY, partitions, cutoff=CUTOFF, horizon=horizon)
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)
    # A, B, C have purchases before the cutoff; D only after; E only a return; F no id
    assert got["customer_id"].tolist() == ["A", "B", "C"]


@pytest.mark.parametrize("as_glob", [False, True], ids=["directory", "glob"])
def test_a_directory_or_glob_of_parquet_files_reads_as_one_log(client, tmp_path, as_glob):
    months = split_by_month(TINY, tmp_path / "by_month")
    assert len(list(months.iterdir())) > 5
    source = months / "*.parquet" if as_glob else months
    want = embedded(TINY, cutoff=CUTOFF, horizon=61)
    # the embedded engine reads the directory too, and gives the single file's answer
    pd.testing.assert_frame_equal(embedded(source, cutoff=CUTOFF, horizon=61), want, rtol=1e-12)
    got = on_dask(client, source, 4, cutoff=CUTOFF, horizon=61)
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


def test_btyd_scores_and_customer_table_equal_the_embedded_engine(client, tmp_path):
    from toolkit.datasets import generate_transactions

    log = tmp_path / "log.parquet"
    files = generate_transactions(3000, seed=3, out=log)
    customers = pd.read_parquet(files.customers).astype({"gender": "category"})
    kwargs = {"cutoff": "2023-07-01", "horizon": 90, "btyd": True, "customers": customers}
    want = embedded(log, **kwargs)
    got = on_dask(client, log, 5, **kwargs)
    # fewer customers than the fit sample: the same BG/NBD and Gamma-Gamma data, the same fit
    pd.testing.assert_frame_equal(got, want, rtol=1e-9)
    assert isinstance(got["gender"].dtype, pd.CategoricalDtype)
    for model in ("bgnbd", "gamma_gamma"):
        for name, value in want.attrs["btyd"][model].items():
            assert got.attrs["btyd"][model][name] == pytest.approx(value, rel=1e-9)


def test_cli_writes_partitioned_parquet_or_one_file(cli, session, tmp_path):
    months = split_by_month(TINY, tmp_path / "by_month")
    one = tmp_path / "one.csv"
    res = cli("features", TINY, "--out", one, "--cutoff", CUTOFF, "--horizon", "61")
    assert res.exit_code == 0, res.output
    want = pd.read_csv(one, dtype={"customer_id": str})
    parts = tmp_path / "parts"
    res = cli(
        "features", months, "--out", parts, "--cutoff", CUTOFF, "--horizon", "61",
        "--engine", "dask",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "hash partitions" in res.output
    files = sorted(parts.glob("*.parquet"))
    assert len(files) >= 2 and not list(parts.glob("*.tmp"))
    got = pd.concat([pd.read_parquet(f) for f in files]).sort_values("customer_id")
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    for col in ("frequency", "recency", "T", "lifetime_spend"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))
    # BG/NBD on three customers: the likelihood is nearly flat and the optimiser stops within
    # 1e-7 of where the embedded fit (the same rows, uncompressed) stops; the 3000-customer
    # test above holds the fits to 1e-9
    for col in ("p_alive", "expected_value"):
        np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-6)
    gathered = tmp_path / "gathered.csv"
    res = cli(
        "features", months, "--out", gathered, "--cutoff", CUTOFF, "--horizon", "61",
        "--engine", "dask",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(gathered, dtype={"customer_id": str}), want, rtol=1e-6
    )


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("nothing/*.parquet", "no file matches"), ("empty_dir", "without Parquet files")],
)
def test_a_bad_directory_or_glob_is_one_message(cli, tmp_path, pattern, message):
    (tmp_path / "empty_dir").mkdir()
    res = cli("features", tmp_path / pattern, "--out", tmp_path / "f.csv", "--engine", "dask")
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_the_scratch_partitions_are_removed(client, tmp_path):
    scratch = tmp_path / "scratch"
    with read_transactions(TINY) as tx:
        tx.engine = DaskEngine(client, scratch=scratch)
        compute_features(tx, cutoff=CUTOFF)
        assert any(scratch.iterdir())
        tx.engine.close()
    assert not any(scratch.iterdir())


# --- acceptance: a 200k-customer generated log --------------------------------------------------


@pytest.fixture(scope="module")
def large_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """200,000 generated customers (about 4.6M lines), as Parquet files by month."""
    import duckdb

    from toolkit.datasets import generate_transactions

    root = tmp_path_factory.mktemp("large")
    generate_transactions(200_000, seed=11, out=root / "log.parquet")
    duckdb.execute(
        f"COPY (SELECT *, strftime(invoice_date, '%Y-%m') AS month FROM "
        f"read_parquet('{root / 'log.parquet'}')) TO '{root / 'by_month'}' "
        "(FORMAT parquet, PARTITION_BY (month))"
    )
    (root / "log.parquet").unlink()
    yield root / "by_month"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_200k_customers_on_two_worker_processes_equal_the_embedded_engine(large_log, monkeypatch):
    # both engines fit BG/NBD and Gamma-Gamma on every customer (the embedded engine's default
    # is a 50k sample, the Dask engine's the counts of all customers): the same data, the same
    # fits, so every column can be compared to 1e-9
    from functools import partial

    import toolkit.btyd as bgnbd

    monkeypatch.setattr("toolkit.features._btyd.FIT_SAMPLE", 10**9)
    everyone = partial(bgnbd.fit_standard, sample=10**9)
    monkeypatch.setattr(bgnbd, "fit_standard", everyone)
    monkeypatch.setattr("toolkit.features._btyd.fit_standard", everyone)  # its own binding
    kwargs = {"cutoff": "2023-10-01", "horizon": 90, "btyd": True}
    want = embedded(large_log, **kwargs)
    with dask_client(n_workers=2, threads_per_worker=1, processes=True) as c:
        got = on_dask(c, large_log, **kwargs)
    assert len(want) > 150_000
    pd.testing.assert_frame_equal(
        got.drop(columns="expected_value"), want.drop(columns="expected_value"), rtol=1e-9
    )
    # monetary, a sum over each customer's lines, matches to the last bits only (the lines are
    # summed in another order), and the Gamma-Gamma optimiser (one start, a flat optimum) turns
    # that into 1e-8 to 2e-7 in its parameters (seen over runs), and about 1e-8 in expected_value
    np.testing.assert_allclose(got["expected_value"], want["expected_value"], rtol=1e-7)
    for name, value in want.attrs["btyd"]["gamma_gamma"].items():
        assert got.attrs["btyd"]["gamma_gamma"][name] == pytest.approx(value, rel=1e-6)


@pytest.mark.slow
def test_a_dask_trained_model_ranks_customers_like_the_embedded_one(cli, tmp_path):
    import json

    from scipy.stats import spearmanr

    from toolkit.datasets import generate_transactions

    log = tmp_path / "log.parquet"
    # xgboost.dask's trees depend a little on how the rows fall on the workers: rho was
    # 0.992-0.993 at 6,000 and 15,000 customers, 0.995 at 20,000 (clear of the bar)
    generate_transactions(20_000, seed=7, start="2022-06-01", end="2023-12-31", out=log)
    lists = {}
    # worker processes: the model reaches the workers serialised, as on a real cluster
    with dask_client(n_workers=2, threads_per_worker=1, processes=True) as c:
        token = _SESSION.set(c)
        try:
            for engine in ("embedded", "dask"):
                model, churn = tmp_path / f"M-{engine}", tmp_path / f"churn-{engine}.csv"
                common = ["--engine", engine, "--models", "xgboost"]
                res = cli("train", log, "--out", model, "--horizon", "60", "--seed", "1", *common)
                assert res.exit_code == 0, res.output
                res = cli("predict", model, log, "--out", churn, "--engine", engine)
                assert res.exit_code == 0, res.output
                lists[engine] = pd.read_csv(churn, dtype={"customer_id": str})
                manifest = json.loads((model / "manifest.json").read_text())
        finally:
            _SESSION.reset(token)
    # the Dask model's booster was trained through xgboost.dask, and it is the champion
    assert any("xgboost.dask" in note for note in manifest["notes"])
    assert manifest["champion"] == "xgboost"
    a, b = (lists[e].set_index("customer_id") for e in ("embedded", "dask"))
    assert sorted(a.index) == sorted(b.index)
    rho = spearmanr(a["churn_probability"], b.loc[a.index, "churn_probability"]).statistic
    assert rho >= 0.99


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory, cli) -> tuple[Path, Path]:
    from toolkit.datasets import generate_transactions

    root = tmp_path_factory.mktemp("model")
    log = root / "log.parquet"
    generate_transactions(1200, seed=8, start="2022-06-01", end="2023-12-31", out=log)
    res = cli("train", log, "--out", root / "M", "--horizon", "60", "--models", "linear,tree")
    assert res.exit_code == 0, res.output
    return root / "M", log


@pytest.mark.parametrize(
    "args", [[], ["--top", "50", "--sort", "churn_probability"], ["--no-reasons"]]
)
def test_predict_on_dask_writes_the_embedded_churn_list(cli, session, small_model, tmp_path, args):
    model, log = small_model
    res = cli("predict", model, log, "--out", tmp_path / "emb.csv", *args)
    assert res.exit_code == 0, res.output
    want = pd.read_csv(tmp_path / "emb.csv", dtype={"customer_id": str})
    res = cli("predict", model, log, "--out", tmp_path / "dask.csv", "--engine", "dask", *args)
    assert res.exit_code == 0, res.output
    assert "on Dask" in res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "dask.csv", dtype={"customer_id": str}), want
    )
    # partitioned: each part in priority order, together the same list
    res = cli("predict", model, log, "--out", tmp_path / "parts", "--engine", "dask", *args)
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "parts").glob("part-*.parquet"))
    assert len(files) >= 2
    parts = [pd.read_parquet(f) for f in files]
    assert all(p["priority_rank"].is_monotonic_increasing for p in parts)
    got = pd.concat(parts).sort_values("priority_rank", ignore_index=True)
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    np.testing.assert_allclose(got["churn_probability"], want["churn_probability"], atol=5e-5)


def test_a_training_sample_is_the_same_customers_at_every_cutoff(client, tmp_path):
    from toolkit.datasets import generate_transactions

    log = tmp_path / "log.parquet"
    generate_transactions(2000, seed=4, out=log)
    with read_transactions(log) as tx:
        tx.engine = DaskEngine(client, sample_customers=500)
        try:
            early = compute_features(tx, cutoff="2023-06-01", horizon=60)
            late = compute_features(tx, cutoff="2023-10-01", horizon=60)
        finally:
            tx.engine.close()
        everyone = embedded(log, cutoff="2023-06-01", horizon=60)
    assert 400 < len(early) < 600, len(early)
    # the customers of the earlier sample who are there at the later cutoff are all in it
    assert set(early["customer_id"]) <= set(late["customer_id"])
    assert "seeded sample" in tx.engine.notes[0]
    want = everyone.set_index("customer_id").loc[early["customer_id"]].reset_index()
    pd.testing.assert_frame_equal(early, want, rtol=1e-12)
