"""The console entry point as a real process: exit codes and output survive its quick end."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DEMO_LINES = "customer_id,invoice_date,amount\n1,2011-01-02,3\n1,2011-02-02,5\n2,2011-01-05,4\n"


def _run(*args: object, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *map(str, args)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def test_output_redirected_to_a_file_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "help.txt"
    with open(out, "w") as fh:
        proc = _run("--help", stdout=fh)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("Usage: ") and "features" in text


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--version"], 0), (["features", "no-such-file.csv", "--out", "f.parquet"], 2)],
)
def test_exit_code_is_the_commands(tmp_path: Path, args: list[str], code: int) -> None:
    proc = _run(*args)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_command_writes_its_output_and_leaves_no_spill_directory(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(DEMO_LINES)
    out = tmp_path / "features.csv"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; print(os.getpid(), file=sys.stderr); "
            "sys.argv = ['toolkit', *sys.argv[1:]]; from toolkit.cli import main; main()",
            "features",
            str(log),
            "--out",
            str(out),
            "--no-btyd",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("customer_id,")
    pid = proc.stderr.splitlines()[0]
    assert not (Path(tempfile.gettempdir()) / f"toolkit-duckdb-{pid}").exists()
    assert "wrote features of 2 customers" in proc.stderr
