"""What a training run was asked and did, as one typed record (``manifest.json``'s ``settings``).

Training fills it, the model directory stores it (:meth:`TrainSettings.to_dict`) and reads it
back (:meth:`TrainSettings.from_dict`), and scoring, the churn list, the reports and the Dask
engine read its fields by name. ``training`` and ``evaluation`` stay plain records: they are
descriptions written to ``metrics.json`` and the report as they are, not read field by field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: written even when empty (``null``): readers of a manifest look these up on every model
_ALWAYS = ("horizon", "time_unit", "cutoff")


@dataclass
class TrainSettings:
    """The settings of a training run.

    Examples
    --------
    >>> s = TrainSettings(label="repeat_purchase", models_requested=["linear"], seed=0,
    ...                   n_boot=200, mode="transactions", horizon=91, time_unit="days",
    ...                   positive_class="churned", churn_probability="1 - P(repeat)",
    ...                   churn_is_positive=False, n_train_rows=10, n_evaluation_rows=5,
    ...                   evaluation_positive_rate=0.4)
    >>> d = s.to_dict()
    >>> d["cutoff"], "target" in d
    (None, False)
    >>> TrainSettings.from_dict({**d, "added_later": 1}).to_dict() == {**d, "added_later": 1}
    True
    """

    label: str
    models_requested: list[str]
    seed: int
    n_boot: int
    #: "transactions" (labels from a log), "labelled frame" (frames given), "target" (a table)
    mode: str
    horizon: int | None
    time_unit: str | None
    #: what the positive class of the metrics is, and what the churn probability means (words)
    positive_class: str
    churn_probability: str
    #: whether the models' probability is the churn probability (a target column), or one
    #: minus it (the label "bought again")
    churn_is_positive: bool
    n_train_rows: int
    n_evaluation_rows: int
    evaluation_positive_rate: float
    cutoff: str | None = None
    data_first_day: str | None = None
    data_last_day: str | None = None
    target: str | None = None
    positive: str | None = None
    #: origins, rows and label windows of the final fit
    training: dict[str, Any] | None = None
    #: how the models were compared: out of time or cross-validated, on whom
    evaluation: dict[str, Any] | None = None
    #: a horizon longer than the labels reach: the horizon the supervised models were compared at
    label_horizon: int | None = None
    long_horizon: dict[str, Any] | None = None
    #: keys of a manifest this version does not know (a newer toolkit's), kept as they were
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: unset optional fields left out, ``extra`` kept."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in _ALWAYS:
                out[f.name] = value
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrainSettings:
        """Read a stored record; fields a model directory of an older version lacks get the
        defaults that version behaved by."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        defaults: dict[str, Any] = {
            "label": "repeat_purchase",
            "models_requested": [],
            "seed": 0,
            "n_boot": 200,
            "mode": "transactions",
            "horizon": None,
            "time_unit": None,
            "positive_class": "",
            "churn_probability": "",
            "churn_is_positive": False,
            "n_train_rows": 0,
            "n_evaluation_rows": 0,
            "evaluation_positive_rate": float("nan"),
        }
        known = {k: v for k, v in record.items() if k in names}
        extra = {k: v for k, v in record.items() if k not in names}
        return cls(**{**defaults, **known}, extra=extra)
