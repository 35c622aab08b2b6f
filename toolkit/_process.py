"""What belongs to the toolkit process as a whole: its private spill directory and its end."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import NoReturn


def spill_directory() -> Path:
    """DuckDB's spill directory for this process: private, under the system temporary directory.

    DuckDB creates it only when a query outgrows its memory limit and removes it when its
    database closes.
    """
    return Path(tempfile.gettempdir()) / f"toolkit-duckdb-{os.getpid()}"


def end_process(code: int) -> NoReturn:
    """End the process with ``code`` now, without the interpreter's teardown.

    A ``toolkit`` command is a short-lived process: once it has returned, its outputs are
    written and moved into place and its DuckDB connections are closed, so what the interpreter
    still does on the way out (tearing down scipy, pandas, pyarrow and every other module) only
    costs time: 0.1-0.2 s a run, measured. Standard output and error are flushed first and a
    spill directory left behind is removed; ``os._exit`` then skips the rest.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (toolkit ... | head) or stream
            pass
    shutil.rmtree(spill_directory(), ignore_errors=True)
    os._exit(code)


#: exit code of a command ended by SIGTERM (128 + the signal's number, as a shell reports it)
TERMINATED = 128 + signal.SIGTERM
_terminated = False


def terminated() -> bool:
    """Whether this process has received SIGTERM (see :func:`exit_on_sigterm`)."""
    return _terminated


def quiet_openmp() -> None:
    """Make OpenMP threads wait passively (set before XGBoost loads).

    Threads that spin while waiting make XGBoost many times slower on a busy machine; passive
    waiting costs nothing when the machine is idle.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def exit_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``timeout``, a job scheduler) end the command as Ctrl-C does.

    Python's default for SIGTERM is to die at once: the ``finally`` blocks that remove a half
    written output's temporary file never run. Raised as ``SystemExit`` instead, the signal
    unwinds the command, which cleans up on its way out. A DuckDB query running then is
    interrupted, as by Ctrl-C: DuckDB raises its own "interrupted" error instead, which the
    command's error handling reports with this exit code (it asks :func:`terminated`).
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        global _terminated
        if _terminated:  # a second signal (timeout -k, a scheduler) must not cut the cleanup
            return
        _terminated = True
        raise SystemExit(TERMINATED)

    signal.signal(signal.SIGTERM, handler)


def is_interruption(exc: BaseException) -> bool:
    """DuckDB's error for a query cut short by a signal (Ctrl-C, SIGTERM): the signal's own
    exception does not come out of the query. DuckDB 1.x raises ``InterruptException`` (a
    ``duckdb.Error``, which the readers must not report as the file's fault), 2.0 a
    ``RuntimeError``."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, getattr(duckdb, "InterruptException", ())):
        return True
    return type(exc) is RuntimeError and str(exc) == "Query interrupted"
