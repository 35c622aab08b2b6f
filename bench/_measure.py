"""Shared by the benchmarks: run a command in a fresh process, return wall seconds and peak RSS.

Each measurement runs in its own wrapper process so that ``RUSAGE_CHILDREN`` reports the peak of
that one command only.
"""

from __future__ import annotations

import json
import subprocess
import sys

_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": rc, "seconds": wall, "peak_rss_bytes": rss}))
"""


def measure(argv: list[str]) -> dict[str, float]:
    """Run ``argv``; return {'seconds', 'peak_rss_bytes', 'rc'}. Raises if it fails."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, check=False
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"measurement of {argv} failed:\n{out.stdout}\n{out.stderr}")
    result = json.loads(lines[-1])
    if result["rc"] != 0:
        raise RuntimeError(f"{argv} exited with {result['rc']}:\n{out.stderr[-2000:]}")
    return result


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"
