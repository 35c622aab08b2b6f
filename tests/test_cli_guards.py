"""What every command refuses or survives, whatever it computes: an output onto its own input or
into a saved model, malformed shared options, Ctrl-C and SIGTERM (exit 130 / 143, no temporary
file left)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import typer

from toolkit._process import TERMINATED, exit_on_sigterm
from toolkit.commands.common import handle_errors
from toolkit.io import write_atomic

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "features_tiny.csv"  # described in test_features.py


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


@pytest.mark.parametrize("spelling", ["same", "dotted", "link"])
def test_out_onto_the_input_is_refused_and_the_input_kept(cli, tmp_path, spelling, monkeypatch):
    data = _copy(TINY, tmp_path / "log.csv")
    before = data.read_bytes()
    monkeypatch.chdir(tmp_path)
    out = {"same": data, "dotted": Path("./log.csv"), "link": tmp_path / "link.csv"}[spelling]
    if spelling == "link":
        out.symlink_to(data)
    result = cli("features", data, "--out", out)
    assert result.exit_code == 2, result.output
    assert "is the input DATA" in result.stderr and "choose another output path" in result.stderr
    assert data.read_bytes() == before


def test_out_onto_the_customers_table_is_refused(cli, tmp_path):
    table = tmp_path / "customers.csv"
    table.write_text("CustomerID,age\nA,30\nB,41\n")
    before = table.read_bytes()
    result = cli("features", TINY, "--customers-table", table, "--out", table)
    assert result.exit_code == 2, result.output
    assert "is the input --customers-table" in result.stderr
    assert table.read_bytes() == before


def _model_dir(path: Path) -> Path:
    """What the guard recognises as a model directory of toolkit train (its manifest)."""
    (path / "models").mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"format": "toolkit.model"}))
    return path


@pytest.mark.parametrize("inside", ["manifest.json", "models/xgboost.json", "report.csv"])
def test_out_inside_a_model_directory_is_refused(cli, tmp_path, inside):
    model = _model_dir(tmp_path / "model")
    listing = sorted(p.name for p in model.rglob("*"))
    result = cli("features", TINY, "--out", model / inside)
    assert result.exit_code == 2, result.output
    assert "is inside the saved model" in result.stderr
    assert sorted(p.name for p in model.rglob("*")) == listing


def test_out_inside_a_segmenter_is_refused(cli, tmp_path):
    segmenter = tmp_path / "segments" / "segmenter"
    segmenter.mkdir(parents=True)
    (segmenter / "segmenter.json").write_text("{}")
    result = cli("features", TINY, "--out", segmenter / "f.csv")
    assert result.exit_code == 2, result.output
    assert "is inside the saved model" in result.stderr
    # beside the segmenter, in the segment run's directory, is fine
    result = cli("features", TINY, "--out", tmp_path / "segments" / "f.csv")
    assert result.exit_code == 0, result.output


def test_a_directory_named_like_a_manifest_is_not_a_model(cli, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    result = cli("features", TINY, "--out", folder / "f.csv")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("names", "message"),
    [("a,a,b,c,d,e", "'a' repeated"), ("a,,b,c,d,e", "non-empty name")],
)
def test_bad_names_name_the_option(cli, tmp_path, names, message):
    result = cli("features", TINY, "--out", tmp_path / "f.csv", "--names", names)
    assert result.exit_code == 2, result.output
    assert "--names must give each column a different" in result.stderr
    assert message in result.stderr


def test_a_date_format_duckdb_cannot_read_names_the_option(cli, tmp_path):
    result = cli("features", TINY, "--out", tmp_path / "f.csv", "--date-format", "%Y-%Q")
    assert result.exit_code == 2, result.output
    assert "--date-format '%Y-%Q' is not a format DuckDB can read" in result.stderr


# --- signals -----------------------------------------------------------------------------------


@pytest.fixture
def sigterm_raises():
    """The CLI's SIGTERM handler installed in this process for one test, then the old one."""
    import toolkit._process as process

    old = signal.getsignal(signal.SIGTERM)
    exit_on_sigterm()
    yield
    signal.signal(signal.SIGTERM, old)
    process._terminated = False


def test_sigterm_unwinds_so_a_half_written_output_is_removed(tmp_path, sigterm_raises):
    out = tmp_path / "f.csv"
    with pytest.raises(SystemExit) as exc, write_atomic(out) as tmp:
        tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert exc.value.code == TERMINATED
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_a_duckdb_query_exits_143_with_one_line(tmp_path, sigterm_raises, capsys):
    # DuckDB answers a signal during a query with its own error, not the handler's SystemExit
    # (seen with the CLI: `timeout -s TERM 1 toolkit features big.parquet ...`); the handler
    # has noted the signal, so the command still ends as terminated
    import toolkit._process as process

    @handle_errors
    def command(*, out: Path) -> None:
        with write_atomic(out) as tmp:
            tmp.write_text("half")
            process._terminated = True  # what the handler does first
            raise RuntimeError("Query interrupted")

    with pytest.raises(typer.Exit) as exc:
        command(out=tmp_path / "f.csv")
    assert exc.value.exit_code == TERMINATED
    assert capsys.readouterr().err.strip() == "terminated"
    assert list(tmp_path.iterdir()) == []


def test_a_second_sigterm_does_not_cut_the_cleanup(tmp_path, sigterm_raises):
    out = tmp_path / "f.csv"
    with pytest.raises(SystemExit), write_atomic(out) as tmp:
        tmp.write_text("half")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # during the unwinding: ignored
            for _ in range(1000):
                pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "raised", [KeyboardInterrupt(), RuntimeError("Query interrupted")], ids=["python", "duckdb"]
)
def test_ctrl_c_exits_130_with_one_line(tmp_path, capsys, raised):
    # DuckDB reports a query cut short by Ctrl-C with its own error, not KeyboardInterrupt
    @handle_errors
    def command(*, out: Path) -> None:
        with write_atomic(out) as tmp:
            tmp.write_text("half")
            raise raised

    with pytest.raises(typer.Exit) as exc:
        command(out=tmp_path / "f.csv")
    assert exc.value.exit_code == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["segment", "train", "generate"])
def test_a_negative_seed_is_refused_by_every_command(cli, tmp_path, command):
    args = {
        "segment": ["segment", TINY, "--out", tmp_path / "o"],
        "train": ["train", TINY, "--out", tmp_path / "o"],
        "generate": ["generate", "--customers", "5", "--out", tmp_path / "g.csv"],
    }[command]
    result = cli(*args, "--seed", "-1")
    assert result.exit_code == 2, result.output
    assert "--seed must be a non-negative whole number, got -1" in result.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("features", "Not a directory"),
        ("correlate", "Not a directory"),
        ("generate", "a file of that name is in the way"),
    ],
)
def test_an_output_under_a_file_exits_2(cli, tmp_path, command, message):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file")
    args = {
        "features": ["features", TINY, "--out", blocker / "sub" / "f.csv"],
        "correlate": ["correlate", TINY, "--out", blocker / "sub"],
        "generate": ["generate", "--customers", "5", "--out", blocker / "g.csv"],
    }[command]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert blocker.read_text() == "a file"


def test_an_empty_column_option_is_refused(cli, tmp_path):
    result = cli("features", TINY, "--out", tmp_path / "f.csv", "--customer-col", " ")
    assert result.exit_code == 2, result.output
    assert "--customer-col must name a column, got ' '" in result.stderr


def test_a_directory_output_never_replaces_an_input(cli, tmp_path):
    # clv writes customers.csv into --out: here that is the input itself
    data = tmp_path / "customers.csv"
    data.write_text("ID,frequency,recency,T\n1,0,0,5\n2,2,3,5\n3,1,4,6\n")
    before = data.read_bytes()
    result = cli("clv", data, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert "would replace the input" in result.stderr
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv"]


def test_generate_names_its_second_output_as_an_option(cli, tmp_path):
    out = tmp_path / "tx.csv"
    result = cli("generate", "--customers", "5", "--out", out, "--customers-out", out)
    assert result.exit_code == 2, result.output
    assert "input" not in result.stderr


def test_the_guard_knows_the_manifests_by_their_modules_names():
    # common._is_saved_model spells them out, to stay clear of numpy on every start
    from toolkit.models._persist import MANIFEST as MODEL
    from toolkit.segments._persist import MANIFEST as SEGMENTER

    assert (MODEL, SEGMENTER) == ("manifest.json", "segmenter.json")
