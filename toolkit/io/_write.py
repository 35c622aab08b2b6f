"""Atomic output: nothing is half-written, nothing of the user's is overwritten by a failed run."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

FRAME_FORMATS = (".csv", ".parquet", ".json")


@contextlib.contextmanager
def write_atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file lives in the same directory, so the final ``os.replace`` is atomic: readers
    see the old file or the complete new one, never a partial one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with write_atomic(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output path {str(target)!r} is a directory, expected a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp, fd = _create_temp(target)
    except OSError as exc:
        raise InputError(
            f"cannot write {str(target)!r}: {exc.strerror or exc} ({target.parent})"
        ) from None
    try:
        if target.exists():  # a replaced file keeps its permissions
            os.fchmod(fd, target.stat().st_mode & 0o7777)
    finally:
        os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def staged_outputs(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a private directory to write a command's several outputs into; when the block
    succeeds they are moved into ``directory`` together, else removed.

    A failed run leaves what ``directory`` held untouched: no mix of new and old outputs (a new
    ``correlations.csv`` beside an old ``summary.json``). Each file is moved atomically, so a
    reader never sees a half-written one; a directory among the outputs (a saved segmenter)
    replaces the old one as a whole, so no file of the old one is left in it. Anything else in
    ``directory`` stays. A directory this call created is removed again when the block fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with staged_outputs(d) as stage:
    ...     _ = (stage / "a.txt").write_text("a")
    ...     _ = (stage / "b.txt").write_text("b")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.txt']
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {str(target)!r} is a file; give a directory for the outputs")
    created = not target.exists()
    try:
        target.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".toolkit-", suffix=".tmp", dir=target))
    except OSError as exc:
        raise InputError(f"cannot write into {str(target)!r}: {exc.strerror or exc}") from None
    done = False
    try:
        yield stage
        moves = [(item, target / item.name) for item in sorted(stage.iterdir())]
        # checked before the first move: all of them land, or none
        blocked = [
            f"{str(final)!r} ({'a directory' if final.is_dir() else 'a file'} is in the way)"
            for item, final in moves
            if final.exists() and item.is_dir() != final.is_dir()
        ]
        if blocked:
            raise InputError(f"cannot write {', '.join(blocked)}")
        for item, final in moves:
            if item.is_dir() and final.exists():
                # the old directory goes aside into the stage (removed with it), the new in
                os.replace(final, stage / f".old-{item.name}")
            os.replace(item, final)
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not done:
            with contextlib.suppress(OSError):
                target.rmdir()  # only if nothing else was put there meanwhile


def _create_temp(target: Path) -> tuple[Path, int]:
    """A new hidden file beside ``target``. Unlike ``mkstemp`` (always 0600) it gets the mode a
    plain ``open`` would give it (0666 less the umask), so outputs stay readable as usual."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")  # pragma: no cover


def output_format(path: str | os.PathLike[str], allowed: tuple[str, ...] = FRAME_FORMATS) -> str:
    """The output format named by ``path``'s extension, or an InputError naming the file."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise InputError(
            f"output file {str(path)!r}: the extension must be one of {', '.join(allowed)} "
            f"(the format follows the extension), got {suffix or 'no extension'!r}"
        )
    return suffix


def write_frame(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a DataFrame as CSV, Parquet or JSON (records) by extension, atomically.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
    >>> _ = write_frame(pd.DataFrame({"a": [1, 2]}), p)
    >>> p.read_text().splitlines()
    ['a', '1', '2']
    """
    fmt = output_format(path)
    with write_atomic(path) as tmp:
        if fmt == ".csv":
            df.to_csv(tmp, index=False)
        elif fmt == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", date_format="iso", indent=None)
    return Path(path)
