"""Back-tests: the churn list's order against the money really lost, and the models of
``toolkit train`` fitted at earlier cutoffs and judged on what happened after each.

A list is worth acting on when the customers at its top are the ones whose loss costs most. With
data after the cutoff, the test is direct: among the first ``n`` rows, add up the past spend of
the customers who did not come back in the horizon. ``bench/churnlist.py`` and the real-data
tests compare the list's order with the two naive ones (by churn probability, by past spend).

``toolkit backtest`` (:func:`backtest_transactions`) goes further back: the models of ``toolkit
train`` fitted at several earlier cutoffs, each on the history before it only, and judged on the
horizon after it, with BG/NBD's two calibration pictures at the latest cutoff
(:func:`btyd_pictures`). Everything lands in one JSON-ready summary; the renderers are in
:mod:`toolkit.reports.backtest_report`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit._json import jsonable
from toolkit.btyd import fit_standard
from toolkit.errors import InputError
from toolkit.features import compute_features, data_range, parse_cutoff
from toolkit.io import read_transactions
from toolkit.models.estimators._base import Batch
from toolkit.models.training._evaluate import (
    bootstrap_counts,
    weighted_average_precision,
    weighted_roc_auc,
)
from toolkit.models.training._from_log import train_from_transactions
from toolkit.models.training._value import forecast_metrics

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.btyd import BetaGeoModel
    from toolkit.io import ColumnMapping, Transactions
    from toolkit.models.training._train import TrainResult


def _ignore(_: Any) -> None:
    pass


def spend_before(tx: Transactions, cutoff: str | date, days: int = 365) -> pd.Series:
    """Each customer's spend in the ``days`` before ``cutoff`` (index: customer_id).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("customer_id,date,amount\\na,2023-01-01,10\\na,2024-01-05,20\\n")
    >>> spend_before(read_transactions(p), "2024-02-01").to_dict()
    {'a': 20.0}
    """

    cut = parse_cutoff(cutoff)
    assert cut is not None
    start = cut - timedelta(days=days)
    now = compute_features(tx, cutoff=cut).set_index("customer_id")["lifetime_spend"]
    if start <= data_range(tx)[0]:
        return now.astype("float64")  # the whole history lies in the window
    then = compute_features(tx, cutoff=start).set_index("customer_id")["lifetime_spend"]
    return now.sub(then.reindex(now.index).fillna(0.0)).astype("float64")


def lost_in_first(key: pd.Series, churned: pd.Series, value: pd.Series, n: int = 200) -> float:
    """``value`` summed over the customers among the ``n`` highest ``key`` who churned.

    The three series share an index; ties in ``key`` keep their order.

    Examples
    --------
    >>> import pandas as pd
    >>> key = pd.Series([0.9, 0.8, 0.1]); churned = pd.Series([1, 0, 1])
    >>> lost_in_first(key, churned, pd.Series([5.0, 7.0, 9.0]), n=2)
    5.0
    """
    top = key.sort_values(ascending=False, kind="stable").index[:n]
    return float(value.loc[top][churned.loc[top].astype(bool)].sum())


# --- the back-test a user sees: the same models fitted at earlier cutoffs ----------------------

#: ``toolkit backtest``'s defaults: four cutoffs one horizon apart, 90 days each, a light bootstrap
DEFAULT_CUTOFFS = 4
DEFAULT_HORIZON = 90
DEFAULT_BOOT = 50
#: the by-frequency picture groups calibration frequencies 0, 1, ..., ``MAX_FREQUENCY``+
MAX_FREQUENCY = 6
#: the naive churn ranking, by days since the last purchase (the longest gone first)
NAIVE_CHURN = "days_since_last_purchase"


@dataclass
class BacktestResult:
    """What :func:`backtest_transactions` measured, computed once.

    Attributes
    ----------
    summary : dict
        JSON-ready: the settings, one entry per cutoff (``cutoffs``: churn and value measures
        against what happened, or why the cutoff was skipped), the two BG/NBD pictures at the
        latest cutoff (``btyd``) and the notes. Every renderer reads only this.
    notes : list of str
        What to tell the user (skipped cutoffs, evaluations not out of time).
    """

    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def rows(self) -> pd.DataFrame:
        """One row per cutoff, forecast and metric (``backtest.csv``)."""
        return backtest_rows(self.summary)


def check_backtest_options(cutoffs: int, horizon: int) -> None:
    """Refuse a number of cutoffs below 1 or a horizon that is not a positive number of days.

    Examples
    --------
    >>> check_backtest_options(0, 90)
    Traceback (most recent call last):
    ...
    toolkit.errors.InputError: `cutoffs` must be a whole number of at least 1, got 0
    """
    if isinstance(cutoffs, bool) or not isinstance(cutoffs, int | np.integer) or cutoffs < 1:
        raise InputError(f"`cutoffs` must be a whole number of at least 1, got {cutoffs!r}")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon <= 0:
        raise InputError(f"`horizon` must be a positive whole number of days, got {horizon!r}")


def backtest_cutoffs(
    first: date, last: date, *, cutoffs: int, horizon: int, last_cutoff: str | date | None = None
) -> list[date]:
    """The cutoffs of a back-test, oldest first: D, D - H, D - 2H, ... (``cutoffs`` of them).

    ``D`` defaults to ``last`` + 1 day - ``horizon``, the latest cutoff whose horizon the data
    covers entirely; a ``last_cutoff`` whose horizon runs past the data is refused.

    Examples
    --------
    >>> backtest_cutoffs(date(2011, 1, 1), date(2011, 12, 9), cutoffs=3, horizon=90)
    [datetime.date(2011, 3, 15), datetime.date(2011, 6, 13), datetime.date(2011, 9, 11)]
    """
    check_backtest_options(cutoffs, horizon)
    end = last + timedelta(days=1)  # the day after the last purchase
    latest = parse_cutoff(last_cutoff, "`last_cutoff`") or end - timedelta(days=horizon)
    if latest + timedelta(days=horizon) > end:
        raise InputError(
            f"`last_cutoff` {latest}: its {horizon}-day horizon runs past the data's last day "
            f"{last}; choose {end - timedelta(days=horizon)} or earlier"
        )
    if latest <= first:
        raise InputError(
            f"`horizon` {horizon}: the data ({first} to {last}) is too short for a back-test; "
            f"the latest cutoff with a fully observed horizon, {latest}, has no history before it"
        )
    return [latest - timedelta(days=k * horizon) for k in reversed(range(int(cutoffs)))]


def backtest(
    data: str | os.PathLike[str],
    *,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    on_log: Callable[[Transactions], None] = _ignore,
    **kwargs: Any,
) -> BacktestResult:
    """Read a transaction log and back-test it (:func:`backtest_transactions`, whose keyword
    arguments ``kwargs`` are); ``on_log`` is called with the log once it is read.

    The settings are checked before the file is read:

    Examples
    --------
    >>> backtest("sales.csv", cutoffs=0)
    Traceback (most recent call last):
    ...
    toolkit.errors.InputError: `cutoffs` must be a whole number of at least 1, got 0
    """
    check_backtest_options(
        kwargs.get("cutoffs", DEFAULT_CUTOFFS), kwargs.get("horizon", DEFAULT_HORIZON)
    )
    tx = read_transactions(data, mapping=mapping, date_format=date_format, sep=sep, names=names)
    try:
        on_log(tx)
        return backtest_transactions(tx, **kwargs)
    finally:
        tx.close()


def backtest_transactions(
    tx: Transactions,
    *,
    cutoffs: int = DEFAULT_CUTOFFS,
    horizon: int = DEFAULT_HORIZON,
    last_cutoff: str | date | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOT,
    progress: Callable[[str], None] = _ignore,
) -> BacktestResult:
    """Fit the models of ``toolkit train`` at earlier cutoffs and judge them on what happened.

    At each cutoff of :func:`backtest_cutoffs`,
    :func:`~toolkit.models.training._from_log.train_from_transactions` sees only the history
    before it; its champion's churn probability is then set against "did not buy in [cutoff,
    cutoff + horizon)" (ROC-AUC, PR-AUC, with bootstrap intervals), beside the naive ranking by
    days since the last purchase, and every value forecast against the real net spend there
    (normalised Gini, total forecast / total real). A cutoff without enough history is skipped,
    with the reason. At the latest cutoff, the two BG/NBD pictures (:func:`btyd_pictures`).

    Parameters
    ----------
    tx : Transactions
        From :func:`toolkit.io.read_transactions`.
    cutoffs : int
        How many cutoffs, one ``horizon`` apart (default 4).
    horizon : int
        Days after each cutoff in which "bought again" counts (default 90).
    last_cutoff : date or str, optional
        The latest cutoff; default the last day of data + 1 - ``horizon``.
    n_boot : int
        Bootstrap resamples, for the fits' evaluation and the intervals here.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.datasets import generate_transactions
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> _ = generate_transactions(1500, seed=2, out=p)
    >>> bt = backtest_transactions(read_transactions(p), cutoffs=1, n_boot=10)
    >>> [c["status"] for c in bt.summary["cutoffs"]], sorted(bt.summary["btyd"])
    (['ok'], ['by_frequency', 'cumulative', 'cutoff', 'horizon', 'params'])
    """
    first, last = data_range(tx)
    dates = backtest_cutoffs(first, last, cutoffs=cutoffs, horizon=horizon, last_cutoff=last_cutoff)
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, cut in enumerate(dates, start=1):
        progress(f"cutoff {cut} ({i} of {len(dates)}): training")
        try:
            res = train_from_transactions(tx, cutoff=cut, horizon=horizon, seed=seed, n_boot=n_boot)
        except InputError as exc:
            # the reason names train's options (`cutoff`); here the cutoff is the back-test's
            reason = str(exc).replace("`", "")
            notes.append(f"Cutoff {cut} skipped: {reason}")
            results.append({"cutoff": str(cut), "status": "skipped", "reason": reason})
            continue
        progress(f"cutoff {cut} ({i} of {len(dates)}): judging on what happened")
        truth = compute_features(tx, cutoff=cut, horizon=horizon)
        results.append(_judge_cutoff(res, truth, cut, horizon, seed=seed, n_boot=n_boot))
        notes += _fit_notes(res, cut)
    done = [date.fromisoformat(r["cutoff"]) for r in results if r["status"] == "ok"]
    if not done:
        raise InputError(
            f"`horizon` {horizon}: the data ({first} to {last}) has too little history before "
            f"every cutoff ({', '.join(map(str, dates))}) to train the models; "
            + (results[-1].get("reason") or "")
        )
    progress(f"the BG/NBD pictures at {done[-1]}")
    pictures = btyd_pictures(purchase_days(tx, done[-1] + timedelta(days=horizon)), done[-1],
                             horizon)  # fmt: skip
    summary = {
        "source": tx.source,
        "data_first_day": str(first),
        "data_last_day": str(last),
        "horizon": int(horizon),
        "n_cutoffs": len(dates),
        "seed": int(seed),
        "n_boot": int(n_boot),
        "cutoffs": results,
        "overall": _overall(results),
        "btyd": pictures,
        "notes": notes,
    }
    return BacktestResult(summary=jsonable(summary), notes=notes)


def _fit_notes(res: TrainResult, cut: date) -> list[str]:
    """What the user must know of one cutoff's fit (its other notes stay in its entry): a
    champion chosen without out-of-time evaluation, a horizon longer than the labels reach."""
    out = []
    long = res.settings.long_horizon
    if long:
        out.append(
            f"At {cut}: the history gives labels for {long['label_days']} days only; the "
            f"champion is BG/NBD at the asked horizon (no labels needed), as in toolkit train."
        )
    elif not (res.settings.evaluation or {}).get("out_of_time", False):
        out.append(
            f"At {cut}: too little history for the fit to choose its champion out of time (it "
            "was chosen on held-out customers); the back-test after the cutoff is out of time."
        )
    return out


def _churn_measures(
    churned: np.ndarray, scores: dict[str, np.ndarray], *, seed: int, n_boot: int
) -> dict[str, dict[str, dict[str, float]]]:
    """ROC-AUC and PR-AUC of each churn score, with 95 % bootstrap intervals (the same
    resamples for every score)."""
    y = churned.astype(np.float64)
    one = np.ones((1, len(y)))
    boot: dict[str, dict[str, list[np.ndarray]]] = {
        k: {"roc_auc": [], "pr_auc": []} for k in scores
    }
    if 0 < y.sum() < len(y):
        for W in bootstrap_counts(len(y), n_boot, seed):
            for k, p in scores.items():
                boot[k]["roc_auc"].append(weighted_roc_auc(W, y, p))
                boot[k]["pr_auc"].append(weighted_average_precision(W, y, p))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for k, p in scores.items():
        point = {
            "roc_auc": float(weighted_roc_auc(one, y, p)[0]),
            "pr_auc": float(weighted_average_precision(one, y, p)[0]),
        }
        out[k] = {}
        for m, v in point.items():
            samples = np.concatenate(boot[k][m]) if boot[k][m] else np.array([])
            samples = samples[np.isfinite(samples)]
            low, high = np.percentile(samples, [2.5, 97.5]) if samples.size else (np.nan, np.nan)
            out[k][m] = {"value": v, "ci_low": float(low), "ci_high": float(high)}
    return out


def _judge_cutoff(
    res: TrainResult, truth: pd.DataFrame, cut: date, horizon: int, *, seed: int, n_boot: int
) -> dict[str, Any]:
    """One cutoff's forecasts against what happened in [cut, cut + horizon)."""
    truth = truth.reset_index(drop=True)
    churned = 1 - truth["repeat_purchase"].to_numpy(dtype=np.int64, na_value=0)
    batch = Batch(truth, res.schema)
    scores = {name: 1.0 - s.predict_proba(batch) for name, s in res.scorers.items()}
    scores[NAIVE_CHURN] = truth["recency_days"].to_numpy(dtype=np.float64)
    churn = _churn_measures(churned, scores, seed=seed, n_boot=n_boot)
    value: dict[str, Any] = {}
    if res.value_forecasts is not None:
        got = res.value_forecasts
        real = (
            got[["customer_id"]]
            .merge(truth[["customer_id", "holdout_spend"]], on="customer_id", how="left")[
                "holdout_spend"
            ]
            .to_numpy(dtype=np.float64, na_value=0.0)
        )
        real = np.nan_to_num(real, nan=0.0)
        forecasts = {
            c: got[c].to_numpy(dtype=np.float64) for c in got.columns if c != "customer_id"
        }
        comparison = res.value_comparison or {}
        value = {
            "used": comparison.get("used", res.value_model.get("kind")),
            "chosen_out_of_time": comparison.get("champion"),
            "candidates": forecast_metrics(real, forecasts, n_boot=n_boot, seed=seed),
        }
    return {
        "cutoff": str(cut),
        "status": "ok",
        "horizon_end": str(cut + timedelta(days=horizon - 1)),
        "customers": int(len(truth)),
        "churn_rate": float(churned.mean()) if len(churned) else None,
        "champion": res.champion,
        "out_of_time": bool((res.settings.evaluation or {}).get("out_of_time", False)),
        "churn": churn,
        "value": value,
        "notes": list(res.notes),
    }


def _overall(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over the cutoffs that ran: the champion's and the naive ROC-AUC, the used value's
    Gini and total ratio."""
    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        return {}

    def mean(values: list[float | None]) -> float | None:
        v = [x for x in values if x is not None and np.isfinite(x)]
        return float(np.mean(v)) if v else None

    def used(r: dict[str, Any], metric: str) -> float | None:
        c = r["value"].get("candidates", {}).get(r["value"].get("used"), {})
        return c.get(metric, {}).get("value")

    return {
        "cutoffs_run": len(ok),
        "champion_roc_auc": mean([r["churn"][r["champion"]]["roc_auc"]["value"] for r in ok]),
        "naive_roc_auc": mean([r["churn"][NAIVE_CHURN]["roc_auc"]["value"] for r in ok]),
        "champion_pr_auc": mean([r["churn"][r["champion"]]["pr_auc"]["value"] for r in ok]),
        "naive_pr_auc": mean([r["churn"][NAIVE_CHURN]["pr_auc"]["value"] for r in ok]),
        "value_gini": mean([used(r, "normalised_gini") for r in ok]),
        "value_total_ratio": mean([used(r, "total_ratio") for r in ok]),
    }


def backtest_rows(summary: dict[str, Any]) -> pd.DataFrame:
    """The back-test as a long table: one row per cutoff, forecast and metric.

    Columns: ``cutoff``, ``status``, ``customers``, ``churn_rate``, ``task`` (churn / value),
    ``forecast``, ``role`` (champion, model, naive; used, candidate), ``metric``, ``value``,
    ``ci_low``, ``ci_high``. A skipped cutoff is one row with its reason in ``forecast``.

    Examples
    --------
    >>> backtest_rows({"cutoffs": [{"cutoff": "2011-01-01", "status": "skipped",
    ...                             "reason": "too short"}]})[["cutoff", "status"]].values.tolist()
    [['2011-01-01', 'skipped']]
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for r in summary["cutoffs"]:
        base = {
            "cutoff": r["cutoff"],
            "status": r["status"],
            "customers": r.get("customers"),
            "churn_rate": r.get("churn_rate"),
        }
        if r["status"] != "ok":
            rows.append({**base, "task": None, "forecast": r.get("reason"), "role": None})
            continue
        for name, measures in r["churn"].items():
            role = (
                "champion" if name == r["champion"] else "naive" if name == NAIVE_CHURN else "model"
            )
            for metric, m in measures.items():
                rows.append({**base, "task": "churn", "forecast": name, "role": role,
                             "metric": metric, **m})  # fmt: skip
        value = r.get("value") or {}
        for name, c in value.get("candidates", {}).items():
            role = "used" if name == value.get("used") else "candidate"
            for metric in ("normalised_gini", "total_ratio", "spearman"):
                rows.append({**base, "task": "value", "forecast": name, "role": role,
                             "metric": metric, **c[metric]})  # fmt: skip
    columns = ["cutoff", "status", "customers", "churn_rate", "task", "forecast", "role",
               "metric", "value", "ci_low", "ci_high"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


# --- the two BG/NBD pictures of lifetimes ------------------------------------------------------


def purchase_days(tx: Transactions, end: date) -> pd.DataFrame:
    """Each customer's distinct purchase days before ``end`` (columns ``customer_id``, ``day``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("customer_id,date,amount\\na,2024-01-01,10\\na,2024-01-01,5\\n"
    ...                  "a,2024-01-04,20\\n")
    >>> purchase_days(read_transactions(p), date(2024, 2, 1))["day"].dt.day.tolist()
    [1, 4]
    """
    import pandas as pd

    df = tx.con.execute(
        "SELECT customer_id, CAST(timestamp AS DATE) AS day FROM purchases "
        "WHERE timestamp < CAST(? AS TIMESTAMP) GROUP BY ALL ORDER BY customer_id, day",
        [end.isoformat()],
    ).df()
    df["customer_id"] = df["customer_id"].astype("string")
    df["day"] = pd.to_datetime(df["day"]).dt.normalize()
    return df


def btyd_pictures(
    days: pd.DataFrame,
    cutoff: date,
    horizon: int,
    model: BetaGeoModel | None = None,
    *,
    max_frequency: int = MAX_FREQUENCY,
) -> dict[str, Any]:
    """The two BG/NBD pictures of lifetimes at ``cutoff``, forecast against real, JSON-ready.

    The customers are those who bought before ``cutoff`` (the calibration cohort, the ones the
    model is fitted on); a purchase is a purchase day, the repeat purchases all days after a
    customer's first (BTYD's frequency).

    - ``by_frequency`` (lifetimes' ``plot_calibration_purchases_vs_holdout_purchases``): for each
      number of repeat purchases before the cutoff, 0, 1, ..., ``max_frequency``+, the customers,
      their mean purchase days in [cutoff, cutoff + horizon) and BG/NBD's mean expected purchases
      there given each one's history;
    - ``cumulative`` (``plot_cumulative_transactions``): day by day from the first purchase to
      the horizon's last day, the real cumulative repeat purchase days and the forecast, the sum
      over customers of the purchases BG/NBD expects of a new customer by their age that day
      (``expected_purchases_new``); a customer born on day b has age d - b at the end of day d.

    Parameters
    ----------
    days : DataFrame
        ``customer_id`` and ``day`` (distinct purchase days), e.g. :func:`purchase_days`.
    model : BetaGeoModel, optional
        Default: the toolkit's standard fit (:func:`toolkit.btyd.fit_standard`) on the
        calibration cohort's frequency, recency and T in days.

    Examples
    --------
    Two customers; a bought on days 1, 3 and 6, b on day 2 (cutoff day 5, horizon 3 days):

    >>> import pandas as pd
    >>> d = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                   "day": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-06",
    ...                                          "2024-01-02"])})
    >>> p = btyd_pictures(d, date(2024, 1, 5), 3)
    >>> [(r["frequency"], r["customers"], r["mean_real"]) for r in p["by_frequency"][:2]]
    [('0', 1, 0.0), ('1', 1, 1.0)]
    >>> p["cumulative"]["real"]
    [0, 0, 1, 1, 1, 2, 2]
    """
    import pandas as pd

    cut = pd.Timestamp(cutoff)
    end = cut + pd.Timedelta(days=horizon)
    days = days[days["day"] < end]
    first_day = days.groupby("customer_id")["day"].transform("min")
    days = days[first_day < cut].assign(first=first_day[first_day < cut])
    calib = days[days["day"] < cut]
    per = calib.groupby("customer_id").agg(first=("first", "min"), last=("day", "max"),
                                            n=("day", "size"))  # fmt: skip
    per["x"] = (per["n"] - 1).astype(np.float64)
    per["t_x"] = (per["last"] - per["first"]).dt.days.astype(np.float64)
    per["T"] = ((cut - pd.Timedelta(days=1)) - per["first"]).dt.days.astype(np.float64)
    holdout = days[days["day"] >= cut].groupby("customer_id").size()
    per["holdout"] = holdout.reindex(per.index).fillna(0).astype(np.float64)
    notes: list[str] = []
    if model is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = fit_standard(per["x"], per["t_x"], per["T"])
        notes += [str(w.message) for w in caught]
    per["forecast"] = model.expected_purchases(float(horizon), per["x"], per["t_x"], per["T"])
    group = per["x"].clip(upper=max_frequency).astype(int)
    by_frequency = [
        {
            "frequency": f"{k}+" if k == max_frequency else str(k),
            "customers": int(len(g)),
            "mean_real": float(g["holdout"].mean()),
            "mean_forecast": float(g["forecast"].mean()),
        }
        for k, g in per.groupby(group)
    ]
    # the cumulative curve: births per day convolved with a new customer's expected purchases
    start = per["first"].min()
    n_days = int((end - start).days)
    birth = (per["first"] - start).dt.days.to_numpy()
    births = np.bincount(birth, minlength=n_days).astype(np.float64)
    expected_new = model.expected_purchases_new(np.arange(n_days, dtype=np.float64))
    forecast = np.convolve(births, expected_new)[:n_days]
    repeat = days[days["day"] > days["first"]]
    per_day = np.bincount((repeat["day"] - start).dt.days.to_numpy(), minlength=n_days)
    real = np.cumsum(per_day[:n_days])
    return {
        "cutoff": str(cutoff),
        "horizon": int(horizon),
        "params": {**{k: float(v) for k, v in model.params_.items()}, "notes": notes},
        "by_frequency": by_frequency,
        "cumulative": {
            "start": str(start.date()),
            "cutoff_index": int((cut - start).days),
            "days": [str((start + pd.Timedelta(days=i)).date()) for i in range(n_days)],
            "forecast": [float(v) for v in forecast],
            "real": [int(v) for v in real],
            "customers": int(len(per)),
        },
    }
