"""Shared fixtures: the real data beside the checkout, and tiny hand-made tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA_DIR = Path(__file__).resolve().parent / "data"

# matplotlib must never try to open a window in tests
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout, or skip: a user's fresh clone does not have it."""
    if not (SHARED_DATA / "DATA.md").exists():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent (only on developer/CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def cli():
    """A function running the CLI in-process: ``cli("validate", path)`` -> click Result."""
    from typer.testing import CliRunner

    from toolkit.cli import app

    runner = CliRunner()

    def run(*args: object):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """One `toolkit demo` run on 800 customers, shared by the pipeline, report and browser tests."""
    from typer.testing import CliRunner

    from toolkit.cli import app

    out = tmp_path_factory.mktemp("demo") / "out"
    result = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--customers", "800", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "results in" in result.stderr
    return out
