"""Where the feature logic runs: the embedded DuckDB engine, or Dask.

The feature SQL (:func:`toolkit.features.feature_sql`) is written once, per customer partition.
The embedded engine runs it on the whole log in this process (:mod:`toolkit.features._build`);
the Dask engine (:mod:`toolkit.engines.dask_engine`) hash-partitions the log by customer id and
runs the same SQL, in DuckDB, on every partition inside the workers of a Dask cluster.

A command picks the engine with ``--engine embedded|dask [--scheduler ADDRESS]``;
:func:`attach_engine` opens it for a log read with :func:`toolkit.io.read_transactions`, after
which every feature computed from that log (``compute_features``, ``write_features``, the
training origins, the scoring frame) runs there. Nothing here imports dask: ``toolkit --help``
stays fast, and a machine without dask only fails when the Dask engine is asked for.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    from toolkit.io import Transactions

ENGINES = ("embedded", "dask")
#: what to run when dask is missing (the optional extra of pyproject.toml)
INSTALL_HINT = 'pip install "toolkit[dask]" (or pip install "dask[distributed]")'


def check_engine(engine: str, scheduler: str | None) -> None:
    """Check ``--engine`` and ``--scheduler`` together, before any data is read.

    Examples
    --------
    >>> check_engine("embedded", None)
    >>> check_engine("embedded", "tcp://10.0.0.1:8786")
    Traceback (most recent call last):
    ...
    toolkit.errors.InputError: --scheduler applies only with --engine dask
    """
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise InputError("--scheduler applies only with --engine dask")
    if engine == "dask":
        require_dask()


def require_dask() -> None:
    """Raise InputError saying how to install dask when ``dask.distributed`` cannot be imported."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"--engine dask needs dask and distributed, which are not installed ({exc}); "
            f"install them with: {INSTALL_HINT}"
        ) from None


@contextmanager
def attach_engine(
    tx: Transactions, engine: str, scheduler: str | None = None, **options: Any
) -> Iterator[Any]:
    """Run every feature computation of ``tx`` on ``engine`` while the block runs.

    ``embedded`` changes nothing (yields None). ``dask`` connects to ``scheduler`` (or starts a
    :class:`distributed.LocalCluster` sized to the machine, closed at the end) and yields the
    :class:`~toolkit.engines.dask_engine.DaskEngine`; ``options`` go to it.
    """
    check_engine(engine, scheduler)
    if engine == "embedded":
        yield None
        return
    with engine_session(engine, scheduler) as client:
        from toolkit.engines.dask_engine import DaskEngine

        dask = DaskEngine(client, **options)
        tx.engine = dask
        try:
            yield dask
        finally:
            tx.engine = None
            dask.close()


#: the Dask client of an :func:`engine_session` running now (one cluster for several commands)
_SESSION: contextvars.ContextVar[Any] = contextvars.ContextVar("toolkit_dask_session", default=None)


@contextmanager
def engine_session(engine: str, scheduler: str | None = None) -> Iterator[Any]:
    """Keep one Dask client open while the block runs; :func:`attach_engine` inside it uses it.

    ``toolkit run`` wraps its steps in one session, so that features, training and scoring share
    one cluster instead of starting three. Yields the client (None for the embedded engine).
    """
    check_engine(engine, scheduler)
    if engine == "embedded":
        yield None
        return
    active = _SESSION.get()
    if active is not None:
        yield active
        return
    from toolkit.engines.dask_engine import dask_client

    with dask_client(scheduler) as client:
        token = _SESSION.set(client)
        try:
            yield client
        finally:
            _SESSION.reset(token)


__all__ = [
    "ENGINES",
    "INSTALL_HINT",
    "attach_engine",
    "check_engine",
    "engine_session",
    "require_dask",
]
