"""The Dask engine: the embedded engine's feature SQL on hash partitions of the log, in workers.

What runs where (one Dask task per box; ``n`` partitions, ``f`` input files):

1. **Split** (``f`` tasks, one per input file): the worker reads its file with the toolkit's own
   reader (:func:`toolkit.io.read_transactions`: the same column mapping, typing and
   classification of every row as the embedded engine) and writes its usable rows to the
   scratch directory, split by ``hash(customer_id) % n`` (DuckDB's ``COPY ... PARTITION_BY``).
   Every line of a customer lands in the same partition, whichever file it came from. This is
   the shuffle; it runs once per log and is reused for every cutoff (training origins).
2. **Features** (``n`` tasks): the worker runs :func:`toolkit.features.feature_sql` in DuckDB on
   its partition's files and writes one Parquet file of features, in customer order. It returns
   only small statistics: the distinct (frequency, recency, T) histories with their counts for
   the BG/NBD fit, a seeded sample of repeat customers' (frequency, monetary) for the
   Gamma-Gamma fit, row and label counts.
3. **Fit** (client): the histories are summed over the partitions and BG/NBD is fitted on all
   customers by those counts (a few thousand rows, however large the log); Gamma-Gamma on the
   pooled sample of :data:`~toolkit.features._btyd.FIT_SAMPLE` repeat customers.
4. **Score and write** (``n`` tasks): ``p_alive``, ``expected_purchases``, ``expected_value``
   are added per partition, and the partition is written to the output directory (partitioned
   Parquet) or sent to the client (one file, or the frame the models need).

Workers need to see the input files (or reach their URLs: a file in object storage is fetched
by its split task to the worker's temporary directory and deleted once read; the client reads
only the Parquet footers, see :mod:`toolkit.io._remote`), the scratch directory
(``TOOLKIT_DASK_SCRATCH``, default the system temporary directory: right for a LocalCluster, a
shared path on a real cluster) and the output directory. Each worker runs DuckDB with as many
threads as the worker has and a memory limit of half the worker's memory per thread, spilling
beyond it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.btyd import compress_rows, fit_flags, fit_spend, fit_standard
from toolkit.engines._cluster import check_engine, engine_session
from toolkit.errors import InputError, ToolkitError
from toolkit.features import data_range, is_customer_table, parse_cutoff, resolve_spec
from toolkit.features._btyd import DEFAULT_BTYD_DAYS
from toolkit.features._build import (
    customer_frame,
    customer_select,
    finish_frame,
    prepare_connection,
    write_with_categories,
)
from toolkit.features._sql import LABEL_COLUMNS, feature_sql
from toolkit.io import (
    connect,
    output_format,
    read_transactions,
    staged_outputs,
    write_atomic,
    write_frame,
)
from toolkit.io._present import for_people, round_for_people
from toolkit.io._remote import display, fetch_url, is_url
from toolkit.io._sql import escape_literal
from toolkit.models._persist import load_model_dir
from toolkit.models.action._churnlist import DISPLAY, churn_list, formula, list_order
from toolkit.models.estimators._boost import EVAL_METRIC, safe_names
from toolkit.models.estimators._data import label_vector

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from distributed import Client

    from toolkit.features import FeatureSpec
    from toolkit.io import Transactions

#: lines of the log per partition: a partition's feature query stays well inside a worker's
#: DuckDB memory (about 0.6 GB at 8M lines, measured) while the partitions stay few
PARTITION_ROWS = 8_000_000
#: a text file's bytes per line, to size the partitions of a log that is not Parquet
_TEXT_BYTES_PER_ROW = 60
#: at least this many partitions per worker thread: the features step keeps every core busy
_PARTS_PER_THREAD = 2
#: DuckDB in a worker gets this share of the worker's memory per thread (the rest: the worker,
#: the Arrow results, pandas)
_DUCKDB_SHARE = 0.5
_EVENT_COLUMNS = "customer_id, timestamp, amount, quantity, invoice, product, is_return"


@dataclass
class _Shuffled:
    """A log split into hash partitions by customer in the scratch directory."""

    root: Path
    parts: list[list[str]]  # per partition, its files
    rows: int


@dataclass
class _Partials:
    """The features step's results: a features file and small statistics per partition."""

    files: list[str]
    stats: list[dict[str, Any]] = field(default_factory=list)


class DaskEngine:
    """Compute features on a Dask cluster (see the module docstring for what runs where).

    Parameters
    ----------
    client : distributed.Client
        The cluster to run on.
    partitions : int, optional
        Number of hash partitions of the log; default about one per :data:`PARTITION_ROWS`
        lines and at least two per worker thread.
    scratch : path, optional
        Where the partitions are written: a directory every worker can read and write. Default
        ``TOOLKIT_DASK_SCRATCH``, else the system temporary directory.
    sample_customers : int, optional
        Gather at most about this many customers to the client (:meth:`features`): the first
        call fixes a share of the customers, chosen by a hash of their id, and every later call
        (another cutoff) gathers the same customers. Written outputs (:meth:`write_features`)
        always hold everyone. Default: everyone.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.engines import dask_client
    >>> from toolkit.engines.dask_engine import DaskEngine
    >>> from toolkit.features import compute_features
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("customer_id,date,amount\\na,2024-01-01,10\\na,2024-01-05,20\\n"
    ...                  "b,2024-01-02,5\\n")
    >>> tx = read_transactions(p)
    >>> with dask_client(n_workers=1, processes=False) as client:
    ...     tx.engine = DaskEngine(client)
    ...     f = compute_features(tx, cutoff="2024-01-11")
    ...     tx.engine.close()
    >>> f[["customer_id", "frequency", "recency", "T"]].values.tolist()
    [['a', 1, 4.0, 9.0], ['b', 0, 0.0, 8.0]]
    """

    def __init__(
        self,
        client: Client,
        *,
        partitions: int | None = None,
        scratch: str | os.PathLike[str] | None = None,
        sample_customers: int | None = None,
    ) -> None:
        self.client = client
        self.partitions = partitions
        self.scratch = scratch
        self.sample_customers = sample_customers
        #: the share of customers gathered (per million, by id hash), fixed by the first call
        self.sample_per_million: int | None = None
        self._shuffled: dict[int, _Shuffled] = {}
        self._computed: dict[tuple[int, FeatureSpec], _Partials] = {}
        self.notes: list[str] = []

    # -- the shuffle ---------------------------------------------------------------------------
    def _threads(self) -> int:
        info = self.client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def shuffle(self, tx: Transactions) -> _Shuffled:
        """Split ``tx`` into hash partitions by customer (once per log; see the module doc)."""
        done = self._shuffled.get(id(tx))
        if done is not None:
            return done
        files = input_files(tx)
        rows = _row_count(tx)
        n = self.partitions or max(
            _PARTS_PER_THREAD * self._threads(), math.ceil(rows / PARTITION_ROWS)
        )
        base = Path(self.scratch or os.environ.get("TOOLKIT_DASK_SCRATCH") or tempfile.gettempdir())
        try:
            base.mkdir(parents=True, exist_ok=True)
            root = Path(tempfile.mkdtemp(prefix="toolkit-dask-", dir=base))
        except OSError as exc:
            raise InputError(
                f"TOOLKIT_DASK_SCRATCH {str(base)!r}: cannot make the scratch directory there "
                f"({exc.strerror or exc})"
            ) from None
        read = _read_options(tx)
        futures = self.client.map(
            _split_file,
            files,
            [str(root / f"in-{i:05d}") for i in range(len(files))],
            read=read,
            n_parts=n,
            pure=False,
        )
        self.client.gather(futures)
        parts: list[list[str]] = [[] for _ in range(n)]
        for k in range(n):
            for i in range(len(files)):
                d = root / f"in-{i:05d}" / f"part={k}"
                if d.is_dir():
                    parts[k] += sorted(str(p) for p in d.glob("*.parquet"))
        shuffled = _Shuffled(root, parts, rows)
        self._shuffled[id(tx)] = shuffled
        return shuffled

    # -- features ------------------------------------------------------------------------------
    def _partials(
        self, tx: Transactions, spec: FeatureSpec, customers: pd.DataFrame | None
    ) -> tuple[_Partials, list[str]]:
        from toolkit.features._btyd import FIT_SAMPLE

        if customers is None and (id(tx), spec) in self._computed:
            # the same features again (train asks for an origin more than once)
            return self._computed[(id(tx), spec)], []
        shuffled = self.shuffle(tx)
        extra, categories = (None, []) if customers is None else customer_frame(customers)
        extra_future = None if extra is None else self.client.scatter(extra, broadcast=True)
        out_dir = Path(tempfile.mkdtemp(prefix="features-", dir=shuffled.root))
        files = [str(out_dir / f"part-{k:05d}.parquet") for k in range(len(shuffled.parts))]
        futures = self.client.map(
            _features_part,
            shuffled.parts,
            files,
            range(len(files)),
            spec=spec,
            customers=extra_future,
            sample=FIT_SAMPLE,
            pure=False,
        )
        stats = self.client.gather(futures)
        partials = _Partials(files, stats)
        if customers is None:
            self._computed[(id(tx), spec)] = partials
        return partials, categories

    def _fit(
        self, partials: _Partials, spec: FeatureSpec, btyd: bool
    ) -> tuple[Any, dict[str, Any] | None]:
        if not btyd:
            return None, None

        return fit_btyd(
            partials.stats,
            horizon_days=spec.horizon or DEFAULT_BTYD_DAYS,
            time_unit=spec.time_unit,
        )

    def features(
        self,
        tx: Transactions,
        spec: FeatureSpec,
        customers: pd.DataFrame | None = None,
        *,
        btyd: bool = False,
    ) -> pd.DataFrame:
        """The features of every customer gathered to the client, as the embedded engine's
        :func:`~toolkit.features.features_from_spec` returns them (same columns, types and
        order)."""
        import duckdb

        partials, _ = self._partials(tx, spec, customers)
        models, info = self._fit(partials, spec, btyd)
        rows = sum(int(s["rows"]) for s in partials.stats)
        if self.sample_customers and self.sample_per_million is None:
            share = min(1.0, self.sample_customers / max(rows, 1))
            self.sample_per_million = round(share * 1_000_000)
            if share < 1.0:
                self.notes.append(
                    f"Dask engine: the models were fitted on a seeded sample of the customers "
                    f"(a fixed {share:.2%} of them by a hash of their id, the same customers at "
                    f"every origin: {round(share * rows):,} of {rows:,} at {spec.cutoff})."
                )
        table = self._gather(partials, models, self.sample_per_million)
        con = duckdb.connect()
        try:
            con.register("features_result", table)
            con.execute("SET preserve_insertion_order = true")
            df = con.execute("SELECT * FROM features_result").df()
        finally:
            con.close()
        df = finish_frame(df, customers)
        if info is not None:
            df.attrs["btyd"] = info
        return df

    def _gather(self, partials: _Partials, models: Any, per_million: int | None = None) -> pa.Table:
        import pyarrow as pa
        import pyarrow.compute as pc

        futures = self.client.map(
            _score_part,
            partials.files,
            models=models,
            out=None,
            per_million=per_million,
            pure=False,
        )
        tables = [t for t in self.client.gather(futures) if t.num_rows]
        if not tables:
            raise InputError("no customer has a purchase before the cutoff")
        table = pa.concat_tables(tables, promote_options="permissive")
        # hash partitions interleave the ids: one sort gives the embedded engine's order
        return table.take(pc.sort_indices(table, [("customer_id", "ascending")]))

    def write_features(
        self,
        tx: Transactions,
        out: str | os.PathLike[str],
        spec: FeatureSpec,
        customers: pd.DataFrame | None = None,
        *,
        btyd: bool = False,
    ) -> dict[str, Any]:
        """Write the features: a directory (``out`` without an extension) gets one Parquet file
        per partition, written by the workers; a ``.parquet`` / ``.csv`` / ``.json`` file is
        gathered on the client and written there. Returns the summary of
        :func:`toolkit.features.write_features`."""

        target = Path(out)
        partitioned = is_partitioned_output(target)
        if not partitioned:
            output_format(target)
        partials, categories = self._partials(tx, spec, customers)
        rows = sum(int(s["rows"]) for s in partials.stats)
        if not rows:
            raise InputError("no customer has a purchase before the cutoff")
        in_table = sum(int(s["in_customer_table"]) for s in partials.stats)
        if customers is not None and not in_table:
            raise InputError(
                "`customers`: none of its customer ids is a customer of the log "
                f"({rows:,} customers); do the ids match (e.g. 12345 and C12345)?"
            )
        models, info = self._fit(partials, spec, btyd)
        if partitioned:
            with staged_outputs(target.parent) as stage:
                final = stage / target.name
                final.mkdir()
                outs = [str(final / Path(f).name) for f in partials.files]
                futures = self.client.map(
                    _score_part,
                    partials.files,
                    outs,
                    models=models,
                    categories=categories,
                    pure=False,
                )
                self.client.gather(futures)
        else:
            _write_table(self._gather(partials, models), target, categories)
        repeat = [s["repeat"] for s in partials.stats if s["repeat"] is not None]
        return {
            "customers": rows,
            "in_customer_table": in_table if customers is not None else None,
            "repeat_rate": sum(repeat) / rows if spec.horizon is not None else None,
            "btyd": info,
            "partitions": len(partials.files),
        }

    def churn_list(
        self,
        tx: Transactions,
        spec: FeatureSpec,
        bundle: Any,
        *,
        out: str | os.PathLike[str] | None = None,
        top: int | None = None,
        **options: Any,
    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        """The churn list of every customer at ``spec.cutoff``, scored where the features are.

        Each partition's features are scored, explained (SHAP contributions, reasons), valued
        and put in order by :func:`toolkit.models.churn_list` in the worker that made them; only
        the customer ids, churn probabilities and values at risk come to the client, where the
        ranks over all customers are set (:func:`global_ranks`) and sent back. ``out`` without
        an extension gets the list as one Parquet file per partition, each in priority order
        (written by the workers; returns None for the frame); otherwise the list is gathered
        and returned in priority order. ``options`` go to ``churn_list`` (``with_reasons``,
        ``sort``, ``context``, ``columns``). Returns the list and its metadata (order, formulas,
        champion, customers scored).
        """
        import pandas as pd

        partials, _ = self._partials(tx, spec, None)
        rows = sum(int(s["rows"]) for s in partials.stats)
        if not rows:
            raise InputError("no customer has a purchase before the cutoff")
        model = self.client.scatter(bundle, broadcast=True)
        lists = self.client.map(
            _churn_part, partials.files, bundle=model, options=options, pure=False
        )
        keys = self.client.gather(self.client.map(_churn_keys, lists, pure=False))
        ranks, order_by = global_ranks(keys, str(options.get("sort", "auto")))
        meta = {
            "order": order_by,
            "formulas": formula(bundle),
            "champion": bundle.champion,
            "customers": rows,
        }
        slices = [ranks[ranks["part"] == k].drop(columns="part") for k in range(len(lists))]
        if out is not None and is_partitioned_output(out):
            target = Path(out)
            with staged_outputs(target.parent) as stage:
                final = stage / target.name
                final.mkdir()
                files = [str(final / f"part-{k:05d}.parquet") for k in range(len(lists))]
                self.client.gather(
                    self.client.map(_ranked_part, lists, slices, files, top=top, pure=False)
                )
            return None, meta
        parts = self.client.gather(
            self.client.map(_ranked_part, lists, slices, top=top, pure=False)
        )
        table = pd.concat([p for p in parts if len(p)], ignore_index=True)
        table = table.sort_values("priority_rank", kind="stable").reset_index(drop=True)
        table.attrs["toolkit"] = {k: v for k, v in meta.items() if k != "customers"}
        return table, meta

    def train_xgboost(self, tx: Transactions, result: Any, *, seed: int = 0) -> str | None:
        """Train the final XGBoost booster of ``result`` again through ``xgboost.dask``, on every
        customer at every training origin, with the hyperparameters and number of rounds the
        client's fit chose (on its sample); the client's calibration is kept. Returns a note for
        the model (None without an XGBoost model).
        """
        scorer = result.scorers.get("xgboost")
        origins = (result.settings.training or {}).get("origins") or []
        horizon = result.settings.horizon
        if scorer is None or not origins or not horizon:
            return None
        import numpy as np
        import pandas as pd
        from dask import dataframe as dd
        from xgboost import dask as dxgb

        time_unit = result.settings.time_unit or "days"
        items: list[tuple[str, str]] = []
        rows = positives = 0
        for origin in origins:
            spec, _ = resolve_spec(tx, origin, int(horizon), time_unit)
            partials, _ = self._partials(tx, spec, None)
            items += [(origin, f) for f in partials.files]
            rows += sum(int(s["rows"]) for s in partials.stats)
            positives += sum(int(s["repeat"] or 0) for s in partials.stats)
        names = safe_names(result.schema.encoded_names)
        meta = pd.DataFrame({n: pd.Series(dtype="float64") for n in [*names, "__label"]})
        frame = dd.from_map(
            _encoded_part,
            items,
            schema=result.schema,
            names=names,
            meta=meta,
            enforce_metadata=False,
        )
        dtrain = dxgb.DaskDMatrix(
            self.client, frame[names], frame["__label"], missing=np.nan, feature_names=names
        )
        chosen = scorer.chosen_
        spw = float((rows - positives) / max(positives, 1))
        params = {
            "objective": "binary:logistic",
            "eval_metric": EVAL_METRIC,
            "tree_method": "hist",
            "subsample": chosen.get("subsample", 0.8),
            "colsample_bytree": chosen.get("colsample_bytree", 0.8),
            "reg_lambda": 1.0,
            "scale_pos_weight": spw,
            "seed": int(seed),
            **{k: chosen[k] for k in ("max_depth", "learning_rate", "min_child_weight")},
        }
        out = dxgb.train(self.client, params, dtrain, num_boost_round=int(chosen["rounds"]))
        scorer.booster_ = out["booster"]
        note = (
            f"Dask engine: the final XGBoost booster was trained through xgboost.dask on all "
            f"{rows:,} rows of the {len(origins)} training origins ({chosen['rounds']} rounds, "
            "the hyperparameters chosen on the sample); its calibration is the sample fit's."
        )
        scorer.chosen_ = {**chosen, "scale_pos_weight": spw, "trained_on": note}
        return note

    def close(self) -> None:
        """Remove the scratch partitions."""
        for shuffled in self._shuffled.values():
            shutil.rmtree(shuffled.root, ignore_errors=True)
        self._shuffled.clear()
        self._computed.clear()


def is_partitioned_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``--out`` names a directory of Parquet parts (no extension, or an existing
    directory) rather than one file.

    Examples
    --------
    >>> is_partitioned_output("features"), is_partitioned_output("features.parquet")
    (True, False)
    """
    p = Path(path)
    return not p.suffix


# --- what the workers run -------------------------------------------------------------------------


def _read_options(tx: Transactions) -> dict[str, Any]:
    """How the client read ``tx`` (its resolved columns included), to read each file alike."""
    keywords = dict(getattr(tx.reopen, "keywords", {}) or {})
    keywords["mapping"] = tx.mapping
    keywords["require_usable"] = False
    return keywords


def input_files(tx: Transactions) -> list[str]:
    """The files of the log, one split task each: local paths, or the URLs of a log in object
    storage (each worker fetches its own file; the client never downloads them)."""
    if tx.raw.remote is not None:
        return tx.raw.remote.urls
    return [str(f) for f in (tx.raw.files or [tx.raw.path])]


def _row_count(tx: Transactions) -> int:
    """Lines of the log: from the Parquet footers (no scan), else estimated from the size."""
    if tx.raw.kind == "parquet":
        row = tx.con.execute(
            f"SELECT sum(num_rows) FROM parquet_file_metadata({tx.raw.parquet_sql})"
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    if tx.raw.remote is not None:
        return tx.raw.remote.total_bytes // _TEXT_BYTES_PER_ROW
    files = tx.raw.files or [tx.raw.path]
    return sum(Path(f).stat().st_size for f in files) // _TEXT_BYTES_PER_ROW


def _connect() -> Any:
    """A DuckDB connection for a task: the worker's threads, a share of its memory, the
    toolkit's spill directory and engine settings."""

    threads, memory = 1, None
    try:
        from distributed import get_worker

        worker = get_worker()
        threads = max(1, int(worker.state.nthreads))
        limit = getattr(worker.memory_manager, "memory_limit", None)
        if limit:
            memory = f"{int(limit * _DUCKDB_SHARE / threads) // 2**20}MB"
    except (ImportError, ValueError):  # not inside a worker (a test calling it directly)
        pass
    con = connect(threads=threads)
    prepare_connection(con)
    if memory is not None and not os.environ.get("TOOLKIT_MEMORY_LIMIT"):
        con.execute(f"SET memory_limit = '{memory}'")
    return con


def _split_file(file: str, out_dir: str, *, read: dict[str, Any], n_parts: int) -> int:
    """Read one input file as the client did and write its usable rows (purchases and returns),
    by hash partition of the customer id, under ``out_dir/part=K/``. Returns the rows written.

    A URL (object storage) is fetched to the worker's temporary directory first, read, and the
    copy deleted."""

    if is_url(file):
        local = fetch_url(file)
        try:
            return _split_file(str(local), out_dir, read=read, n_parts=n_parts)
        finally:
            local.unlink(missing_ok=True)
    con = _connect()
    tx = read_transactions(file, con=con, **read)
    try:
        row = con.execute("SELECT count(*) FROM (SELECT 1 FROM tx_events LIMIT 1)").fetchone()
        if not row or not row[0]:
            return 0
        path = out_dir.replace("'", "''")
        # DuckDB's hash of the normalised id: the same on every worker (one DuckDB version)
        written = con.execute(
            f"COPY (SELECT {_EVENT_COLUMNS}, CAST(hash(customer_id) % {int(n_parts)} AS INTEGER)"
            f" AS part FROM tx_events) TO '{path}' (FORMAT parquet, PARTITION_BY (part))"
        ).fetchone()
        return int(written[0]) if written else 0
    finally:
        tx.close()


def _features_part(
    files: list[str],
    out: str,
    index: int,
    *,
    spec: FeatureSpec,
    customers: pd.DataFrame | None,
    sample: int,
) -> dict[str, Any]:
    """Run the feature SQL on one partition, write its features to ``out`` (Parquet, customer
    order); return its statistics (rows, label sum, BG/NBD histories, a spend sample)."""
    import numpy as np
    import pyarrow.parquet as pq

    con = _connect()
    try:
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            con.execute(
                "CREATE VIEW events AS SELECT * FROM "
                f"read_parquet([{listed}], hive_partitioning = false)"
            )
        else:  # no customer hashed here: an empty relation of the right columns
            con.execute(
                "CREATE VIEW events AS SELECT NULL::VARCHAR AS customer_id, "
                "NULL::TIMESTAMP AS timestamp, NULL::DOUBLE AS amount, NULL::DOUBLE AS quantity, "
                "NULL::VARCHAR AS invoice, NULL::VARCHAR AS product, NULL::BOOLEAN AS is_return "
                "WHERE false"
            )
        base = feature_sql(spec, "events")
        if customers is None:
            query = f"SELECT * FROM ({base}) f ORDER BY customer_id"
        else:
            con.register("customer_table", customers)
            others = [c for c in customers.columns if c != "customer_id"]
            query = (
                f"SELECT f.*{customer_select(others)} FROM ({base}) f "
                "LEFT JOIN customer_table c USING (customer_id) ORDER BY customer_id"
            )
        table = con.sql(query).to_arrow_table()
        if customers is not None:
            con.register("part_result", table)
            row = con.execute(
                "SELECT count(*) FROM part_result WHERE customer_id IN "
                "(SELECT customer_id FROM customer_table)"
            ).fetchone()
            matched = int(row[0]) if row else 0
        else:
            matched = 0
    finally:
        con.close()
    pq.write_table(table, out, compression="snappy")
    cols = {
        c: np.asarray(table.column(c).to_numpy(), dtype=np.float64)
        for c in ("frequency", "recency", "T", "monetary")
    }

    (f, r, t), counts, _ = compress_rows(cols["frequency"], cols["recency"], cols["T"])
    repeat = cols["frequency"] > 0
    # a seeded sample of this partition's repeat customers, in their (customer) order: the
    # client draws the pooled Gamma-Gamma sample from these, in proportion to each partition
    rows = np.flatnonzero(repeat)
    if len(rows) > sample:
        rows = np.sort(np.random.default_rng(index).choice(rows, sample, replace=False))
    labelled = LABEL_COLUMNS[0] in table.column_names
    return {
        "rows": table.num_rows,
        "repeat": int(_column_sum(table, LABEL_COLUMNS[0])) if labelled else None,
        "in_customer_table": matched,
        "histories": (f, r, t, counts),
        "n_repeat": int(repeat.sum()),
        "spend_sum": float(cols["monetary"][repeat].sum()),
        "spend_sample": (
            cols["frequency"][rows],
            cols["monetary"][rows],
            table.column("customer_id").take(rows).to_numpy(zero_copy_only=False),
        ),
        "any_T": bool((cols["T"] > 0).any()),
    }


def _column_sum(table: pa.Table, column: str) -> float:
    """The sum of a numeric column of an Arrow table (0 when empty)."""
    import pyarrow.compute as pc

    value = pc.sum(table.column(column)).as_py()
    return float(value or 0)


def _score_part(
    file: str,
    out: str | None = None,
    *,
    models: Any,
    categories: list[str] | None = None,
    per_million: int | None = None,
) -> pa.Table | None:
    """Add the BTYD columns to one partition's features (when ``models`` were fitted); write it
    to ``out`` (Parquet), or return it for the client to gather (only the customers of the
    sample when ``per_million`` is given: see :func:`in_sample`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(file)
    if per_million is not None and per_million < 1_000_000:
        table = table.filter(in_sample(table.column("customer_id"), per_million))
    if models is not None and table.num_rows:
        cols = {
            c: np.asarray(table.column(c).to_numpy(), dtype=np.float64)
            for c in ("frequency", "recency", "T", "monetary")
        }
        for name, values in score_btyd(models, **cols).items():
            table = table.append_column(name, pa.array(values))
    if out is None:
        return table
    for col in categories or []:
        i = table.schema.get_field_index(col)
        if i >= 0:
            table = table.set_column(i, col, table.column(col).dictionary_encode())
    tmp = f"{out}.tmp"
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, out)
    return None


def in_sample(ids: Any, per_million: int) -> Any:
    """Boolean mask of the customers in a sample of ``per_million`` in a million, by a hash of
    their id (a salted one: the partitions use the plain hash), the same on every call.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ids = pa.array([f"C{i}" for i in range(10_000)])
    >>> bool(0.18 < in_sample(ids, 200_000).to_numpy(zero_copy_only=False).mean() < 0.22)
    True
    """
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    try:
        con.register("ids", pa.table({"customer_id": ids}))
        con.execute("SET preserve_insertion_order = true")
        return (
            con.sql(
                "SELECT hash(customer_id || '#toolkit-sample') % 1000000 < "
                f"{int(per_million)} AS keep FROM ids"
            )
            .to_arrow_table()
            .column("keep")
        )
    finally:
        con.close()


def _encoded_part(item: tuple[str, str], *, schema: Any, names: list[str]) -> pd.DataFrame:
    """One partition's features at one origin as the models' encoded matrix and the label."""
    import pandas as pd

    origin, file = item
    frame = _features_frame(file)
    frame["origin"] = pd.Timestamp(origin)
    out = pd.DataFrame(schema.encode(frame), columns=names)
    out["__label"] = label_vector(frame, "repeat_purchase").astype("float64")
    return out


# --- the churn list, per partition ---------------------------------------------------------------


def _features_frame(file: str) -> pd.DataFrame:
    """One partition's features as the embedded engine returns them (types, order)."""
    import duckdb
    import pyarrow.parquet as pq

    con = duckdb.connect()
    try:
        con.register("features_result", pq.read_table(file))
        con.execute("SET preserve_insertion_order = true")
        df = con.execute("SELECT * FROM features_result").df()
    finally:
        con.close()
    return finish_frame(df, None)


def _churn_part(file: str, *, bundle: Any, options: dict[str, Any]) -> pd.DataFrame:
    """The churn list of one partition (its own ranks; :func:`_ranked_part` sets the global
    ones)."""
    from threadpoolctl import threadpool_limits

    frame = _features_frame(file)
    if frame.empty:
        return frame.iloc[:0]
    # one BLAS / OpenMP thread: the worker's threads are the cluster's parallelism
    with threadpool_limits(limits=1):
        return churn_list(bundle, frame, top=None, **options)


def _churn_keys(table: pd.DataFrame) -> pd.DataFrame:
    """What the client needs of a partition's list to rank every customer."""
    import pandas as pd

    if table.empty:
        return pd.DataFrame({"customer_id": [], "churn_probability": [], "value_at_risk": []})
    return table[["customer_id", "churn_probability", "value_at_risk"]]


def global_ranks(keys: list[pd.DataFrame], sort: str = "auto") -> tuple[pd.DataFrame, str]:
    """``priority_rank``, ``risk_rank`` and ``risk_decile`` over every customer of every
    partition, with the partition (``part``) of each; and the order used.

    The rules are :func:`toolkit.models.churn_list`'s, applied to the customers in id order (the
    order the embedded engine scores them in, so that ties fall the same way): risk by churn
    probability; priority by value at risk (customers without a value after the others, ties by
    risk) when any customer has a value and ``sort`` allows, else by risk.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"customer_id": ["b", "a"], "churn_probability": [0.9, 0.2],
    ...                   "value_at_risk": [1.0, 5.0]})
    >>> b = pd.DataFrame({"customer_id": ["c"], "churn_probability": [0.5],
    ...                   "value_at_risk": [3.0]})
    >>> ranks, order = global_ranks([a, b])
    >>> order, ranks.sort_values("customer_id")["priority_rank"].tolist()
    ('value_at_risk', [1, 3, 2])
    """
    import numpy as np
    import pandas as pd

    frame = pd.concat(
        [k.assign(part=i) for i, k in enumerate(keys)], ignore_index=True
    ).sort_values("customer_id", kind="stable", ignore_index=True)
    churn = frame["churn_probability"].to_numpy(np.float64)
    at_risk = frame["value_at_risk"].to_numpy(np.float64, na_value=np.nan)
    n = len(frame)
    # the same ranks as the embedded list's, over every partition's customers
    rank, decile, order, order_by = list_order(churn, at_risk, sort)
    priority = np.empty(n, dtype=np.int64)
    priority[order] = np.arange(1, n + 1)
    ranks = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "priority_rank": priority,
            "risk_rank": rank,
            "risk_decile": decile,
            "part": frame["part"],
        }
    )
    return ranks, order_by


def _ranked_part(
    table: pd.DataFrame, ranks: pd.DataFrame, out: str | None = None, *, top: int | None
) -> pd.DataFrame:
    """One partition's list with the global ranks, in priority order (the first ``top`` of the
    whole list only); written to ``out`` (Parquet) or returned."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(table):
        by_id = ranks.set_index("customer_id")
        ids = table["customer_id"].astype("string")
        for col in ("priority_rank", "risk_rank", "risk_decile"):
            if col in table.columns:
                table[col] = by_id.loc[ids, col].to_numpy()
        table = table.sort_values("priority_rank", kind="stable").reset_index(drop=True)
        if top is not None:
            table = table[table["priority_rank"] <= int(top)].reset_index(drop=True)
    if out is None:
        return table
    tmp = f"{out}.tmp"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)
    os.replace(tmp, out)
    return table.iloc[:0]


# --- BG/NBD and Gamma-Gamma from the partitions' statistics ---------------------------------------


@dataclass
class BTYDModels:
    """The fitted models the workers score with (sent to them with the task)."""

    bgnbd: Any
    gamma_gamma: Any  # None: spend = the customer's own mean, or ``fallback_spend``
    fallback_spend: float
    t: float  # the horizon in units of recency / T


def fit_btyd(
    stats: list[dict[str, Any]], *, horizon_days: int, time_unit: str = "days"
) -> tuple[BTYDModels | None, dict[str, Any]]:
    """Fit BG/NBD on every customer's (frequency, recency, T), from the partitions' distinct
    histories and counts, and Gamma-Gamma on a pooled sample of repeat customers.

    The BG/NBD fit is :func:`toolkit.btyd.fit_standard` (maximum likelihood unless that is at
    a boundary or ill determined) on all customers, weighted by how many share each history:
    on at most :data:`~toolkit.features._btyd.FIT_SAMPLE` customers it is exactly the embedded
    engine's fit; above, the embedded engine fits a seeded sample of that size and this fits
    everyone. Gamma-Gamma is :func:`toolkit.btyd.fit_spend`'s, as the embedded engine's.
    Returns (None, info) when every history is a single day, as the embedded engine does.
    """
    import warnings

    import numpy as np
    import pandas as pd

    from toolkit.features._btyd import FIT_SAMPLE, fit_notes, spend_fit_info

    info: dict[str, Any] = {"horizon_days": horizon_days, "warnings": []}
    t = horizon_days / (7.0 if time_unit == "weeks" else 1.0)
    if not any(s["any_T"] for s in stats):
        info["bgnbd"] = info["gamma_gamma"] = None
        info["warnings"].append(
            "BG/NBD scores (p_alive, expected_purchases, expected_value) not added: every "
            "customer's history before the cutoff is a single day (T = 0), so there is no "
            "purchase rate to fit"
        )
        return None, info
    hist = pd.DataFrame(
        {
            key: np.concatenate([s["histories"][i] for s in stats])
            for i, key in enumerate(("frequency", "recency", "T", "n"))
        }
    )
    hist = hist.groupby(["frequency", "recency", "T"], sort=True, as_index=False)["n"].sum()
    customers = int(hist["n"].sum())
    info["fit"] = (
        f"BG/NBD on all {customers:,} customers by their {len(hist):,} distinct "
        "(frequency, recency, T) histories"
    )
    # the pooled spend sample: each partition in proportion to its repeat customers
    n_repeat = sum(s["n_repeat"] for s in stats)
    share = min(1.0, FIT_SAMPLE / n_repeat) if n_repeat else 0.0
    xs, ms, ids = [], [], []
    for s in stats:
        x, m, who = s["spend_sample"]
        keep = np.arange(len(x))
        take = min(len(x), round(s["n_repeat"] * share))
        if take < len(x):
            keep = np.linspace(0, len(x) - 1, take).astype(int)
        xs.append(x[keep])
        ms.append(m[keep])
        ids.append(who[keep])
    # in customer order, as the embedded engine passes them: the same customers then give the
    # same sums in the likelihood, to the last digit
    order = np.argsort(np.concatenate(ids), kind="stable")
    x_fit, m_fit = np.concatenate(xs)[order], np.concatenate(ms)[order]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bg = fit_standard(
            hist["frequency"].to_numpy(),
            hist["recency"].to_numpy(),
            hist["T"].to_numpy(),
            weights=hist["n"].to_numpy(np.float64),
        )
        info["bgnbd"] = {k: float(v) for k, v in bg.params_.items()}
        info["bgnbd_flags"] = fit_flags(bg.params_, bg.standard_errors_, bg.boundary_warnings_)
        info["bgnbd_fit"] = bg.fit_
        gg = None
        try:
            if len(x_fit) < 10:
                raise ToolkitError("fewer than 10 repeat customers")
            gg = fit_spend(x_fit, m_fit, n_starts=1)
            info["gamma_gamma"] = {k: float(v) for k, v in gg.params_.items()}
            info.update(spend_fit_info(gg))
        except ToolkitError as exc:
            info["gamma_gamma"] = None
            info["warnings"].append(f"Gamma-Gamma not fitted ({exc}); spend = own mean")
    info["warnings"] += [str(w.message) for w in caught] + fit_notes(info)
    fallback = sum(s["spend_sum"] for s in stats) / n_repeat if n_repeat else 0.0
    return BTYDModels(bg, gg, fallback, t), info


def score_btyd(
    models: BTYDModels,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary: Any,
) -> dict[str, Any]:
    """``p_alive``, ``expected_purchases`` and ``expected_value`` of some customers, as
    :func:`toolkit.features._btyd.btyd_scores` computes them from fitted models."""
    import numpy as np

    bg = models.bgnbd
    p_alive = np.asarray(bg.p_alive(frequency, recency, T))
    expected = np.asarray(bg.expected_purchases(models.t, frequency, recency, T))
    if models.gamma_gamma is not None:
        spend = np.asarray(models.gamma_gamma.expected_spend(frequency, monetary))
    else:
        spend = np.where(frequency > 0, monetary, models.fallback_spend)
    return {
        "p_alive": p_alive,
        "expected_purchases": expected,
        "expected_value": expected * spend,
    }


def _write_table(table: pa.Table, out: Path, categories: list[str]) -> None:
    """Write the gathered features to one file, as the embedded engine writes them."""
    import duckdb

    fmt = output_format(out)
    with write_atomic(out) as tmp:
        if categories and fmt == ".parquet":
            write_with_categories(table, categories, tmp)
            return
        copy_opts = {
            ".parquet": "(FORMAT parquet, COMPRESSION snappy)",
            ".csv": "(FORMAT csv, HEADER true)",
            ".json": "(FORMAT json, ARRAY true)",
        }[fmt]
        con = duckdb.connect()
        try:
            con.register("features_result", table)
            con.execute("SET preserve_insertion_order = true")
            con.execute(f"COPY features_result TO '{escape_literal(str(tmp))}' {copy_opts}")
        finally:
            con.close()


# --- toolkit predict --engine dask ---------------------------------------------------------------


def predict_on_dask(
    model_dir: Path,
    data: Path,
    out: Path,
    read: Any,
    cutoff: str | None,
    scheduler: str | None,
    top: int | None,
    **options: Any,
) -> list[str]:
    """``toolkit predict --engine dask``: the churn list of a transaction log, scored on the
    cluster (:meth:`DaskEngine.churn_list`), written to ``out``. Returns the lines to tell the
    user."""
    from datetime import timedelta

    bundle = load_model_dir(model_dir)
    kwargs = read.read_kwargs()
    if bundle.settings.mode == "target" or is_customer_table(data, **kwargs):
        raise InputError(
            f"`engine` dask scores a transaction log; {data} has one row per customer "
            "(drop `engine` dask)"
        )
    tx = read_transactions(data, **kwargs)
    try:
        _, last = data_range(tx)
        cut = parse_cutoff(cutoff)
        if cut is not None and cut > last + timedelta(days=1):
            raise InputError(
                f"`cutoff` {cut} is after the end of the data ({last}); the latest useful cutoff "
                f"is {last + timedelta(days=1)}"
            )
        spec, _ = resolve_spec(tx, cut, None, bundle.settings.time_unit or "days")
        with attach_engine(tx, "dask", scheduler) as dask:
            churn, meta = dask.churn_list(tx, spec, bundle, out=out, top=top, **options)
            parts = len(dask.shuffle(tx).parts)
    finally:
        tx.close()
    customers = int(meta["customers"])
    if churn is not None:
        write_frame(round_for_people(churn, DISPLAY) if for_people(out) else churn, out)
        written = f"{len(churn):,} rows to {out}"
    else:
        rows = min(customers, top) if top else customers
        written = f"{rows:,} rows to {out}/ (one Parquet file per partition, each in order)"
    order = (
        "money at risk first (value_at_risk)"
        if meta["order"] == "value_at_risk"
        else "highest churn probability first"
    )
    return [
        f"champion {bundle.champion}; churn_probability = {bundle.settings.churn_probability}",
        f"scored {customers:,} customers of {display(data)} as of {spec.cutoff} on Dask ({parts} "
        f"partitions: features, scores and reasons in the workers); wrote {written}, {order}",
    ]


@contextmanager
def attach_engine(
    tx: Transactions, engine: str, scheduler: str | None = None, **options: Any
) -> Iterator[Any]:
    """Run every feature computation of ``tx`` on ``engine`` while the block runs.

    ``embedded`` yields None (a log in object storage is downloaded once, to read local copies:
    :func:`toolkit.io._read.localise`). ``dask`` connects to ``scheduler`` (or starts a
    :class:`distributed.LocalCluster` sized to the machine, closed at the end) and yields the
    :class:`~toolkit.engines.dask_engine.DaskEngine`; ``options`` go to it.
    """
    check_engine(engine, scheduler)
    if engine == "embedded":
        from toolkit.io._read import localise

        # a log in object storage: one download, rather than a fetch on every scan
        localise(tx.con, tx.raw)
        yield None
        return
    with engine_session(engine, scheduler) as client:
        dask = DaskEngine(client, **options)
        tx.engine = dask
        try:
            yield dask
        finally:
            tx.engine = None
            dask.close()
