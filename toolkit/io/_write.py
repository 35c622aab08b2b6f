"""Atomic output: nothing is half-written, nothing of the user's is overwritten by a failed run."""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

FRAME_FORMATS = (".csv", ".parquet", ".json")


#: input files of the command running now (see :func:`protect_inputs`): no output replaces one
_PROTECTED: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "toolkit_protected_inputs", default=()
)


@contextlib.contextmanager
def protect_inputs(paths: Iterable[str | os.PathLike[str]]) -> Iterator[None]:
    """While the block runs, every output written through this module refuses to replace one of
    ``paths`` (the command's input files), whatever name it reaches it under: ``clv
    customers.csv --out .`` would otherwise replace the input with its own customers.csv."""
    token = _PROTECTED.set(tuple(Path(p) for p in paths if Path(p).is_file()))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def _refuse_replacing_an_input(target: Path) -> None:
    if not target.exists():
        return
    for path in _PROTECTED.get():
        try:
            same = os.path.samefile(target, path)
        except OSError:  # gone meanwhile
            same = False
        if same:
            raise InputError(
                f"writing {str(target)!r} would replace the input {str(path)!r}; choose "
                "another output path"
            )


@contextlib.contextmanager
def write_atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file lives in the same directory, so the final ``os.replace`` is atomic: readers
    see the old file or the complete new one, never a partial one. An input of the running
    command (:func:`protect_inputs`) is never replaced.

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
    _refuse_replacing_an_input(target)
    tmp: Path | None = None
    try:  # from the temporary file's creation on: a signal at any point removes it
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
        yield tmp
        _refuse_replacing_an_input(target)  # the block may have made it (a link) meanwhile
        os.replace(tmp, target)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def staged_outputs(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a private directory to write a command's several outputs into; when the block
    succeeds they are moved into ``directory`` together, else removed.

    A failed run leaves what ``directory`` held untouched: no mix of new and old outputs (a new
    ``correlations.csv`` beside an old ``summary.json``). Each file is moved atomically, so a
    reader never sees a half-written one; a directory among the outputs (a saved segmenter)
    replaces the old one as a whole, so no file of the old one is left in it. The old outputs
    are set aside until every new one is in place, and put back if a move fails; Ctrl-C and
    SIGTERM wait for the moves. Anything else in ``directory`` stays, and no input of the
    running command (:func:`protect_inputs`) is replaced. The directories this call created are
    removed again when the block fails.

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
    missing = [d for d in (target, *target.parents) if not d.exists()]
    stage: Path | None = None
    done = False
    try:
        try:
            target.mkdir(parents=True, exist_ok=True)
            stage = make_temp_dir(target, ".toolkit-")
        except OSError as exc:
            raise InputError(f"cannot write into {str(target)!r}: {exc.strerror or exc}") from None
        yield stage
        _move_all(stage, target)
        done = True
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if not done:
            for d in missing:  # the directories this call made, innermost first
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if nothing else was put there meanwhile


def _move_all(stage: Path, target: Path) -> None:
    """Move the stage's entries into ``target``: all of them, or (on a failure) none."""
    moves = [(item, target / item.name) for item in sorted(stage.iterdir())]
    # checked before the first move
    blocked = [
        f"{str(final)!r} ({'a directory' if final.is_dir() else 'a file'} is in the way)"
        for item, final in moves
        if final.exists() and item.is_dir() != final.is_dir()
    ]
    if blocked:
        raise InputError(f"cannot write {', '.join(blocked)}")
    for _, final in moves:
        _refuse_replacing_an_input(final)
    aside = make_temp_dir(stage, ".old-")
    done: list[tuple[Path, Path, bool]] = []  # (new item, final, an old one was set aside)
    with _signals_held():
        try:
            for item, final in moves:
                had_old = final.exists()
                if had_old:
                    os.replace(final, aside / item.name)
                done.append((item, final, had_old))
                os.replace(item, final)
        except BaseException:
            for item, final, had_old in reversed(done):
                with contextlib.suppress(OSError):
                    if final.exists() and not item.exists():
                        os.replace(final, item)
                    if had_old:
                        os.replace(aside / item.name, final)
            raise


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is over (delivered then), on the main thread."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """A new directory with a random name in ``parent``, with the mode a plain ``mkdir`` gives
    (``mkdtemp`` makes it 0700, which a directory moved into place would keep)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(6)}.tmp"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")  # pragma: no cover


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
