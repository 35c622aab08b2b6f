"""Scorers without a supervised fit: BG/NBD, the two naive rules, and the ensemble of two models.

- ``bgnbd_expected``: the same BG/NBD fit ordering customers by expected purchases instead.
- ``bgnbd``: P(at least one purchase in the horizon) from a BG/NBD model fitted on the training
  customers' frequency / recency / T (no labels needed); explained by exact Shapley values over
  frequency, time since the last purchase (T - recency) and T against the medians of the
  training customers with a repeat purchase (a typical repeat customer).
- ``days_since_last_purchase`` (score = -recency_days) and ``repeat_purchases``
  (score = frequency): the naive reference rows every model has to beat.
- ``ensemble``: the mean of the calibrated probabilities of the logistic regression and XGBoost,
  recalibrated; its explanations are the mean of its members'.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, ClassVar

import numpy as np

from toolkit.btyd import BetaGeoModel, fit_flags, fit_standard
from toolkit.models.estimators._base import Batch, Scorer, logit, probability_contributions


class _OneColumnRule(Scorer):
    """A naive rule: a monotone transform of one column."""

    role = "reference"
    column: ClassVar[str] = ""
    sign: ClassVar[float] = 1.0

    def _score(self, x: np.ndarray) -> np.ndarray:
        # log1p keeps Platt scaling sensible on long-tailed counts; the ranking is the column's
        return self.sign * np.log1p(np.maximum(np.nan_to_num(x, nan=0.0), 0.0))

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:
        self.baseline_ = float(np.nanmedian(train.column(self.column)))

    def raw(self, batch: Batch) -> np.ndarray:
        return self._score(batch.column(self.column))

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        raw = self.raw(batch)
        base = float(self._score(np.array([self.baseline_]))[0])
        phi = np.zeros((len(batch), len(self.schema.features)))
        phi[:, self.schema.features.index(self.column)] = raw - base
        return phi, np.full(len(batch), base)

    def _state(self) -> dict[str, Any]:
        return {"baseline": self.baseline_, "column": self.column}

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        self.baseline_ = float(state["baseline"])

    def describe(self) -> dict[str, Any]:
        return {"rule": self.title, "column": self.column}


class DaysSinceLastPurchase(_OneColumnRule):
    name = "days_since_last_purchase"
    title = "Naive: days since last purchase (fewer = more likely to buy)"
    column = "recency_days"
    sign = -1.0


class RepeatPurchases(_OneColumnRule):
    name = "repeat_purchases"
    title = "Naive: number of repeat purchases (more = more likely to buy)"
    column = "frequency"
    sign = 1.0


class BGNBDScorer(Scorer):
    """BG/NBD P(any purchase in the horizon); raw score = its log-odds.

    Parameters
    ----------
    horizon : float
        Horizon in the time unit of ``recency`` / ``T`` (days or weeks).
    """

    name = "bgnbd"
    title = "BG/NBD P(purchase in the horizon)"
    raw_scale = "logit"
    COLUMNS = ("frequency", "recency", "T")

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:

        df = train.df
        rows = np.arange(len(df))
        if "origin" in df.columns and df["origin"].nunique() > 1:
            # stacked origins repeat customers; the model describes one observation period
            latest = df["origin"].max()
            rows = np.flatnonzero((df["origin"] == latest).to_numpy())
        x, t, T = (train.column(c)[rows] for c in self.COLUMNS)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # the toolkit's standard fit (the seed plays no part: the same data, the same fit)
            model = fit_standard(x, t, T)
        self.params_ = {k: float(v) for k, v in model.params_.items()}
        self.fit_notes_ = sorted({str(w.message) for w in caught})
        self.fit_ = model.fit_
        self.log_likelihood_ = float(model.log_likelihood_)
        self.standard_errors_ = {k: float(v) for k, v in model.standard_errors_.items()}
        # the reference customer of the explanations is a typical *repeat* customer: for a
        # one-time buyer the time since the last purchase is their whole tenure, so a median
        # over everyone makes a frequent buyer silent for months look "less silent than usual"
        # and credits the risk to their many purchases
        players = self._players(train)
        repeat = players[0] > 0
        rows_ref = repeat if int(repeat.sum()) >= 10 else np.ones(len(repeat), dtype=bool)
        self.baseline_ = [float(np.nanmedian(v[rows_ref])) for v in players]

    def model(self) -> Any:

        m = BetaGeoModel()
        m.params_ = dict(self.params_)
        return m

    def p_any(self, x: np.ndarray, t: np.ndarray, T: np.ndarray) -> np.ndarray:
        return np.asarray(self.model().p_any_purchase(float(self.params["horizon"]), x, t, T))

    def raw(self, batch: Batch) -> np.ndarray:
        x, t, T = (batch.column(c) for c in self.COLUMNS)
        return logit(self.p_any(x, t, T))

    def _players(self, batch: Batch) -> list[np.ndarray]:
        x, t, T = (batch.column(c) for c in self.COLUMNS)
        return [x, T - t, T]

    def _target_features(self) -> list[str]:
        """Features credited with the three players: frequency, time since last purchase, age.

        The BG/NBD inputs are explained as "how many repeat purchases", "how long since the last
        one" and "how long a customer", which is how a person reads them; the time since the
        last purchase is credited to ``recency_days`` when the frame has it.
        """
        silence = "recency_days" if "recency_days" in self.schema.features else "recency"
        return ["frequency", silence, "T"]

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        return self._shapley(batch, logit)

    def probability_contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact Shapley values of the calibrated probability itself (three players are cheap).

        Rescaling log-odds contributions would let large opposite contributions of frequency
        and time since the last purchase (a dead frequent buyer) exceed 1 in probability units.
        """
        phi, base = self._shapley(batch, lambda p: self.calibrator_.predict(logit(p)))
        return phi, base, base + phi.sum(axis=1)

    def _shapley(self, batch: Batch, link: Any) -> tuple[np.ndarray, np.ndarray]:
        cols = self._players(batch)
        n = len(batch)
        base_vals = [np.full(n, b) for b in self.baseline_]
        # a repeat customer's silence is measured against their own rhythm: the reference is
        # the same customer had they been silent for one usual gap (recency / frequency), so
        # "167 days since the last purchase, usual gap 2" carries the risk, not the 62 purchases
        x, t = cols[0], cols[2] - cols[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            own_gap = np.where(x > 0, t / np.where(x > 0, x, 1.0), np.nan)
        base_vals[1] = np.where(np.isfinite(own_gap), np.minimum(own_gap, cols[2]), base_vals[1])
        k = len(cols)

        def f(x: np.ndarray, u: np.ndarray, T: np.ndarray) -> np.ndarray:
            return np.asarray(link(self.p_any(x, np.clip(T - u, 0.0, None), T)))

        value: dict[tuple[int, ...], np.ndarray] = {}
        for mask in itertools.product((0, 1), repeat=k):
            args = [cols[i] if mask[i] else base_vals[i] for i in range(k)]
            value[mask] = f(*args)
        phi = np.zeros((n, len(self.schema.features)))
        for i, feat in enumerate(self._target_features()):
            total = np.zeros(n)
            for mask in itertools.product((0, 1), repeat=k):
                if mask[i]:
                    continue
                s = sum(mask)
                weight = math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k)
                with_i = tuple(1 if j == i else mask[j] for j in range(k))
                total += weight * (value[with_i] - value[mask])
            phi[:, self.schema.features.index(feat)] += total
        # the players' values sum to f(customer) - f(baseline); f(customer) is raw() up to the
        # clip at t_x >= 0, which never binds on the customer's own values
        return phi, value[(0,) * k]

    def _state(self) -> dict[str, Any]:
        return {
            "bgnbd_params": self.params_,
            "log_likelihood": self.log_likelihood_,
            "fit_notes": self.fit_notes_,
            "fit": self.fit_,
            "standard_errors": getattr(self, "standard_errors_", {}),
            "baseline": self.baseline_,
        }

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        self.params_ = {k: float(v) for k, v in state["bgnbd_params"].items()}
        self.log_likelihood_ = float(state.get("log_likelihood", float("nan")))
        self.fit_notes_ = list(state.get("fit_notes", []))
        self.fit_ = str(state.get("fit", "penalised (0.001)"))  # a model of an earlier version
        self.standard_errors_ = {
            k: float(v) for k, v in (state.get("standard_errors") or {}).items()
        }
        self.baseline_ = [float(v) for v in state["baseline"]]

    def describe(self) -> dict[str, Any]:

        return {
            "params": self.params_,
            "flags": fit_flags(
                self.params_, getattr(self, "standard_errors_", {}), self.fit_notes_
            ),
            "horizon_in_time_units": self.params.get("horizon"),
            "log_likelihood": self.log_likelihood_,
            "fit": getattr(self, "fit_", None),
            "notes": self.fit_notes_,
        }


class BGNBDExpected(BGNBDScorer):
    """BG/NBD expected purchases in the horizon, as a score: ``1 - exp(-E[X(t)])`` (the chance
    of at least one purchase were purchases Poisson with that mean), calibrated on validation.

    The same fit as :class:`BGNBDScorer`; it orders customers by how much they are expected to
    buy rather than by whether they buy at all, which on some logs ranks churn better (a heavy
    buyer with a low P(alive) still expects more purchases than a light one who is surely alive).
    """

    name = "bgnbd_expected"
    title = "BG/NBD expected purchases in the horizon"

    def p_any(self, x: np.ndarray, t: np.ndarray, T: np.ndarray) -> np.ndarray:
        expected = self.model().expected_purchases(float(self.params["horizon"]), x, t, T)
        return np.asarray(np.clip(-np.expm1(-np.asarray(expected)), 1e-12, 1 - 1e-12))


class EnsembleModel(Scorer):
    """Mean of the members' calibrated probabilities, recalibrated on validation.

    ``members_`` is set by the caller (fitted scorers); only their names are saved.
    """

    name = "ensemble"
    title = "Ensemble (mean of calibrated logistic + XGBoost)"
    raw_scale = "probability"
    members_: list[Scorer]

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:
        if not getattr(self, "members_", None):
            raise ValueError("set EnsembleModel.members_ to fitted scorers before fit")

    def raw(self, batch: Batch) -> np.ndarray:
        return np.mean([m.predict_proba(batch) for m in self.members_], axis=0)

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        parts = [probability_contributions(m, batch) for m in self.members_]
        phi = np.mean([c for c, _, _ in parts], axis=0)
        base = np.mean([p0 for _, p0, _ in parts], axis=0)
        return phi, base

    def _state(self) -> dict[str, Any]:
        return {"members": [m.name for m in self.members_]}

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        self.member_names_ = list(state["members"])

    def describe(self) -> dict[str, Any]:
        return {"members": [m.name for m in getattr(self, "members_", [])]}
