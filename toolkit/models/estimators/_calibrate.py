"""Probability calibration: Platt scaling or interpolated isotonic regression, chosen on validation.

Both calibrators are stored as a handful of numbers (JSON). The isotonic calibrator interpolates
linearly between the centres of the isotonic fit's blocks (Jiang et al.'s "smooth isotonic"): it is
strictly increasing, so it keeps the ranking of the raw scores (ties in the plain step function
would cost ROC-AUC) while calibrating as well as the step function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Calibrated probabilities are kept inside [EPS, 1 - EPS] (finite log-loss).
EPS = 1e-7
#: share of the way to 0 or 1 an isotonic calibrator may go beyond its fitted range
TAIL = 0.01


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, EPS, 1.0 - EPS)


@dataclass
class PlattCalibrator:
    """``p = 1 / (1 + exp(-(a * score + b)))``.

    Examples
    --------
    >>> c = PlattCalibrator.fit(np.array([-2.0, -1, 0, 1, 2, 3]), np.array([0, 0, 1, 0, 1, 1]))
    >>> bool(c.a > 0)
    True
    """

    a: float
    b: float
    kind: str = "platt"

    @classmethod
    def fit(cls, score: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        """Maximum likelihood by Newton's method on the standardised score (2 parameters)."""
        s = np.asarray(score, dtype=np.float64)
        yv = np.asarray(y, dtype=np.float64)
        sd = float(np.std(s)) or 1.0
        mu = float(np.mean(s))
        X = np.column_stack([(s - mu) / sd, np.ones_like(s)])
        rate = float(np.clip(yv.mean(), EPS, 1 - EPS))
        w = np.array([0.0, np.log(rate / (1 - rate))])
        ridge = 1e-6 * np.eye(2)  # keeps separable data finite
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(X @ w)))
            grad = X.T @ (p - yv) + ridge @ w
            hess = (X * (p * (1 - p))[:, None]).T @ X + ridge
            step = np.linalg.solve(hess, grad)
            w = w - step
            if np.max(np.abs(step)) < 1e-10:
                break
        a = float(w[0]) / sd
        return cls(a=a, b=float(w[1]) - a * mu)

    def predict(self, score: np.ndarray) -> np.ndarray:
        z = self.a * np.asarray(score, dtype=np.float64) + self.b
        return _clip(1.0 / (1.0 + np.exp(-z)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "platt", "a": self.a, "b": self.b}


@dataclass
class IsotonicCalibrator:
    """Isotonic regression interpolated between block centres, bounded beyond its range.

    Examples
    --------
    >>> s = np.arange(10.0)
    >>> c = IsotonicCalibrator.fit(s, np.array([0, 0, 1, 0, 0, 1, 1, 0, 1, 1]))
    >>> p = c.predict(s)
    >>> bool(np.all(np.diff(p) >= 0))
    True
    """

    x: list[float]
    y: list[float]
    kind: str = "isotonic"

    @classmethod
    def fit(cls, score: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        from sklearn.isotonic import IsotonicRegression

        s = np.asarray(score, dtype=np.float64)
        iso = IsotonicRegression(out_of_bounds="clip").fit(s, y)
        fitted = iso.predict(s)
        levels, inverse = np.unique(fitted, return_inverse=True)
        centres = np.bincount(inverse, weights=s) / np.bincount(inverse)
        order = np.argsort(centres)
        xs, ys = centres[order], levels[order]
        # blocks are increasing in both; guard against equal centres from float noise
        keep = np.concatenate([[True], np.diff(xs) > 0])
        return cls(x=xs[keep].tolist(), y=_clip(ys[keep]).tolist())

    def predict(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        xs = np.asarray(self.x)
        ys = np.asarray(self.y)
        if xs.size == 1:
            return _clip(np.full(s.shape, ys[0]))
        out = np.interp(s, xs, ys)
        # beyond the validation range: stay within 1 % of the end value's distance to 0 (or 1),
        # still strictly monotone, so scores never seen in validation keep their order without
        # being pushed to certainty
        width = max((xs[-1] - xs[0]) / 10.0, 1e-12)
        with np.errstate(over="ignore"):
            below = ys[0] * (1.0 - TAIL * -np.expm1(-(xs[0] - s) / width))
            above = ys[-1] + (1.0 - ys[-1]) * TAIL * -np.expm1(-(s - xs[-1]) / width)
        out = np.where(s < xs[0], below, out)
        out = np.where(s > xs[-1], above, out)
        return _clip(out)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "isotonic", "x": list(self.x), "y": list(self.y)}


@dataclass
class HorizonCalibrator:
    """A probability of buying in L days carried to H days: ``1 - (1 - p_L) ** (H / L)``.

    Used where the asked horizon H is longer than the labels reach: the model was judged and
    calibrated at L; each further L days is taken as another chance to buy at the same rate
    (an approximation: a customer who has left has no further chance, so it overstates buying
    for them). Strictly increasing in ``p_L``: the model's order is kept.

    Examples
    --------
    >>> c = HorizonCalibrator(base=PlattCalibrator(a=1.0, b=0.0), power=2.0)
    >>> float(c.predict(np.array([0.0]))[0])
    0.75
    """

    base: PlattCalibrator | IsotonicCalibrator
    power: float
    kind: str = "horizon"

    def predict(self, score: np.ndarray) -> np.ndarray:
        p = self.base.predict(score)
        return _clip(-np.expm1(self.power * np.log1p(-p)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "horizon", "base": self.base.to_dict(), "power": self.power}


Calibrator = PlattCalibrator | IsotonicCalibrator | HorizonCalibrator


def calibrator_from_dict(d: dict[str, Any]) -> Calibrator:
    """Rebuild a calibrator from :meth:`to_dict`'s output."""
    if d["kind"] == "horizon":
        base = calibrator_from_dict(d["base"])
        assert not isinstance(base, HorizonCalibrator)
        return HorizonCalibrator(base=base, power=float(d["power"]))
    if d["kind"] == "platt":
        return PlattCalibrator(a=float(d["a"]), b=float(d["b"]))
    if d["kind"] == "isotonic":
        return IsotonicCalibrator(x=[float(v) for v in d["x"]], y=[float(v) for v in d["y"]])
    raise ValueError(f"unknown calibrator kind {d['kind']!r}")


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = _clip(p)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def choose_calibrator(
    score: np.ndarray, y: np.ndarray, *, seed: int = 0, folds: int = 5
) -> tuple[Calibrator, dict[str, Any]]:
    """Fit Platt and isotonic on validation scores; keep the one with the lower log-loss.

    The choice is made by ``folds``-fold cross-validation inside the validation data (a calibrator
    judged on the rows it was fitted on would always favour isotonic); the winner is then refitted
    on all of it. Ties (and validation sets under 100 rows) go to Platt, the simpler one.

    Returns
    -------
    calibrator, record
        ``record`` holds the cross-validated log-loss and Brier score of each method.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.normal(size=500)
    >>> y = (rng.random(500) < 1 / (1 + np.exp(-2 * s))).astype(int)
    >>> cal, rec = choose_calibrator(s, y)
    >>> rec["chosen"] in ("platt", "isotonic")
    True
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    record: dict[str, Any] = {"method": f"{folds}-fold cross-validated log-loss on validation"}
    if len(y) < 100 or len(np.unique(y)) < 2:
        cal: Calibrator = PlattCalibrator.fit(s, y) if len(np.unique(y)) == 2 else _constant(y)
        record["chosen"] = cal.kind
        record["note"] = "fewer than 100 validation rows: Platt scaling without a comparison"
        return cal, record
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(y)) % folds
    scores: dict[str, dict[str, float]] = {}
    for kind, cls in (("platt", PlattCalibrator), ("isotonic", IsotonicCalibrator)):
        pred = np.empty(len(y))
        for k in range(folds):
            tr = fold != k
            if len(np.unique(y[tr])) < 2:
                pred[~tr] = y[tr].mean()
                continue
            pred[~tr] = cls.fit(s[tr], y[tr]).predict(s[~tr])
        scores[kind] = {"log_loss": _log_loss(y, pred), "brier": float(np.mean((pred - y) ** 2))}
    record.update(scores)
    best = "isotonic" if scores["isotonic"]["log_loss"] < scores["platt"]["log_loss"] else "platt"
    record["chosen"] = best
    cal = IsotonicCalibrator.fit(s, y) if best == "isotonic" else PlattCalibrator.fit(s, y)
    return cal, record


def _constant(y: np.ndarray) -> PlattCalibrator:
    p = float(np.clip(np.mean(y), EPS, 1 - EPS)) if len(y) else 0.5
    return PlattCalibrator(a=0.0, b=float(np.log(p / (1 - p))))
