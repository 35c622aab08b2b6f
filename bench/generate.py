"""Benchmark: ``toolkit generate --customers 1000000`` runs in bounded memory.

Runs the command as a subprocess (as a user would) and prints its wall time, the rows written,
and its peak resident memory (RUSAGE_CHILDREN). Not a test.

    python bench/generate.py                       # 1,000,000 customers into a temporary dir
    python bench/generate.py OUT.parquet --customers 5000000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RSS_MB = 1536


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="where to write (default: a temp dir)")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="toolkit-bench-") as tmp:
        out = args.out or Path(tmp) / "transactions.parquet"
        cmd = [sys.executable, "-m", "toolkit.cli", "generate"]
        cmd += ["--customers", str(args.customers), "--out", str(out), "--seed", str(args.seed)]
        began = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - began
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        rows = pq.ParquetFile(out).metadata.num_rows
        customers = out.with_name(out.name.removesuffix(".parquet") + "_customers.parquet")
        size = out.stat().st_size + customers.stat().st_size
    # ru_maxrss is in KiB on Linux, bytes on macOS
    peak_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    cpu = usage.ru_utime + usage.ru_stime
    python = sys.version.split()[0]
    print(f"machine:      {platform.machine()}, {os.cpu_count()} CPUs, Python {python}")
    print(f"customers:    {args.customers:,}")
    print(f"rows:         {rows:,} ({rows / args.customers:.1f} per customer)")
    print(f"wall time:    {wall:.1f} s ({rows / wall / 1e6:.2f} M rows/s)")
    print(f"CPU time:     {cpu:.1f} s")
    print(f"peak RSS:     {peak_mb:,.0f} MB (target < {TARGET_RSS_MB:,} MB)")
    print(f"files:        {size / 1e6:,.0f} MB on disk")
    return 0 if peak_mb < TARGET_RSS_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
