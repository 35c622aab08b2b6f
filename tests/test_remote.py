"""Inputs in object storage (``s3://...``): the same features as the same files read locally.

A local S3-compatible server (moto's, on 127.0.0.1) holds the logs; s3fs reaches it through
``AWS_ENDPOINT_URL`` and fake credentials in the environment, which the Dask worker processes
inherit as a real cluster's workers would have theirs. The Dask tests use two worker processes:
each split task fetches its own file from the server.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from toolkit.features import compute_features
from toolkit.io import read_transactions

pytest.importorskip("s3fs", reason="the s3:// tests need s3fs (pip install s3fs)")
pytest.importorskip(
    "moto.server", reason="the s3:// tests need moto's server: pip install 'moto[server]'"
)

TINY = Path(__file__).resolve().parent / "data" / "features_tiny.csv"
CUTOFF = "2024-07-01"
BUCKET = "toolkit-test"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A moto S3 server with the bucket ``toolkit-test``: ``logs/`` (the tiny log by month, as
    Parquet), ``tiny.csv`` and ``other/readme.txt``. Yields the local directory of the months."""
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("AWS_PROFILE", raising=False)
        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        months = tmp_path_factory.mktemp("local") / "logs"
        months.mkdir()
        df = pd.read_csv(TINY, dtype=str)
        for month, part in df.groupby(df["InvoiceDate"].str[:7]):
            part.to_parquet(months / f"{month}.parquet", index=False)
            fs.put_file(str(months / f"{month}.parquet"), f"{BUCKET}/logs/{month}.parquet")
        fs.put_file(str(TINY), f"{BUCKET}/tiny.csv")
        fs.pipe_file(f"{BUCKET}/other/readme.txt", b"not a log")
        try:
            yield months
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


def embedded(path: Path | str, **kwargs: object) -> pd.DataFrame:
    with read_transactions(path) as tx:
        return compute_features(tx, **kwargs)


@pytest.fixture(scope="module")
def cluster(s3: Path) -> Iterator[object]:
    """Two worker processes, started after the environment points s3fs at the server."""
    pytest.importorskip("distributed")
    from toolkit.engines._cluster import dask_client

    with dask_client(n_workers=2, threads_per_worker=1, processes=True) as c:
        yield c


# the same log four ways: a prefix, the prefix without its slash, a glob, one CSV file
SOURCES = {
    "prefix": (f"s3://{BUCKET}/logs/", "logs"),
    "prefix-no-slash": (f"s3://{BUCKET}/logs", "logs"),
    "glob": (f"s3://{BUCKET}/logs/2024-0*.parquet", "logs/2024-0*.parquet"),
    "csv": (f"s3://{BUCKET}/tiny.csv", None),
}


def local_source(s3: Path, key: str) -> Path:
    local = SOURCES[key][1]
    if local is None:
        return TINY
    return s3.parent / local


@pytest.mark.parametrize("key", list(SOURCES))
def test_embedded_features_from_s3_equal_the_local_files(s3, key):
    url = SOURCES[key][0]
    want = embedded(local_source(s3, key), cutoff=CUTOFF, horizon=61)
    pd.testing.assert_frame_equal(embedded(url, cutoff=CUTOFF, horizon=61), want)


def test_the_client_reads_only_the_footers_of_remote_parquet(s3):
    with read_transactions(SOURCES["prefix"][0]) as tx:
        assert tx.raw.remote is not None and tx.raw.files is None  # read in place
        assert len(tx.raw.remote.urls) == len(list(s3.iterdir()))
        assert all(u.startswith(f"s3://{BUCKET}/logs/") for u in tx.raw.remote.urls)


@pytest.mark.parametrize("key", ["prefix", "glob", "csv"])
def test_dask_features_from_s3_equal_the_local_files(s3, cluster, key):
    from toolkit.engines.dask_engine import DaskEngine

    want = embedded(local_source(s3, key), cutoff=CUTOFF, horizon=61)
    with read_transactions(SOURCES[key][0]) as tx:
        tx.engine = DaskEngine(cluster, partitions=3)
        try:
            got = compute_features(tx, cutoff=CUTOFF, horizon=61)
        finally:
            tx.engine.close()
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


def test_cli_features_and_validate_from_s3(s3, cluster, cli, tmp_path):
    from toolkit.engines._cluster import _SESSION
    from toolkit.io import _remote

    url = SOURCES["prefix"][0]
    common = ["--cutoff", CUTOFF, "--horizon", "61"]
    res = cli("features", s3, "--out", tmp_path / "local.csv", *common)
    assert res.exit_code == 0, res.output
    want = pd.read_csv(tmp_path / "local.csv", dtype={"customer_id": str})
    _remote._CACHE.clear()  # earlier tests' downloads: this one downloads, and says so
    res = cli("features", url, "--out", tmp_path / "emb.csv", *common)
    assert res.exit_code == 0, res.output
    assert f"downloading {len(list(s3.iterdir()))} file(s)" in res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "emb.csv", dtype={"customer_id": str}), want
    )
    token = _SESSION.set(cluster)
    try:
        res = cli("features", url, "--out", tmp_path / "dask.csv", *common, "--engine", "dask")
    finally:
        _SESSION.reset(token)
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "dask.csv", dtype={"customer_id": str}), want, rtol=1e-6
    )
    res = cli("validate", SOURCES["csv"][0], "--json")
    assert res.exit_code == 0, res.output
    assert f'"source": "s3://{BUCKET}/tiny.csv"' in res.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://no-such-bucket-x/logs/", "no such file, prefix or bucket"),
        ("s3://no-such-bucket-x/logs/*.parquet", "the bucket 'no-such-bucket-x' does not exist"),
        (f"s3://{BUCKET}/logs/1999-*.parquet", "no file matches this pattern"),
        (f"s3://{BUCKET}/other/", "is a prefix without Parquet files"),
        (f"s3://{BUCKET}/missing.csv", "no such file, prefix or bucket"),
        (f"s3://{BUCKET}/*", "must name Parquet files only"),
    ],
    ids=["missing-bucket", "missing-bucket-glob", "no-match", "no-parquet", "no-file", "mixed"],
)
@pytest.mark.parametrize("engine", ["embedded", "dask"])
def test_a_bad_url_is_one_message_naming_it(s3, cli, tmp_path, url, message, engine):
    if engine == "dask":
        pytest.importorskip("distributed")
    res = cli("features", url, "--out", tmp_path / "f.csv", "--engine", engine)
    assert res.exit_code == 2, res.output
    assert message in res.output and url.rstrip("/") in res.output
    assert "Traceback" not in res.output and res.output.count("error:") == 1
    assert not (tmp_path / "f.csv").exists()


def test_a_missing_backend_says_what_to_install(s3, cli, tmp_path, monkeypatch):
    import fsspec  # noqa: F401

    registry = sys.modules["fsspec.registry"]  # the module (fsspec.registry is its mapping)
    # as without s3fs installed: fsspec's import of it fails
    monkeypatch.setitem(sys.modules, "s3fs", None)
    monkeypatch.delitem(registry._registry, "s3", raising=False)
    url = SOURCES["prefix"][0]
    res = cli("features", url, "--out", tmp_path / "f.csv")
    assert res.exit_code == 2, res.output
    assert url.rstrip("/") in res.output and "pip install s3fs" in res.output
    assert "Traceback" not in res.output


def test_access_denied_is_one_message(s3, cli, tmp_path, monkeypatch):
    from toolkit.io import _read, _remote

    def denied(url: str) -> object:
        raise _remote._failure(url, PermissionError("Access Denied"), "list it")

    monkeypatch.setattr(_read, "list_files", denied)
    url = SOURCES["prefix"][0]
    res = cli("validate", url)
    assert res.exit_code == 2, res.output
    assert f"{url.rstrip('/')}: access denied" in res.output and "AWS_ACCESS_KEY_ID" in res.output


def test_an_output_url_is_refused(s3, cli, tmp_path):
    res = cli("features", SOURCES["csv"][0], "--out", f"s3://{BUCKET}/features.csv")
    assert res.exit_code == 2, res.output
    assert "--out" in res.output and "local path" in res.output
    assert not Path("s3:").exists()


def test_urls_are_recognised_through_pathlib():
    from toolkit.io._remote import as_url

    # typer hands the CLI's arguments over as Path objects, which collapse the double slash
    assert as_url(Path("s3://bucket/logs/")) == "s3://bucket/logs"
    assert as_url(Path("abfs://container/logs/x.parquet")) == "abfs://container/logs/x.parquet"
    assert as_url(Path(os.getcwd())) is None


def test_train_run_and_predict_on_dask_from_s3(s3, cluster, cli, tmp_path):
    import s3fs

    from toolkit.datasets import generate_transactions
    from toolkit.engines._cluster import _SESSION

    log = tmp_path / "log.parquet"
    generate_transactions(600, seed=8, start="2022-06-01", end="2023-12-31", out=log)
    s3fs.S3FileSystem().put_file(str(log), f"{BUCKET}/gen/log.parquet")
    url = f"s3://{BUCKET}/gen/log.parquet"
    res = cli("train", url, "--out", tmp_path / "M", "--horizon", "60", "--models", "linear")
    assert res.exit_code == 0, res.output
    res = cli("predict", tmp_path / "M", log, "--out", tmp_path / "local.csv")
    assert res.exit_code == 0, res.output
    want = pd.read_csv(tmp_path / "local.csv", dtype={"customer_id": str})
    token = _SESSION.set(cluster)
    try:
        res = cli(
            "predict", tmp_path / "M", url, "--out", tmp_path / "dask.csv", "--engine", "dask"
        )
    finally:
        _SESSION.reset(token)
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "dask.csv", dtype={"customer_id": str}), want
    )
    # the URL as the user wrote it, not as pathlib collapses it (s3:/bucket)
    assert f"customers of {url} as of" in res.output and f"s3:/{BUCKET}" not in res.output
    res = cli("predict", tmp_path / "M", url, "--out", tmp_path / "embedded.csv")
    assert res.exit_code == 0, res.output
    assert f"customers of {url} as of" in res.output
    res = cli("run", url, "--out", tmp_path / "run", "--horizon", "60", "--models", "linear")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "churn_list.csv").exists()
