"""Benchmark: ``toolkit features`` against a straightforward pandas BTYD core on the same file.

    python bench/features.py [--customers 100000,1000000,5000000] [--data-dir bench/data]

For each size it generates (or reuses) a synthetic log with ``toolkit generate`` (about 23 lines
per customer: 100k -> ~2.3M, 1M -> ~23M, 5M -> ~116M transactions), then times, each in a fresh
process, (a) ``toolkit features`` with the full feature set and (b) a pandas groupby computing only
the BTYD core (frequency, recency, T, lifetime spend) from the same Parquet file, interleaved,
``--repeat`` times each (default 3). Prints the median seconds, peak RSS and the ratio of the
medians (and of each pair). ``--by-date`` also times toolkit on a date-ordered copy of the log,
whose row groups do not split by customer (one pass, spilling beyond the memory limit, where a
customer-ordered log above 30M lines runs in parts).
``toolkit features`` runs under DuckDB's memory limit ``TOOLKIT_MEMORY_LIMIT`` (default 2.5GB:
it spills beyond it). The pandas baseline is skipped above 1M customers unless --pandas-all (it
needs far more memory than the machine has to spare at 116M rows).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import gb, measure  # noqa: E402

PANDAS_BASELINE = r"""
import sys
import pandas as pd
path, cutoff, out = sys.argv[1], pd.Timestamp(sys.argv[2]), sys.argv[3]
df = pd.read_parquet(path, columns=["customer_id", "invoice_no", "invoice_date", "quantity",
                                     "unit_price"])
df = df[(df["quantity"] > 0) & (df["unit_price"] > 0) & ~df["invoice_no"].str.startswith("C")
        & (df["invoice_date"] < cutoff)]
df["amount"] = df["quantity"] * df["unit_price"]
df["day"] = df["invoice_date"].dt.normalize()
g = df.groupby("customer_id")
spend = g["amount"].sum()
first, last = g["day"].min(), g["day"].max()
nday = df.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()
res = pd.DataFrame({
    "frequency": nday - 1,
    "recency": (last - first).dt.days,
    "T": ((cutoff - pd.Timedelta(days=1)) - first).dt.days,
    "lifetime_spend": spend,
})
res.to_parquet(out)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", default="100000,1000000,5000000")
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parent / "data"))
    ap.add_argument("--cutoff", default="2023-10-01")
    ap.add_argument("--pandas-all", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--by-date",
        action="store_true",
        help="also time toolkit on a date-ordered copy of each log (the one-pass route)",
    )
    args = ap.parse_args()
    toolkit = shutil.which("toolkit") or str(Path(sys.executable).parent / "toolkit")
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    # the machine may be shared: the load says how far these timings can be trusted
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}")
    print(f"{'customers':>10} {'rows':>12} {'engine':<28} {'seconds':>8} {'peak RSS':>10}")
    for n in [int(x) for x in args.customers.split(",")]:
        data = data_dir / f"tx_{n}.parquet"
        if not data.exists():
            print(f"generating {data} ...", flush=True)
            r = measure(
                [toolkit, "generate", "--customers", str(n), "--out", str(data), "--seed", "1"]
            )
            print(f"  generated in {r['seconds']:.1f} s, peak {gb(r['peak_rss_bytes'])}")
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(data).metadata.num_rows
        logs = [("customer order", data)]
        if args.by_date:
            logs.append(("date order", _by_date(data)))
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "f.parquet")
            for order, log in logs:
                ours, base = [], []
                cmd = [toolkit, "features", str(log), "--cutoff", args.cutoff, "--horizon", "90"]
                baseline = n <= 1_000_000 or args.pandas_all
                # interleaved, so that a change in the machine's load hits both alike
                for _ in range(args.repeat):
                    ours.append(measure([*cmd, "--out", out]))
                    if baseline and order == "customer order":
                        base.append(
                            measure(
                                [
                                    sys.executable,
                                    "-c",
                                    PANDAS_BASELINE,
                                    str(log),
                                    args.cutoff,
                                    str(Path(tmp) / "p.parquet"),
                                ]
                            )
                        )
                mine = _median(ours)
                print(
                    f"{n:>10,} {rows:>12,} {'toolkit features, ' + order:<28} "
                    f"{mine['seconds']:>8.1f} {gb(mine['peak_rss_bytes']):>10}",
                    flush=True,
                )
                if base:
                    theirs = _median(base)
                    print(
                        f"{n:>10,} {rows:>12,} {'pandas BTYD core':<28} "
                        f"{theirs['seconds']:>8.1f} {gb(theirs['peak_rss_bytes']):>10}"
                    )
                    print(
                        f"{'':>10} {'':>12} {'speed-up (pandas / toolkit)':<28} "
                        f"{theirs['seconds'] / mine['seconds']:>8.2f}x   (medians of "
                        f"{args.repeat}; each run: "
                        + ", ".join(
                            f"{b['seconds'] / o['seconds']:.2f}x"
                            for o, b in zip(ours, base, strict=True)
                        )
                        + ")",
                        flush=True,
                    )


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def _by_date(data: Path) -> Path:
    """The same log in date order (as most exports are): the one-pass route."""
    out = data.with_name(data.stem + "_bydate.parquet")
    if not out.exists():
        import duckdb

        print(f"writing {out} ...", flush=True)
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{data}') ORDER BY invoice_date) "
            f"TO '{out}.tmp' (FORMAT parquet, COMPRESSION zstd)"
        )
        Path(f"{out}.tmp").rename(out)
    return out


if __name__ == "__main__":
    main()
