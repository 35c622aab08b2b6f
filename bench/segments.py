"""Benchmark: ``toolkit segment --method kmeans --k auto`` on 1,000,000 customers x 10 features.

    python bench/segments.py [--customers 1000000] [--data-dir bench/data] [--no-baseline]

Generates (or reuses) a seeded synthetic customer table with six clusters (three of the ten
columns are money-like, log-normal and heavily skewed), then times in fresh processes:

(a) ``toolkit segment DATA --out DIR --method kmeans --k auto`` (everything: reading, choosing k,
    fitting on all rows, indices, stability, profiles, names, plots, the saved segmenter);
(b) a fair baseline doing what a notebook would: the same preprocessing, then for every k in
    2..10 scikit-learn ``KMeans`` (n_init="auto") fitted on all rows and the silhouette on a
    seeded 20,000-row sample, k = the silhouette peak (no plots, no profiles, no stability,
    no output files). It runs single-threaded, as the toolkit's k search does, so that the ratio
    measures the method rather than OpenMP threads spinning on a shared machine.

Prints wall seconds, peak RSS (``RUSAGE_CHILDREN`` of each run), the ratio and the targets
(< 60 s and < 4 GB for the toolkit on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import gb  # noqa: E402

# like _measure.measure, plus the CPU seconds of the child (the machine may be shared: CPU time
# is what the run would take on two idle cores, give or take its little parallel work)
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(proc.stderr)
print(json.dumps({"rc": proc.returncode, "seconds": wall, "cpu_seconds": ru.ru_utime + ru.ru_stime,
                  "peak_rss_bytes": ru.ru_maxrss * 1024}))
"""


def measure(argv: list[str]) -> dict:
    """Run ``argv`` in a fresh wrapper process: wall and CPU seconds, peak RSS, stderr."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, check=False
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"measurement of {argv} failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(lines[-1])
    result["stderr"] = out.stderr
    if result["rc"] != 0:
        raise RuntimeError(f"{argv} exited with {result['rc']}:\n{out.stderr[-2000:]}")
    return result


def load() -> str:
    """The 1-minute load average against the cores (how shared the machine was)."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


N_CLUSTERS = 6
N_FEATURES = 10
TARGET_SECONDS = 60.0
TARGET_BYTES = 4e9

BASELINE = r"""
import sys, time
import numpy as np, pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits
threadpool_limits(1)  # as the toolkit's k search: measures the method, not OpenMP contention
df = pd.read_parquet(sys.argv[1])
X = np.array(df.drop(columns=["customer_id"]), dtype=float)
skewed = [j for j in range(X.shape[1]) if X[:, j].min() >= 0 and pd.Series(X[:, j]).skew() > 1]
X[:, skewed] = np.log1p(X[:, skewed])
X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
best = None
for k in range(2, 11):
    km = KMeans(n_clusters=k, n_init="auto", random_state=0).fit(X)
    sil = silhouette_score(X, km.labels_, sample_size=20000, random_state=0)
    if best is None or sil > best[1]:
        best = (k, sil)
print("baseline chose k=%d silhouette %.4f" % best, file=sys.stderr)
"""


def make_data(n: int, path: Path, seed: int = 0) -> Path:
    """Seeded synthetic customers: six Gaussian clusters, three skewed money-like columns.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> with tempfile.TemporaryDirectory() as d:
    ...     df = pd.read_parquet(make_data(100, Path(d) / "c.parquet"))
    >>> df.shape
    (100, 11)
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    while True:  # well separated: every pair of centres at least 9 sd apart
        centers = rng.uniform(-5, 5, size=(N_CLUSTERS, N_FEATURES))
        gaps = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
        if gaps[np.triu_indices(N_CLUSTERS, 1)].min() >= 9:
            break
    weights = np.array([0.3, 0.2, 0.15, 0.15, 0.1, 0.1])
    cluster = rng.choice(N_CLUSTERS, size=n, p=weights)
    X: np.ndarray = centers[cluster] + rng.normal(0, 1.0, size=(n, N_FEATURES))
    cols = {}
    for j in range(N_FEATURES):
        if j < 3:  # money-like: log-normal spend, heavily right-skewed
            cols[f"spend_{j}"] = np.round(np.exp(3 + 0.6 * X[:, j]), 2)
        else:
            cols[f"x{j}"] = X[:, j]
    df = pd.DataFrame({"customer_id": [f"C{i:07d}" for i in range(n)], **cols})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    data = args.data_dir / f"segment_customers_{args.customers}.parquet"
    if not data.exists():
        print(f"generating {args.customers:,} customers x {N_FEATURES} features -> {data}")
        make_data(args.customers, data)
    toolkit = str(Path(sys.executable).with_name("toolkit"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "segments"
        cmd = [toolkit, "segment", str(data), "--out", str(out), "--method", "kmeans"]
        cmd += ["--k", "auto", "--seed", "0"]
        res = measure(cmd)
        metrics = json.loads((out / "metrics.json").read_text())
    ok_t = res["seconds"] < TARGET_SECONDS
    ok_m = res["peak_rss_bytes"] < TARGET_BYTES
    print(f"customers: {args.customers:,} x {N_FEATURES} features; {load()} after the run")
    print(
        f"toolkit segment --method kmeans --k auto: {res['seconds']:.1f} s wall "
        f"({res['cpu_seconds']:.1f} s CPU), peak RSS {gb(res['peak_rss_bytes'])}  "
        f"(targets < {TARGET_SECONDS:.0f} s: {'ok' if ok_t else 'MISSED'}, "
        f"< {gb(TARGET_BYTES)}: {'ok' if ok_m else 'MISSED'})"
    )
    print(
        f"  chose k={metrics['k']} (true clusters: {N_CLUSTERS}), silhouette "
        f"{metrics['silhouette']:.4f}, stability ARI {metrics['stability_ari']:.3f}; "
        f"{metrics['methods']['kmeans']['sampling']}"
    )
    if not args.no_baseline:
        base = measure([sys.executable, "-c", BASELINE, str(data)])
        chose = [ln for ln in base["stderr"].splitlines() if ln.startswith("baseline chose")]
        print(
            f"baseline (sklearn KMeans on all rows for k=2..10 + silhouette on a 20k sample): "
            f"{base['seconds']:.1f} s wall ({base['cpu_seconds']:.1f} s CPU), peak RSS "
            f"{gb(base['peak_rss_bytes'])}; {chose[-1] if chose else ''}"
        )
        print(
            f"ratio baseline / toolkit: {base['seconds'] / res['seconds']:.2f}x wall, "
            f"{base['cpu_seconds'] / res['cpu_seconds']:.2f}x CPU"
        )


if __name__ == "__main__":
    main()
