"""What a customer who buys again will spend: XGBoost on net spend, the second part of the
two-part value forecast ``P(buy) x E[net spend | buy]``.

Trained on the customers who bought in the label window (``repeat_purchase = 1``) of the same
labelled frames as the churn models (features before each origin only), with their net spend in
that window (``holdout_spend``) as the target. The objective is Tweedie (log link, power 1.5):
spend is never negative, often small and sometimes huge, and a customer who returned what he
bought in the window has 0. A small search over depth picks the candidate with the best
validation deviance; each stops early on it. The booster is stored as XGBoost's own JSON inside
the value model's JSON: no pickle.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from toolkit.btyd._value import expected_value
from toolkit.models.estimators._base import Batch
from toolkit.models.estimators._boost import safe_names
from toolkit.models.estimators._data import FeatureSchema

TWEEDIE_POWER = 1.5
DEPTHS = (2, 3, 4)
LEARNING_RATE = 0.05
MIN_CHILD_WEIGHT = 10
MAX_ROUNDS = 600
EARLY_STOPPING = 40
#: fewer buyers than this in the training or validation rows: no supervised spend model
MIN_BUYERS = 50


class SpendModel:
    """XGBoost (Tweedie) regression of net spend in the horizon, given a purchase.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"spend_90d": rng.gamma(2.0, 50.0, 400)})
    >>> y = df["spend_90d"].to_numpy() * rng.uniform(0.5, 1.5, 400)
    >>> schema = FeatureSchema.infer(df)
    >>> b = Batch(df, schema)
    >>> m = SpendModel(schema).fit(b.take(np.arange(300)), y[:300], b.take(np.arange(300, 400)),
    ...                            y[300:])
    >>> float(np.corrcoef(m.predict(b), y)[0, 1]) > 0.6
    True
    """

    def __init__(self, schema: FeatureSchema, config: dict[str, Any] | None = None) -> None:
        self.schema = schema
        self.config = config

    def fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int = 0
    ) -> SpendModel:
        import xgboost as xgb

        names = safe_names(self.schema.encoded_names)
        y = np.maximum(np.asarray(y, dtype=np.float64), 0.0)
        y_val = np.maximum(np.asarray(y_val, dtype=np.float64), 0.0)
        dtrain = xgb.DMatrix(train.X, label=y, missing=np.nan, feature_names=names, nthread=1)
        dval = xgb.DMatrix(val.X, label=y_val, missing=np.nan, feature_names=names, nthread=1)
        metric = f"tweedie-nloglik@{TWEEDIE_POWER}"
        base = {
            "objective": "reg:tweedie",
            "tweedie_variance_power": TWEEDIE_POWER,
            "eval_metric": metric,
            "tree_method": "hist",
            "learning_rate": LEARNING_RATE,
            "min_child_weight": MIN_CHILD_WEIGHT,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "nthread": 2 if len(y) >= 50_000 else 1,
            "seed": int(seed),
        }
        depths = [int(self.config["max_depth"])] if self.config else list(DEPTHS)
        search = []
        fitted = []
        for depth in depths:
            history: dict[str, Any] = {}
            booster = xgb.train(
                {**base, "max_depth": depth},
                dtrain,
                num_boost_round=MAX_ROUNDS,
                evals=[(dval, "validation")],
                early_stopping_rounds=EARLY_STOPPING,
                evals_result=history,
                verbose_eval=False,
            )
            rounds = int(booster.best_iteration) + 1
            loss = float(history["validation"][metric][rounds - 1])
            search.append({"max_depth": depth, "rounds": rounds, "val_deviance": loss})
            fitted.append(booster[:rounds])
        pick = int(np.argmin([s["val_deviance"] for s in search]))
        self.booster_ = fitted[pick]
        self.chosen_: dict[str, Any] = {
            **search[pick],
            "objective": f"reg:tweedie (power {TWEEDIE_POWER})",
            "learning_rate": LEARNING_RATE,
            "min_child_weight": MIN_CHILD_WEIGHT,
            "search": search,
            "criterion": "lowest validation Tweedie deviance; early stopping after "
            f"{EARLY_STOPPING} rounds without gain",
        }
        return self

    def predict(self, batch: Batch) -> np.ndarray:
        """Expected net spend in the horizon of each customer, if he buys in it."""
        import xgboost as xgb

        d = xgb.DMatrix(
            batch.X, missing=np.nan, feature_names=safe_names(self.schema.encoded_names)
        )
        return np.asarray(self.booster_.predict(d), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: the booster as XGBoost's JSON document, and what was chosen."""
        raw = bytes(self.booster_.save_raw(raw_format="json"))
        return {"booster": json.loads(raw), "chosen": self.chosen_}

    @classmethod
    def from_dict(cls, schema: FeatureSchema, state: dict[str, Any]) -> SpendModel:
        import xgboost as xgb

        model = cls(schema)
        booster = xgb.Booster()
        booster.load_model(bytearray(json.dumps(state["booster"]).encode()))
        model.booster_ = booster
        model.chosen_ = dict(state.get("chosen", {}))
        return model


def value_if_retained(value_model: dict[str, Any], batch: Batch) -> np.ndarray:
    """``expected_value`` of the churn list: what each customer spends in the horizon if he is
    retained, by the value model the out-of-time comparison chose.

    A ``supervised`` value model gives ``E[net spend | buys in the horizon]``, a ``combined`` one
    the mean of its members' values; the others are
    computed by :func:`toolkit.btyd.expected_value` from the features. A customer who has kept
    nothing of what he bought (net ``lifetime_spend`` <= 0: everything returned or cancelled) is
    worth 0: no model has evidence that he brings money, whatever his gross purchases.
    """
    if value_model.get("kind") == "combined":
        parts = [value_if_retained(m, batch) for m in value_model["members"]]
        value = np.mean(parts, axis=0)
    elif value_model.get("kind") == "supervised":
        model = SpendModel.from_dict(batch.schema, value_model["spend_model"])
        # a horizon longer than the labels: the spend at the label horizon, scaled
        value = model.predict(batch) * float(value_model.get("scale", 1.0))
    else:
        value = expected_value(value_model, batch.df)
    if "lifetime_spend" in batch.df.columns:
        kept = batch.df["lifetime_spend"].to_numpy(dtype=np.float64, na_value=np.nan)
        value = np.where(kept <= 0, 0.0, value)  # as the value forecasts' comparison does
    return np.asarray(value, dtype=np.float64)
