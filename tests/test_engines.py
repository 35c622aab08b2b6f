"""Choosing the engine: ``--engine`` / ``--scheduler`` checks that need no dask installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TINY = Path(__file__).resolve().parent / "data" / "features_tiny.csv"


@pytest.mark.parametrize(
    "command",
    [
        ["features", "{log}", "--out", "{out}/f.csv"],
        ["train", "{log}", "--out", "{out}/M"],
        ["predict", "{out}", "{log}", "--out", "{out}/c.csv"],
        ["run", "{log}", "--out", "{out}/run"],
    ],
    ids=["features", "train", "predict", "run"],
)
def test_engine_dask_without_dask_says_how_to_install_it(cli, monkeypatch, tmp_path, command):
    # an import of a module set to None in sys.modules raises ImportError, as a missing one does
    monkeypatch.setitem(sys.modules, "distributed", None)
    args = [a.format(log=TINY, out=tmp_path) for a in command]
    res = cli(*args, "--engine", "dask")
    assert res.exit_code == 2, res.output
    assert 'pip install "toolkit[dask]"' in res.output
    assert "Traceback" not in res.output
    assert not list(tmp_path.iterdir())  # nothing written


def test_scheduler_needs_the_dask_engine(cli, tmp_path):
    res = cli("features", TINY, "--out", tmp_path / "f.csv", "--scheduler", "tcp://1.2.3.4:1")
    assert res.exit_code == 2
    assert "--scheduler applies only with --engine dask" in res.output
