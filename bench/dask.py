"""Benchmark: ``toolkit features`` on the Dask engine (a two-worker LocalCluster) beside the
embedded engine, on a log stored as a directory of Parquet files.

    python bench/dask.py [--customers 5000000] [--workers 2] [--memory-limit 3GB]
                         [--data-dir bench/data] [--node-cores 16] [--skip-embedded]

The log is generated with ``toolkit generate`` (about 23 lines per customer: 5M customers ->
~117M transactions) and rewritten as one Parquet file per month, the layout of a history kept
by date (every customer's lines spread over many files). Both are kept in ``--data-dir`` and
reused. Each engine runs in a fresh process:

- embedded: ``toolkit features DIR --out F.parquet`` (DuckDB, one pass; wall time and peak RSS);
- dask: a LocalCluster of ``--workers`` single-threaded worker processes with
  ``--memory-limit`` each; the split (hash partitions by customer, written to the scratch
  directory) and the features step (the feature SQL per partition, BG/NBD fit on the client,
  scores, partitioned Parquet out) are timed apart, and every worker's peak RSS is read from
  the worker itself (``getrusage``) at the end.

It prints the figures, the throughput per worker thread of each step, and an extrapolation to
10 billion transactions on a 10-node cluster of ``--node-cores`` cores each (labelled as such:
an extrapolation from the size run here, which assumes the per-thread throughput holds and the
shuffle's storage keeps up).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import gb, measure  # noqa: E402

DASK_RUN = r"""
import json, resource, shutil, sys, threading, time
from pathlib import Path

import toolkit.engines.dask_engine as dask_engine
from toolkit.engines.dask_engine import DaskEngine, dask_client
from toolkit.features import resolve_spec, write_features
from toolkit.io import read_transactions

fit_seconds = []
_fit = dask_engine.fit_btyd


def timed_fit(*args, **kwargs):
    # the client's BG/NBD + Gamma-Gamma fit: the one serial step, timed apart
    t = time.perf_counter()
    try:
        return _fit(*args, **kwargs)
    finally:
        fit_seconds.append(time.perf_counter() - t)


dask_engine.fit_btyd = timed_fit

data, out, cutoff, workers, memory = sys.argv[1:6]
started = time.perf_counter()
with dask_client(n_workers=int(workers), threads_per_worker=1, processes=True,
                 memory_limit=memory) as client:
    up = time.perf_counter() - started
    peak = {}
    stop = threading.Event()

    def poll():
        # the workers' resident memory, sampled every half second (the scheduler's view)
        while not stop.wait(0.5):
            try:
                for addr, w in client.scheduler_info()["workers"].items():
                    rss = w.get("metrics", {}).get("memory", 0)
                    peak[addr] = max(peak.get(addr, 0), rss)
            except Exception:
                pass

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    tx = read_transactions(data)
    spec, _ = resolve_spec(tx, cutoff)
    engine = DaskEngine(client)
    tx.engine = engine
    t = time.perf_counter()
    shuffled = engine.shuffle(tx)
    split_s = time.perf_counter() - t
    scratch_bytes = sum(f.stat().st_size for part in shuffled.parts for f in map(Path, part))
    t = time.perf_counter()
    summary = write_features(tx, out, spec, btyd=True)
    features_s = time.perf_counter() - t
    engine.close()
    stop.set()
    thread.join()
    ru = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps({
        "cluster_start_s": up,
        "split_s": split_s,
        "features_s": features_s,
        "fit_s": sum(fit_seconds),
        "total_s": time.perf_counter() - started,
        "rows": shuffled.rows,
        "partitions": len(shuffled.parts),
        "customers": summary["customers"],
        "scratch_bytes": scratch_bytes,
        "worker_peak_rss": sorted(ru.values()),
        "worker_peak_sampled": sorted(peak.values()),
        "client_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "btyd": summary["btyd"].get("fit"),
    }))
"""


def ensure_data(customers: int, data_dir: Path) -> Path:
    """The generated log as a directory of monthly Parquet files (made once, then reused)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    by_month = data_dir / f"c{customers}_by_month"
    if by_month.is_dir():
        return by_month
    single = data_dir / f"c{customers}.parquet"
    if not single.exists():
        print(f"generating {customers:,} customers -> {single}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "toolkit.cli", "generate", "--customers", str(customers),
             "--out", str(single)],
            check=True,
        )  # fmt: skip
    print(f"rewriting {single} as monthly Parquet files -> {by_month}", flush=True)
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")
    tmp = by_month.with_name(by_month.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    con.execute(
        f"COPY (SELECT *, strftime(invoice_date, '%Y-%m') AS month FROM read_parquet('{single}')) "
        f"TO '{tmp}' (FORMAT parquet, PARTITION_BY (month), ROW_GROUP_SIZE 500000)"
    )
    tmp.rename(by_month)
    return by_month


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5_000_000)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parent / "data"))
    ap.add_argument("--cutoff", default="2023-10-01")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--node-cores", type=int, default=16)
    ap.add_argument("--skip-embedded", action="store_true")
    args = ap.parse_args()

    data = ensure_data(args.customers, Path(args.data_dir))
    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        if not args.skip_embedded:
            emb = measure(
                [sys.executable, "-m", "toolkit.cli", "features", str(data), "--out",
                 str(work / "embedded.parquet"), "--cutoff", args.cutoff]
            )  # fmt: skip
            print(
                f"embedded: {emb['seconds']:.1f} s, peak RSS {gb(emb['peak_rss_bytes'])}",
                flush=True,
            )
        run = subprocess.run(
            [sys.executable, "-c", DASK_RUN, str(data), str(work / "dask_parts"), args.cutoff,
             str(args.workers), args.memory_limit],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
        if run.returncode or not lines:
            raise SystemExit(f"the Dask run failed ({run.returncode}):\n{run.stderr[-3000:]}")
        d = json.loads(lines[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows, threads = d["rows"], args.workers
    print(
        f"dask ({args.workers} workers x 1 thread, {args.memory_limit} each): "
        f"{d['total_s']:.1f} s in all = cluster start {d['cluster_start_s']:.1f} s + split "
        f"{d['split_s']:.1f} s + features {d['features_s']:.1f} s; {d['partitions']} partitions"
        f", {d['customers']:,} customers, {rows:,} lines"
    )
    print(
        "dask worker peak RSS: "
        + ", ".join(gb(b) for b in d["worker_peak_rss"])
        + " (getrusage); sampled: "
        + ", ".join(gb(b) for b in d["worker_peak_sampled"])
        + f"; client process {gb(d['client_peak_rss'])}"
    )
    print(f"BTYD: {d['btyd']}; the fit on the client took {d['fit_s']:.1f} s of the features step")
    split_rate = rows / d["split_s"] / threads
    # the features step's rate leaves out the client's fit, which does not grow with the workers
    feat_rate = rows / max(d["features_s"] - d["fit_s"], 1e-9) / threads
    per_line = d["scratch_bytes"] / rows
    print(
        f"per worker thread: split {split_rate / 1e6:.2f} M lines/s, features (without the "
        f"client's fit) {feat_rate / 1e6:.2f} M lines/s; shuffle {per_line:.1f} bytes a line in "
        "the scratch"
    )
    total = 10e9
    nodes_threads = 10 * args.node_cores
    est = total / split_rate / nodes_threads + total / feat_rate / nodes_threads
    print(
        f"EXTRAPOLATION (from {rows / 1e6:.0f}M lines on this machine, not measured): 10 billion "
        f"lines on 10 nodes x {args.node_cores} cores = {nodes_threads} worker threads at these "
        f"per-thread rates: about {est / 60:.0f} min compute, and "
        f"{total * per_line / 1e12:.2f} TB written to and read back from the shared scratch "
        f"({total * per_line / 10 / 1e9:.0f} GB per node); at least "
        f"{-(-int(total) // 8_000_000):,} partitions of 8M lines; plus the client's BTYD fit "
        f"({d['fit_s']:.1f} s here, growing with the distinct histories, not the lines)"
    )


if __name__ == "__main__":
    main()
