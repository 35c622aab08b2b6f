"""Atomic writes (toolkit.io.write_atomic / write_frame): all or nothing, never half a file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from toolkit.errors import InputError
from toolkit.io import output_format, staged_outputs, write_atomic, write_frame


def _temp_files(d: Path) -> list[Path]:
    return [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_write_atomic_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"  # the folder is created
    with write_atomic(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "new"
    assert _temp_files(target.parent) == []


def test_failure_midway_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old content")
    with pytest.raises(RuntimeError, match="boom"):
        with write_atomic(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("boom")
    assert target.read_text() == "old content"
    assert _temp_files(tmp_path) == []


def test_failure_without_a_previous_file_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        with write_atomic(target) as tmp:
            tmp.write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_block_that_never_writes_gives_an_empty_file(tmp_path):
    target = tmp_path / "out.txt"
    with write_atomic(target):
        pass
    assert target.read_bytes() == b""


def test_new_files_get_the_usual_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what open() gives under this umask
    target = tmp_path / "atomic.txt"
    with write_atomic(target) as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_replaced_files_keep_their_permissions(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    with write_atomic(target) as tmp:
        tmp.write_text("new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_target_that_is_a_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        with write_atomic(tmp_path):
            pass


FRAME = pd.DataFrame(
    {
        "customer_id": pd.array(["0001", "17850"], dtype="string"),
        "amount": [1.5, 2.0],
        "when": pd.to_datetime(["2011-01-02 00:00", "2011-01-03 10:00"]),
    }
)


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".json"])
def test_write_frame_round_trip(ext, tmp_path):
    path = write_frame(FRAME, tmp_path / f"f{ext}")
    assert path.exists() and _temp_files(tmp_path) == []
    if ext == ".csv":
        back = pd.read_csv(path, dtype={"customer_id": "string"}, parse_dates=["when"])
    elif ext == ".parquet":
        back = pd.read_parquet(path)
    else:
        back = pd.read_json(path, dtype={"customer_id": "string"})
    assert back["customer_id"].tolist() == ["0001", "17850"]
    assert back["amount"].tolist() == [1.5, 2.0]
    assert pd.to_datetime(back["when"]).dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2011-01-02 00:00",
        "2011-01-03 10:00",
    ]


def test_write_frame_failing_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.parquet"
    write_frame(FRAME, target)
    before = target.read_bytes()
    bad = pd.DataFrame({"mixed": [object(), 1]})  # parquet cannot store this column
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
        write_frame(bad, target)
    assert target.read_bytes() == before
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize("name", ["f.txt", "f", "f.csv.gz", "f.xlsx"])
def test_output_format_follows_the_extension(name, tmp_path):
    with pytest.raises(InputError, match="the extension must be one of .csv, .parquet, .json"):
        write_frame(FRAME, tmp_path / name)
    assert output_format(tmp_path / "F.CSV") == ".csv"
    assert list(tmp_path.iterdir()) == []


def test_staged_outputs_move_together_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "keep.txt").write_text("not ours")
    with staged_outputs(out) as stage:
        (stage / "a.txt").write_text("new a")
        (stage / "plots").mkdir()
        (stage / "plots" / "b.png").write_text("new b")
        assert not (out / "plots").exists()  # nothing lands before the block ends
    assert (out / "a.txt").read_text() == "new a"
    assert (out / "plots" / "b.png").read_text() == "new b"
    assert (out / "keep.txt").read_text() == "not ours"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "keep.txt", "plots"]


def test_staged_outputs_replace_a_directory_as_a_whole(tmp_path):
    # a saved segmenter must not keep a file of the one it replaces (its manifest would not
    # list it)
    out = tmp_path / "out"
    (out / "segmenter").mkdir(parents=True)
    (out / "segmenter" / "centroids.npy").write_text("old")
    (out / "segmenter" / "segmenter.json").write_text("old")
    with staged_outputs(out) as stage:
        (stage / "segmenter").mkdir()
        (stage / "segmenter" / "segmenter.json").write_text("new")
    assert sorted(p.name for p in (out / "segmenter").iterdir()) == ["segmenter.json"]
    assert (out / "segmenter" / "segmenter.json").read_text() == "new"
    assert sorted(p.name for p in out.iterdir()) == ["segmenter"]


@pytest.mark.parametrize("blocker", ["file", "directory"])
def test_staged_outputs_check_every_target_before_moving_any(tmp_path, blocker):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    if blocker == "file":
        (out / "plots").write_text("a file where a directory goes")
    else:
        (out / "plots").mkdir()
    with pytest.raises(InputError, match="is in the way"), staged_outputs(out) as stage:
        (stage / "a.txt").write_text("new a")
        if blocker == "file":
            (stage / "plots").mkdir()
        else:
            (stage / "plots").write_text("a file where a directory is")
    assert (out / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "plots"]


def test_staged_outputs_leave_everything_as_it_was_on_failure(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError), staged_outputs(out) as stage:
        (stage / "a.txt").write_text("new a")
        (stage / "b.txt").write_text("new b")
        raise RuntimeError("the last output failed")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert (out / "a.txt").read_text() == "old a"


def test_staged_outputs_remove_the_directory_they_created_on_failure(tmp_path):
    out = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError), staged_outputs(out) as stage:
        (stage / "a.txt").write_text("new a")
        raise RuntimeError("failed")
    assert not out.exists()


def test_staged_outputs_refuse_a_file_as_the_directory(tmp_path):
    out = tmp_path / "out"
    out.write_text("a file")
    with pytest.raises(InputError, match="is a file; give a directory"), staged_outputs(out):
        pass
    assert out.read_text() == "a file"


def test_staged_outputs_put_the_old_outputs_back_when_a_move_fails(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "segmenter").mkdir(parents=True)
    (out / "segmenter" / "segmenter.json").write_text("old segmenter")
    (out / "a.csv").write_text("old a")
    (out / "b.csv").write_text("old b")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 5:  # a, b moved (old ones set aside), the old segmenter aside: fail
            raise OSError(28, "No space left on device")
        return real(src, dst)

    with pytest.raises(OSError), staged_outputs(out) as stage:
        (stage / "a.csv").write_text("new a")
        (stage / "b.csv").write_text("new b")
        (stage / "segmenter").mkdir()
        (stage / "segmenter" / "segmenter.json").write_text("new segmenter")
        monkeypatch.setattr(os, "replace", flaky)
    monkeypatch.setattr(os, "replace", real)
    assert (out / "a.csv").read_text() == "old a"
    assert (out / "b.csv").read_text() == "old b"
    assert (out / "segmenter" / "segmenter.json").read_text() == "old segmenter"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv", "segmenter"]


def test_staged_outputs_remove_every_directory_they_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError), staged_outputs(out):
        raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []


def test_an_output_never_replaces_a_protected_input(tmp_path):
    from toolkit.io._write import protect_inputs

    data = tmp_path / "data.csv"
    data.write_text("the user's data")
    with protect_inputs([data]):
        with pytest.raises(InputError, match="would replace the input"), write_atomic(data) as t:
            t.write_text("result")
        with pytest.raises(InputError, match="would replace the input"):
            with staged_outputs(tmp_path) as stage:
                (stage / "data.csv").write_text("result")
    assert data.read_text() == "the user's data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
