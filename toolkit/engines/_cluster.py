"""Choosing an engine and holding a Dask cluster: what every command checks before reading.

Light on purpose: dask itself is imported only when a cluster is started, so ``--engine
embedded`` (the default) never needs it, and a missing dask is one clear message.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    from distributed import Client

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
    toolkit.errors.InputError: `scheduler` applies only with `engine` dask
    """
    if engine not in ENGINES:
        raise InputError(f"`engine` must be one of {', '.join(ENGINES)}, got {engine!r}")
    if scheduler is not None and engine != "dask":
        raise InputError("`scheduler` applies only with `engine` dask")
    if engine == "dask":
        require_dask()


def require_dask() -> None:
    """Raise InputError saying how to install dask when ``dask.distributed`` cannot be imported."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"`engine` dask needs dask and distributed, which are not installed ({exc}); "
            f"install them with: {INSTALL_HINT}"
        ) from None


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
    with dask_client(scheduler) as client:
        token = _SESSION.set(client)
        try:
            yield client
        finally:
            _SESSION.reset(token)


@contextmanager
def dask_client(scheduler: str | None = None, **cluster: Any) -> Iterator[Client]:
    """A Dask client: connected to ``scheduler``, or to a LocalCluster started (and closed) here.

    Without an address the cluster is sized to the machine: one single-threaded worker process
    per core (DuckDB parallelises inside a task; one thread per worker keeps the workers' DuckDB
    from competing for cores), the machine's memory shared between them. ``cluster`` overrides
    the LocalCluster's arguments (``n_workers``, ``memory_limit``, ``processes`` ...).
    """
    require_dask()
    import logging

    from distributed import Client, LocalCluster

    # distributed logs every start and stop at INFO on stderr: only problems are the user's
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"`scheduler` {scheduler}: cannot connect to a Dask scheduler there ({exc})"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    settings: dict[str, Any] = {
        "n_workers": _cores(),
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",  # any free port: never clashes with another cluster
        "memory_limit": "auto",
    }
    settings.update(cluster)
    with LocalCluster(**settings) as local, Client(local) as client:
        yield client


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
