"""Every command the README shows runs as written, on small stand-in data.

The command lines come from the README itself (``tests/readme.py``); each file they name is
replaced by a small file of the same shape (same columns, same format, same dates), and
``--customers N`` is capped so that the whole README runs in seconds. The newcomer's set-up
(``make``, activating the venv, opening the report) runs in CI, on a clean clone (``.ci/run``).
"""

from __future__ import annotations

import gzip
import re
import shlex

import numpy as np
import pandas as pd
import pytest

from tests.readme import NEWCOMER_SECTIONS, commands, is_synopsis, newcomer_script

#: commands not run here, and where they are run instead
ELSEWHERE = {
    "make ": "the set-up: .ci/run follows it on a clean clone",
    "source ": "the set-up: .ci/run follows it on a clean clone",
    ".venv/bin/toolkit": "the set-up: .ci/run follows it on a clean clone",
    "python -m webbrowser": "opens a browser: .ci/run runs it; the browser test opens the report",
    "python bench/": "benchmarks of minutes on millions of rows, run by hand",
}
#: sections whose commands other tests run, and why not here
SECTIONS_ELSEWHERE = {
    "Scaling out on Dask": "a Dask cluster (the lines name one at tcp://10.0.0.5); "
    "tests/test_engines_dask.py runs the same commands on a LocalCluster",
}
MAX_CUSTOMERS = 150


def _online_retail(path):
    """UCI Online Retail's columns and period, with CustomerIDs from 12346 on."""
    from toolkit.datasets import generate_transactions

    tx, _ = generate_transactions(450, seed=7, start="2010-12-01", end="2011-12-09")
    ids = {c: str(12346 + i) for i, c in enumerate(sorted(tx["customer_id"].unique()))}
    df = pd.DataFrame(
        {
            "InvoiceNo": tx["invoice_no"],
            "StockCode": tx["stock_code"],
            "Quantity": tx["quantity"],
            "InvoiceDate": pd.to_datetime(tx["invoice_date"]).dt.strftime("%m/%d/%Y %H:%M"),
            "UnitPrice": tx["unit_price"],
            "CustomerID": tx["customer_id"].map(ids),
            "Country": "United Kingdom",
        }
    )
    with gzip.open(path, "wt") as fh:
        df.to_csv(fh, index=False)


def _cdnow(path):
    """CDNOW's whitespace-aligned lines without a header: id, sample id, date, quantity, amount."""
    rng = np.random.default_rng(3)
    rows = []
    for c in range(1, 121):
        days = np.sort(rng.choice(540, size=rng.integers(1, 6), replace=False))
        for d in days:
            date = pd.Timestamp("1997-01-01") + pd.Timedelta(days=int(d))
            rows.append(
                f" {c:05d} {c:04d} {date:%Y%m%d} {rng.integers(1, 4):>2d} {rng.gamma(2, 15):>7.2f}"
            )
    path.write_text("\n".join(rows) + "\n")


def _cdnow_summary(path):
    rng = np.random.default_rng(4)
    n = 300
    T = np.full(n, 38.86)
    frequency = rng.poisson(1.5, n)
    recency = np.where(frequency > 0, rng.uniform(0, 1, n) * T, 0).round(2)
    pd.DataFrame(
        {"ID": range(1, n + 1), "frequency": frequency, "recency": recency, "T": T}
    ).to_csv(path, index=False)


def _cdnow_spend(path):
    """The summary with spend: x, t_x, T and zbar (the mean repeat spend), CRLF line ends."""
    rng = np.random.default_rng(5)
    n = 300
    T = np.full(n, 38.86)
    x = rng.poisson(1.5, n)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0).round(2)
    zbar = np.where(x > 0, rng.gamma(6.0, 1 / rng.gamma(3.7, 1 / 15.4, n)) / 6.0, 0).round(2)
    frame = pd.DataFrame({"ID": range(1, n + 1), "x": x, "t_x": t_x, "T": T, "zbar": zbar})
    frame.to_csv(path, index=False, lineterminator="\r\n")


def _mall(path, n=120, seed=5):
    rng = np.random.default_rng(seed)
    income = rng.integers(15, 140, n)
    pd.DataFrame(
        {
            "CustomerID": [f"{i:04d}" for i in range(1, n + 1)],
            "Genre": rng.choice(["Male", "Female"], n),
            "Age": rng.integers(18, 70, n),
            "Annual Income (k$)": income,
            "Spending Score (1-100)": np.clip(
                np.where(rng.random(n) < 0.5, 80, 20) + rng.integers(-15, 15, n), 1, 100
            ),
        }
    ).to_csv(path, index=False)


def _demo_log(path):
    from toolkit.datasets import generate_transactions

    path.parent.mkdir(parents=True, exist_ok=True)
    generate_transactions(300, seed=1, out=path)


STAND_INS = {
    "online_retail.csv.gz": _online_retail,
    "CDNOW_sample.txt": _cdnow,
    "cdnow_customers_summary.csv": _cdnow_summary,
    "cdnow_customers_summary_with_transactions.csv": _cdnow_spend,
    "Mall_Customers.csv": _mall,
    "new_customers.csv": lambda p: _mall(p, n=40, seed=6),
    "demo-output/data/transactions.parquet": _demo_log,
}


def _small(args):
    """``--customers N`` capped at MAX_CUSTOMERS: the command as written, on less data."""
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a == "--customers" and out[i + 1].isdigit():
            out[i + 1] = str(min(int(out[i + 1]), MAX_CUSTOMERS))
    return out


def test_every_command_in_the_readme_is_run_somewhere():
    unplaced = [
        f"line {c.line}: {c.text}"
        for c in commands()
        if not c.text.startswith("toolkit ")
        and not any(c.text.startswith(k) for k in ELSEWHERE)
        and c.section not in SECTIONS_ELSEWHERE
    ]
    assert unplaced == []


def test_the_newcomer_path_is_set_up_then_toolkit_then_your_own_data():
    script = newcomer_script()
    assert script.index("make demo") < script.index("source .venv/bin/activate")
    assert script.index("source .venv/bin/activate") < script.index("toolkit validate")
    assert re.search(r"toolkit validate .*\ntoolkit run .*\npython -m webbrowser", script)


@pytest.mark.slow
def test_every_toolkit_command_in_the_readme_runs_as_written(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, make in STAND_INS.items():
        make(tmp_path / name)
    ran = []
    for c in commands():
        if not c.text.startswith("toolkit ") or is_synopsis(c.text):
            continue
        if c.section in SECTIONS_ELSEWHERE:
            continue
        args = _small(shlex.split(c.text, comments=True))[1:]
        result = cli(*args)
        assert result.exit_code == 0, f"README line {c.line}: {c.text}\n{result.output}"
        ran.append(c.section)
    # the newcomer's own-data commands and the reference's commands both ran
    assert set(NEWCOMER_SECTIONS) & set(ran)
    assert len(ran) >= 15
    assert (tmp_path / "my-run" / "report.html").exists()


def test_help_lists_every_command_with_its_whole_first_sentence(cli):
    from toolkit.cli import app

    result = cli("--help")
    assert result.exit_code == 0
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    listed = result.output.split("Commands:")[1]
    # click cuts each at 45 characters and ends it with "..."
    assert not [ln for ln in listed.splitlines() if ln.rstrip().endswith(("...", "…"))]
    assert all(f"  {name} " in listed for name in names)
