"""What every scorer shares: a batch of rows, calibration, and additive explanations.

A *scorer* turns a features frame into a raw score (log-odds, a probability or a plain score) and,
through its calibrator, into the calibrated probability of the positive class. Every scorer can
also say how much each input feature moved its raw score away from a base value (SHAP values or
exact linear contributions); :func:`probability_contributions` turns those into probability units
that add up exactly to ``p - p0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from toolkit.errors import NotFittedError
from toolkit.models.estimators._calibrate import Calibrator, calibrator_from_dict, choose_calibrator
from toolkit.models.training._evaluate import choose_threshold

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models.estimators._data import FeatureSchema


class Batch:
    """Rows to score, with their encoded matrix computed once and shared by every scorer."""

    def __init__(self, df: pd.DataFrame, schema: FeatureSchema) -> None:
        self.df = df
        self.schema = schema
        self._X: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.df)

    @property
    def X(self) -> np.ndarray:
        """Encoded inputs (``schema.encoded_names`` columns), NaN for missing numbers."""
        if self._X is None:
            self._X = self.schema.encode(self.df)
        return self._X

    def column(self, name: str) -> np.ndarray:
        """One numeric input column as float64."""
        j = self.schema.encoded_names.index(name)
        return self.X[:, j]

    def concat(self, other: Batch) -> Batch:
        """This batch's rows followed by ``other``'s (same schema)."""
        import pandas as pd

        both = Batch(pd.concat([self.df, other.df], ignore_index=True), self.schema)
        if self._X is not None and other._X is not None:
            both._X = np.vstack([self._X, other._X])
        return both

    def take(self, rows: np.ndarray) -> Batch:
        sub = Batch(self.df.iloc[rows], self.schema)
        if self._X is not None:
            sub._X = self._X[rows]
        return sub


class Scorer:
    """Base class: subclasses implement ``_fit``, ``raw``, ``contributions`` and the state."""

    #: machine name, e.g. "xgboost"
    name: ClassVar[str] = ""
    #: shown in reports
    title: ClassVar[str] = ""
    #: "model" (eligible as champion) or "reference" (naive rules)
    role: ClassVar[str] = "model"
    #: scale of :meth:`raw`: "logit", "probability" or "score"
    raw_scale: ClassVar[str] = "score"

    calibrator_: Calibrator
    calibration_: dict[str, Any]
    threshold_: float

    def __init__(self, schema: FeatureSchema, **params: Any) -> None:
        self.schema = schema
        self.params = params

    # -- fitting

    def fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int = 0
    ) -> Scorer:
        """Learn on ``train``; tune and calibrate on ``val`` (rows of other customers)."""
        self._fit(train, y, val, y_val, seed=seed)
        self.calibrate(val, y_val, seed=seed)
        return self

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:
        raise NotImplementedError

    def calibrate(self, val: Batch, y_val: np.ndarray, *, seed: int = 0) -> None:
        """Choose and fit the calibrator, then the decision threshold, on validation rows."""

        self.calibrator_, self.calibration_ = choose_calibrator(self.raw(val), y_val, seed=seed)
        self.threshold_ = choose_threshold(y_val, self.calibrator_.predict(self.raw(val)))

    def _check(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise NotFittedError(f"the {self.name} model is not fitted yet: call fit first")

    # -- scoring

    def raw(self, batch: Batch) -> np.ndarray:
        """Raw score, higher = more likely positive (scale: :attr:`raw_scale`)."""
        raise NotImplementedError

    def predict_proba(self, batch: Batch) -> np.ndarray:
        """Calibrated probability of the positive class."""
        self._check()
        return self.calibrator_.predict(self.raw(batch))

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature contributions to :meth:`raw` (n x len(schema.features)) and the base value.

        ``base + contributions.sum(axis=1) == raw(batch)``.
        """
        raise NotImplementedError

    # -- saving

    def state(self) -> tuple[dict[str, Any], dict[str, bytes]]:
        """JSON-ready parameters (with the calibrator) and extra files (name -> bytes)."""
        self._check()
        params = {
            "name": self.name,
            "params": self.params,
            "calibrator": self.calibrator_.to_dict(),
            "calibration": self.calibration_,
            "threshold": self.threshold_,
            **self._state(),
        }
        return params, self._files()

    def _state(self) -> dict[str, Any]:
        return {}

    def _files(self) -> dict[str, bytes]:
        return {}

    @classmethod
    def from_state(
        cls, schema: FeatureSchema, state: dict[str, Any], files: dict[str, bytes]
    ) -> Scorer:
        obj = cls(schema, **state.get("params", {}))
        obj._load(state, files)
        obj.calibrator_ = calibrator_from_dict(state["calibrator"])
        obj.calibration_ = state.get("calibration", {})
        obj.threshold_ = float(state.get("threshold", 0.5))
        return obj

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        raise NotImplementedError

    # -- description for reports

    def describe(self) -> dict[str, Any]:
        """What the report shows about this model (hyperparameters, rules, coefficients)."""
        return {}


def probability_contributions(
    scorer: Scorer, batch: Batch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contributions in calibrated-probability units (``scorer``'s own method if it has one).

    See :func:`secant_contributions`.
    """
    own = getattr(scorer, "probability_contributions", None)
    if own is not None:
        return own(batch)  # type: ignore[no-any-return]
    return secant_contributions(scorer, batch)


def secant_contributions(scorer: Scorer, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw-scale contributions moved onto the calibrated-probability scale.

    The raw-scale contributions are scaled by the calibrator's secant slope between the base
    value and the customer's raw score, so that for every row ``p0 + C.sum(axis=1) == p`` exactly
    (the local derivative is used where the two coincide).

    Returns
    -------
    C : ndarray (n, n_features)
        Contribution of each feature to the probability of the positive class.
    p0 : ndarray (n,)
        Calibrated probability at the base value.
    p : ndarray (n,)
        Calibrated probability of each row.
    """
    phi, base = scorer.contributions(batch)
    raw = base + phi.sum(axis=1)
    cal = scorer.calibrator_
    p = cal.predict(raw)
    p0 = cal.predict(base)
    d = raw - base
    small = np.abs(d) < 1e-9
    h = 1e-4 * np.maximum(1.0, np.abs(raw))
    deriv = (cal.predict(raw + h) - cal.predict(raw - h)) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(small, deriv, (p - p0) / np.where(small, 1.0, d))
    return phi * slope[:, None], p0, p


def group_columns(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Add up columns that belong to the same input feature (one-hot levels, indicators)."""
    if values.shape[1] == n_groups and np.array_equal(groups, np.arange(n_groups)):
        return values
    out = np.zeros((values.shape[0], n_groups))
    for j, g in enumerate(groups):
        out[:, g] += values[:, j]
    return out


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)
