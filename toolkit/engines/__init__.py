"""Where the feature logic runs: the embedded DuckDB engine, or Dask.

The feature SQL (:func:`toolkit.features.feature_sql`) is written once, per customer partition.
The embedded engine runs it on the whole log in this process (:mod:`toolkit.features._build`);
the Dask engine (:mod:`toolkit.engines.dask_engine`) hash-partitions the log by customer id and
runs the same SQL, in DuckDB, on every partition inside the workers of a Dask cluster.

A command picks the engine with ``--engine embedded|dask [--scheduler ADDRESS]``;
:func:`attach_engine` opens it for a log read with :func:`toolkit.io.read_transactions`, after
which every feature computed from that log (``compute_features``, ``write_features``, the
training origins, the scoring frame) runs there. The commands' work is one call each:
:func:`write_features_on_engine` (``toolkit features``) and :func:`train_on_engine` (``toolkit
train``). Nothing here imports dask: ``toolkit --help``
stays fast, and a machine without dask only fails when the Dask engine is asked for.
"""

from __future__ import annotations

from toolkit.engines._cluster import (
    ENGINES,
    INSTALL_HINT,
    check_engine,
    dask_client,
    engine_session,
    require_dask,
)
from toolkit.engines._features import write_features_on_engine
from toolkit.engines._train import DASK_TRAIN_CUSTOMERS, Training, train_on_engine
from toolkit.engines.dask_engine import attach_engine

__all__ = [
    "DASK_TRAIN_CUSTOMERS",
    "ENGINES",
    "INSTALL_HINT",
    "dask_client",
    "attach_engine",
    "check_engine",
    "engine_session",
    "require_dask",
    "train_on_engine",
    "Training",
    "write_features_on_engine",
]
