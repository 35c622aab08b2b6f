"""What ``toolkit run`` needs besides the steps themselves: read once, check first, reuse.

- :func:`read_once`: a slow format (Excel, whitespace-aligned text) is read once per run into a
  Parquet copy of its text columns, which every step then scans in place; the copy is kept in
  ``DIR/.toolkit-cache/`` for the next run.
- :func:`preflight`: what every step needs, checked on the validation report before the first
  output is written; a problem that stops the whole run names the input file and the fix, a
  step that cannot run on this data gets a reason and is skipped.
- :class:`StepCache`: each step's key (the input's fingerprint, the options that step uses, the
  keys of the steps it reads from); a second identical run reuses every output whose key has not
  changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from toolkit._version import __version__
from toolkit.errors import InputError

CACHE_DIR = ".toolkit-cache"
#: formats read into memory by pandas (see toolkit.io._read): everything else DuckDB scans fast
SLOW_KINDS = ("excel", "whitespace")


def fingerprint(path: Path | None) -> str | None:
    """The input's identity for the cache (None for no input): the SHA-256 of a file's content;
    of the files' paths, sizes and modification times for a directory or glob of Parquet files
    (a log too large to read twice); of the names, sizes and ETags of object-storage files."""
    if path is None:
        return None
    from toolkit._digest import sha256_file
    from toolkit.io._read import parquet_files
    from toolkit.io._remote import as_url, remote_fingerprint

    if as_url(path) is not None:  # object storage: the files' names, sizes and ETags, unread
        return remote_fingerprint(path)
    files = parquet_files(path)
    if files is not None:
        stats = [(f, f.stat()) for f in files]
        listing = "\n".join(f"{f}\t{s.st_size}\t{s.st_mtime_ns}" for f, s in stats)
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()
    return sha256_file(path)


def step_key(name: str, **parts: Any) -> str:
    """A short hash of everything a step's outputs depend on (and of toolkit's version).

    Examples
    --------
    >>> step_key("clv", horizon=90) == step_key("clv", horizon=90)
    True
    >>> step_key("clv", horizon=90) == step_key("clv", horizon=91)
    False
    """
    blob = json.dumps([name, __version__, parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class StepCache:
    """The keys of the steps whose outputs in ``out`` are complete (``.toolkit-cache/steps.json``).

    A step's key is dropped before it runs and written only once it has finished, so an
    interrupted or failed step is never taken for a finished one.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / CACHE_DIR / "steps.json"
        try:
            self.keys: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.keys = {}

    def fresh(self, name: str, key: str, outputs: list[str]) -> bool:
        """True when ``name`` last ran with ``key`` and its outputs are all still there."""
        return self.keys.get(name) == key and all((self.out / o).exists() for o in outputs)

    def begin(self, name: str) -> None:
        if self.keys.pop(name, None) is not None:
            self._save()

    def done(self, name: str, key: str) -> None:
        self.keys[name] = key
        self._save()

    def _save(self) -> None:
        from toolkit.io import write_atomic

        with write_atomic(self.path) as tmp:
            tmp.write_text(json.dumps(self.keys, indent=1, sort_keys=True))


@dataclass
class Source:
    """The file every step reads, and the column options to read it with."""

    path: Path
    read_kwargs: dict[str, Any]
    #: the Parquet copy of a slow format, still in the temporary directory (moved by :meth:`keep`)
    pending: Path | None = None
    kind: str = ""
    notes: list[str] = field(default_factory=list)

    def keep(self, out: Path, key: str) -> None:
        """Move a fresh Parquet copy into ``out/.toolkit-cache`` (after the checks passed)."""
        if self.pending is None:
            return
        target = out / CACHE_DIR / f"input-{key}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob("input-*.parquet"):
            old.unlink()
        shutil.move(str(self.pending), target)
        shutil.rmtree(self.pending.parent, ignore_errors=True)
        self.path, self.pending = target, None

    def discard(self) -> None:
        if self.pending is not None:
            shutil.rmtree(self.pending.parent, ignore_errors=True)
            self.pending = None


def read_once(data: Path, read_kwargs: dict[str, Any], out: Path, key: str) -> Source:
    """The file the steps should read: ``data`` itself, or a Parquet copy of a slow format.

    Excel and whitespace-aligned text are read by pandas, in memory, by every command that opens
    them; the pipeline reads them once, writes their columns as text (exactly as the reader hands
    them to DuckDB, so dates, ids and numbers are typed the same way afterwards) and lets every
    step scan that copy. A copy made by an earlier run with the same input and options is reused.
    """
    from toolkit.io import connect
    from toolkit.io._read import file_kind, open_raw

    cached = out / CACHE_DIR / f"input-{key}.parquet"
    plain = {**read_kwargs, "sep": None, "names": None}
    if cached.exists():
        return Source(cached, plain, kind="cached")
    kind = file_kind(data)
    if kind not in ("excel", "text"):
        return Source(data, read_kwargs, kind=kind)
    con = connect()
    try:
        raw = open_raw(con, data, sep=read_kwargs.get("sep"), names=read_kwargs.get("names"))
        try:
            # a text file in another encoding is transcoded to a UTF-8 copy by every reader:
            # as slow, in a run, as a format pandas reads
            if raw.kind not in SLOW_KINDS and raw.encoding == "utf-8":
                return Source(data, read_kwargs, kind=raw.kind)
            tmpdir = Path(tempfile.mkdtemp(prefix="toolkit-run-"))
            copy = tmpdir / "input.parquet"
            con.execute(f"COPY raw TO '{str(copy).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")
            kind = raw.kind if raw.encoding == "utf-8" else f"{raw.kind}, {raw.encoding}"
            return Source(copy, plain, pending=copy, kind=kind, notes=list(raw.notes))
        finally:
            raw.close()
    finally:
        con.close()


# --- checks before the first write ---------------------------------------------------------------


@dataclass
class Plan:
    """What the run will do: the steps to skip and why (the rest run)."""

    skip: dict[str, str] = field(default_factory=dict)
    models: str = ""
    notes: list[str] = field(default_factory=list)


def preflight(
    data: Path,
    validation: dict[str, Any],
    *,
    cutoff: str | None,
    horizon: int,
    models: str,
    customers_table: Path | None = None,
    target: str | None = None,
    positive: str | None = None,
    read_kwargs: dict[str, Any] | None = None,
    source: Path | None = None,
) -> Plan:
    """Check what every step needs on the validation report, before anything is written.

    Raises :class:`InputError` naming ``data`` (not an intermediate file) and saying what to do
    when no useful run is possible; returns the steps to skip, with their reasons, otherwise.
    """
    from toolkit.features import parse_cutoff
    from toolkit.models.training._from_log import MIN_LABEL_DAYS, longest_label_horizon
    from toolkit.models.training._train import MIN_HISTORY_DAYS, origin_dates

    plan = Plan(models=models)
    if (target is None) != (positive is None):
        raise InputError(
            "--target and --positive go together: give both (e.g. --target Churn --positive Yes) "
            "or neither"
        )
    if validation.get("kind") != "customer_table" and target is not None:
        raise InputError(
            f"--target applies to a customer table; {data} is a transaction log, whose churn "
            "label is computed from the purchases after the cutoff (leave --target out)"
        )
    if validation.get("kind") == "customer_table":
        given = [
            opt
            for opt, value in (("--cutoff", cutoff), ("--customers-table", customers_table))
            if value is not None
        ]
        if given:
            raise InputError(
                f"{data} is a customer table (one row per customer, no date column): "
                f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to a "
                "transaction log (name its date column with --date-col)"
            )
        plan.skip = {
            "clv": f"{data} is a customer table (one row per customer, no purchase dates): "
            "BG/NBD and CLV need each customer's purchase history",
        }
        if target is None:
            plan.skip["train"] = (
                "churn models learn from purchase histories or a churn column; this run has "
                "neither (for a table with a churn column, give it with --target COL "
                "--positive VALUE)"
            )
            plan.skip["predict"] = "no churn models (see train)"
        else:
            _check_target(
                data, source or data, validation, target, str(positive), read_kwargs or {}
            )
        return plan
    first = _day(validation.get("purchase_first_date") or validation.get("first_date"))
    last = _day(validation.get("purchase_last_date") or validation.get("last_date"))
    if first is None or last is None:
        raise InputError(
            f"{data}: no purchase with a readable date (see `toolkit validate {data}`)"
        )
    cut = parse_cutoff(cutoff) or last + timedelta(days=1)
    if not first < cut <= last + timedelta(days=1):
        raise InputError(
            f"--cutoff {cut} leaves no data: {data} has purchases from {first} to {last}; "
            f"choose a date after {first} and at most {last + timedelta(days=1)} (or leave "
            "--cutoff out: the day after the last purchase)"
        )
    days = validation.get("purchase_days")
    if (cut - first).days < 2 or days == 1:
        raise InputError(
            f"{data} covers a single day ({first}): there is no observation period in which "
            "customers could come back, so no recency, repeat purchases, segments by behaviour, "
            f"CLV or churn model can be computed; give a log of several months (the churn models "
            f"need --horizon {horizon} days plus {MIN_HISTORY_DAYS} days of history before the "
            "cutoff)"
        )
    label_days, _ = longest_label_horizon(cut, first)
    if not origin_dates(cut, horizon, first) and label_days < MIN_LABEL_DAYS:
        # (a horizon longer than the labels allow is still trained: BG/NBD scores it and the
        # other models learn at the longest horizon with labels; only too little history stops it)
        reason = (
            f"the churn models need labels: at least {MIN_HISTORY_DAYS + MIN_LABEL_DAYS} days "
            f"of history before --cutoff {cut} ({MIN_HISTORY_DAYS} before a label window of "
            f"{MIN_LABEL_DAYS} days or more), and {data} starts on {first}, "
            f"{(cut - first).days} days before it: give a longer log or a later --cutoff"
        )
        plan.skip["train"] = reason
        plan.skip["predict"] = "no churn models (see train)"
    return plan


def _check_target(
    data: Path,
    source: Path,
    validation: dict[str, Any],
    target: str,
    positive: str,
    read_kwargs: dict[str, Any],
) -> None:
    """``--target`` names a column of the table and ``--positive`` one of its values (the
    table read from ``source``: the file itself, or the run's copy of a slow format)."""
    import difflib

    from toolkit.io import read_table

    columns = list(validation.get("columns", {}))
    if target not in columns:
        close = difflib.get_close_matches(target, columns, n=1, cutoff=0.6)
        raise InputError(
            f"--target {target!r} is not a column of {data}; its columns are "
            + ", ".join(map(repr, columns))
            + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    table = read_table(source, sep=read_kwargs.get("sep"), names=read_kwargs.get("names"))
    values = sorted({str(v) for v in table[target].dropna().unique()})
    if positive not in values:
        raise InputError(
            f"--positive {positive!r} is not a value of --target {target!r} in {data}; its values "
            f"are {', '.join(map(repr, values[:10]))}" + (" ..." if len(values) > 10 else "")
        )


def btyd_check(features_file: Path, horizon: int | None = None) -> str | None:
    """Why BG/NBD / CLV cannot be fitted on these features (None when it can); with a
    ``horizon`` (days), also why customers cannot be valued over it: too short a history or
    too few repeat customers (:func:`toolkit._history.too_short_to_value`)."""
    import pandas as pd

    from toolkit._history import too_short_to_value

    try:
        f = pd.read_parquet(features_file, columns=["frequency", "T"])
    except (KeyError, ValueError, OSError):
        return "the features have no BTYD summary (frequency, T)"
    if len(f) == 0 or not (f["T"] > 0).any():
        return "every customer's history is a single day (T = 0): no purchase rate to fit"
    if not (f["frequency"] > 0).any():
        return (
            "no customer bought on more than one day before the cutoff: BG/NBD needs repeat "
            "customers to tell how often people buy and when they stop"
        )
    if horizon is None:
        return None
    # T (days) is the age at the end of the calibration period: (cutoff - 1 day) - first purchase
    history = int(f["T"].max()) + 1
    return too_short_to_value(history, horizon, int((f["frequency"] > 0).sum()))


def _day(value: Any) -> date | None:
    if value is None:
        return None
    return date.fromisoformat(str(value)[:10])


def table_summary(data: Path, read_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The data section of a customer table: rows, columns and their missing values."""
    from toolkit.io import find_id_column, read_table

    table = read_table(data, sep=read_kwargs.get("sep"), names=read_kwargs.get("names"))
    mapping = read_kwargs.get("mapping")
    id_col = getattr(mapping, "customer", None) or find_id_column(list(table.columns))
    missing = {str(c): int(n) for c, n in table.isna().sum().items() if n}
    return {
        "kind": "customer_table",
        "source": str(data),
        "rows": int(len(table)),
        "customers": int(table[id_col].nunique()) if id_col in table else None,
        "id_column": id_col,
        "columns": {str(c): str(t) for c, t in table.dtypes.items()},
        "missing": missing,
        "problems": [
            {
                "code": "missing_values",
                "description": f"missing values in {c!r}",
                "treatment": "imputed by the segmentation (median / most frequent)",
                "count": n,
            }
            for c, n in missing.items()
        ],
    }


def remove_stale(out: Path, outputs: list[str]) -> None:
    """Remove a skipped step's outputs left by an earlier run (they describe other data)."""
    for name in outputs:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            os.unlink(p)
