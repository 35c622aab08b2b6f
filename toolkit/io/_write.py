"""Atomic output: nothing is half-written, nothing of the user's is overwritten by a failed run."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import InputError
from toolkit.io._sql import quote_ident

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

FRAME_FORMATS = (".csv", ".parquet", ".json")


#: the first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: injection"): '=', '+', '-', '@', a tab and a carriage return
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: the formats people open in a spreadsheet, whose text cells are neutralised
SPREADSHEET_FORMATS = (".csv", ".xlsx")

#: whether outputs keep text exactly as it is (see :func:`raw_text_outputs`)
_RAW_TEXT: contextvars.ContextVar[bool] = contextvars.ContextVar("toolkit_raw_text", default=False)

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
        raise InputError(f"`out` {str(target)!r} is a file; give a directory for the outputs")
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


@contextlib.contextmanager
def raw_text_outputs(enabled: bool = True) -> Iterator[None]:
    """While the block runs, :func:`write_frame` keeps text cells of CSV outputs exactly as they
    are (``enabled``), for programs rather than people (the CLI's ``--raw-text``).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
    >>> with raw_text_outputs():
    ...     _ = write_frame(pd.DataFrame({"id": ["=1+1"]}), p)
    >>> p.read_text().splitlines()
    ['id', '=1+1']
    """
    token = _RAW_TEXT.set(enabled)
    try:
        yield
    finally:
        _RAW_TEXT.reset(token)


def _neutralise(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (and column names) that a spreadsheet would run as a
    formula start with ``'`` (OWASP's advice against CSV injection).

    A text cell is neutralised when it starts with one of :data:`FORMULA_STARTS`; a customer id
    ``-5`` or ``+1+1`` in a text column is text, and is neutralised too. Numeric, boolean and
    date columns are left as they are, so numbers stay numbers (a negative value is no formula).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["=HYPERLINK(1)", "@SUM(A1)", "-5", "ok"], "x": [-1.5, 2, 3, 4]})
    >>> neutralise_formulas(df).values.tolist()
    [["'=HYPERLINK(1)", -1.5], ["'@SUM(A1)", 2.0], ["'-5", 3.0], ['ok', 4.0]]
    """
    import pandas as pd

    out = df.copy(deep=False)
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        elif not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
            continue  # numbers, booleans, dates: a spreadsheet reads them as values
        try:
            hit = s.str.startswith(FORMULA_STARTS, na=False)
        except AttributeError:  # an object column without any text (dates, Decimals)
            continue
        hit = hit.astype(bool)
        if hit.any():
            fixed = s.astype(object).copy()
            fixed[hit] = "'" + s[hit].astype(str)
            out.isetitem(i, fixed)
    names = [_neutralise(c) if isinstance(c, str) else c for c in df.columns]
    if names != list(df.columns):
        out.columns = names
    return out


def neutralises(path: str | os.PathLike[str], raw_text: bool | None = None) -> bool:
    """Whether an output at ``path`` gets its formula-like text cells neutralised: a CSV or
    XLSX, unless ``raw_text`` (by default: inside :func:`raw_text_outputs`)."""
    if raw_text is None:
        raw_text = _RAW_TEXT.get()
    return Path(path).suffix.lower() in SPREADSHEET_FORMATS and not raw_text


_sql_name = quote_ident


def neutralised_sql(expr: str) -> str:
    """SQL: the text expression ``expr`` neutralised as :func:`neutralise_formulas` does."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_STARTS)
    return f"CASE WHEN left({expr}, 1) IN ({starts}) THEN chr(39) || {expr} ELSE {expr} END"


def neutralised_query(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """SQL selecting the rows of ``query`` with its text cells and column names neutralised,
    for a CSV that DuckDB writes itself (``COPY``): the rule of :func:`neutralise_formulas`,
    without the rows passing through Python."""
    columns = con.execute(f"DESCRIBE ({query})").fetchall()
    parts = []
    for name, dtype, *_ in columns:
        col = _sql_name(str(name))
        if str(dtype).upper().startswith(("VARCHAR", "ENUM")):
            col = neutralised_sql(f"CAST({col} AS VARCHAR)")
        parts.append(f"{col} AS {_sql_name(_neutralise(str(name)))}")
    return f"SELECT {', '.join(parts)} FROM ({query})"


def _text_columns(df: pd.DataFrame) -> Iterator[pd.Series]:
    """The columns of ``df`` that can hold text (object, string, category)."""
    import pandas as pd

    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            yield s.astype(object)
        elif s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            yield s


def _holds_carriage_return(df: pd.DataFrame) -> bool:
    names = any(isinstance(c, str) and "\r" in c for c in df.columns)
    for s in _text_columns(df):
        try:
            if s.str.contains("\r", regex=False, na=False).astype(bool).any():
                return True
        except AttributeError:  # an object column without any text
            continue
    return names


def write_frame(
    df: pd.DataFrame, path: str | os.PathLike[str], *, raw_text: bool | None = None
) -> Path:
    """Write a DataFrame as CSV, Parquet or JSON (records) by extension, atomically.

    A CSV is for people, who open it in a spreadsheet: its text cells that would run as a
    formula are neutralised (:func:`neutralise_formulas`) unless ``raw_text`` is true (by
    default, true only inside :func:`raw_text_outputs`). Parquet and JSON keep every value as
    it is.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
    >>> _ = write_frame(pd.DataFrame({"a": [1, 2]}), p)
    >>> p.read_text().splitlines()
    ['a', '1', '2']
    >>> _ = write_frame(pd.DataFrame({"id": ["=1+1", "-5"], "x": [-1, 2]}), p)
    >>> p.read_text().splitlines()
    ['id,x', "'=1+1,-1", "'-5,2"]
    """
    fmt = output_format(path)
    if neutralises(path, raw_text):
        df = neutralise_formulas(df)
    with write_atomic(path) as tmp:
        if fmt == ".csv":
            # Python's csv module leaves a bare carriage return in a cell unquoted: readers
            # split the row there (and a spreadsheet would see the text after it as a new
            # cell, formula included). Such a frame quotes every text cell instead.
            quoting = csv.QUOTE_NONNUMERIC if _holds_carriage_return(df) else csv.QUOTE_MINIMAL
            df.to_csv(tmp, index=False, quoting=quoting)
        elif fmt == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", date_format="iso", indent=None)
    return Path(path)
