"""Gradient-boosted trees (XGBoost, ``hist``), early-stopped and tuned on the validation split.

A small seeded random search over depth / learning rate / min_child_weight (the shallow, slow,
regularised default always among the candidates); each candidate stops early on the
(class-weighted) validation log-loss; the simplest candidate within one standard error of the
best is kept (the one-standard-error rule: on churn data the validation curve is flat, and the
simpler booster holds up better in a later period). Class imbalance is handled with
``scale_pos_weight = negatives / positives``; the calibrator then maps the re-weighted scores back
to probabilities. Missing values go in as they are. The booster is saved with XGBoost's own JSON
format; explanations are XGBoost's exact TreeSHAP values (``pred_contribs=True``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from toolkit.models.estimators._base import Batch, Scorer, group_columns
from toolkit.models.estimators._fastshap import xgb_contributions

GRID = {
    "max_depth": (2, 3, 4),
    "learning_rate": (0.05, 0.1),
    "min_child_weight": (5, 20),
}
#: always among the candidates: shallow, slow and regularised
DEFAULT_CONFIG = {"max_depth": 2, "learning_rate": 0.05, "min_child_weight": 20}
N_CANDIDATES = 6
MAX_ROUNDS = 500
EARLY_STOPPING = 40
EVAL_METRIC = "logloss"
NTHREAD = 2
#: below this many rows XGBoost runs on one thread
SMALL_ROWS = 50_000


class XGBoostModel(Scorer):
    """XGBoost binary classifier; raw score = log-odds (margin)."""

    name = "xgboost"
    title = "XGBoost"
    raw_scale = "logit"

    def _fit(
        self, train: Batch, y: np.ndarray, val: Batch, y_val: np.ndarray, *, seed: int
    ) -> None:
        import xgboost as xgb

        names = safe_names(self.schema.encoded_names)
        nthread = _threads(len(y) + len(y_val))
        dtrain = xgb.DMatrix(train.X, label=y, missing=np.nan, feature_names=names, nthread=nthread)
        pos = max(int(y.sum()), 1)
        spw = float((len(y) - pos) / pos)
        # the validation rows carry the same class weights as training, so that the early-stopping
        # log-loss measures what the booster optimises
        dval = xgb.DMatrix(
            val.X,
            label=y_val,
            weight=np.where(y_val == 1, spw, 1.0),
            missing=np.nan,
            feature_names=names,
            nthread=nthread,
        )
        rng = np.random.default_rng(seed)
        grid = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
        others = [g for g in grid if g != DEFAULT_CONFIG]
        picks = rng.choice(len(others), size=min(N_CANDIDATES - 1, len(others)), replace=False)
        configs = [DEFAULT_CONFIG] + [others[int(i)] for i in sorted(picks)]
        if self.params.get("config"):
            # hyperparameters already chosen (by the evaluation fit): only the rounds are re-chosen
            configs = [{k: self.params["config"][k] for k in GRID}]
        base = {
            "objective": "binary:logistic",
            "eval_metric": EVAL_METRIC,
            "tree_method": "hist",
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "scale_pos_weight": spw,
            "nthread": nthread,
            "seed": int(seed),
        }
        w_val = np.where(y_val == 1, spw, 1.0)
        fitted = []
        search = []
        for cfg in configs:
            booster = xgb.train(
                {**base, **cfg},
                dtrain,
                num_boost_round=MAX_ROUNDS,
                evals=[(dval, "validation")],
                early_stopping_rounds=EARLY_STOPPING,
                verbose_eval=False,
            )
            rounds = int(booster.best_iteration) + 1
            p = np.clip(booster.predict(dval, iteration_range=(0, rounds)), 1e-12, 1 - 1e-12)
            losses = -(y_val * np.log(p) + (1 - y_val) * np.log1p(-p))
            mean = float(np.sum(w_val * losses) / np.sum(w_val))
            se = float(np.sqrt(np.cov(losses, aweights=w_val)) / np.sqrt(len(losses)))
            search.append({**cfg, "rounds": rounds, "val_log_loss": mean, "val_log_loss_se": se})
            fitted.append(booster)
        # one-standard-error rule: the simplest candidate (shallowest, then largest
        # min_child_weight, then slowest learning rate) within one standard error of the best
        # validation log-loss; simple boosters travel better to a later period
        best = int(np.argmin([r["val_log_loss"] for r in search]))
        limit = search[best]["val_log_loss"] + search[best]["val_log_loss_se"]
        ok = [i for i, r in enumerate(search) if r["val_log_loss"] <= limit]
        pick = min(ok, key=lambda i: _complexity(configs[i]))
        booster = fitted[pick]
        cfg = {**configs[pick], "rounds": search[pick]["rounds"]}
        # keep only the trees up to the early-stopping point: smaller file, faster scoring
        self.booster_ = booster[: cfg["rounds"]]
        self.chosen_ = {
            **cfg,
            "scale_pos_weight": spw,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "search": search,
            "criterion": (
                "simplest candidate within one standard error of the best class-weighted "
                f"validation log-loss; early stopping after {EARLY_STOPPING} rounds without gain"
            ),
        }

    def _dmatrix(self, batch: Batch) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(
            batch.X,
            missing=np.nan,
            feature_names=safe_names(self.schema.encoded_names),
            nthread=_threads(len(batch)),
        )

    def raw(self, batch: Batch) -> np.ndarray:
        self.booster_.set_param({"nthread": _threads(len(batch))})
        return np.asarray(
            self.booster_.predict(self._dmatrix(batch), output_margin=True), dtype=np.float64
        )

    def contributions(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """XGBoost's exact TreeSHAP values (``pred_contribs``), computed per decision path."""

        values, bias = xgb_contributions(
            self.booster_,
            batch.X,
            feature_names=safe_names(self.schema.encoded_names),
            nthread=NTHREAD,
        )
        phi = group_columns(values, self.schema.groups, len(self.schema.features))
        return phi, bias

    def _state(self) -> dict[str, Any]:
        return {"chosen": self.chosen_, "booster_file": "booster.json"}

    def _files(self) -> dict[str, bytes]:
        return {"booster.json": bytes(self.booster_.save_raw(raw_format="json"))}

    def _load(self, state: dict[str, Any], files: dict[str, bytes]) -> None:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(files[state.get("booster_file", "booster.json")]))
        self.booster_ = booster
        self.chosen_ = state.get("chosen", {})

    def describe(self) -> dict[str, Any]:
        keys = ("max_depth", "learning_rate", "min_child_weight", "rounds", "scale_pos_weight")
        return {
            "hyperparameters": {k: self.chosen_.get(k) for k in keys},
            "chosen_by": self.chosen_.get("criterion", ""),
            "search": self.chosen_.get("search", []),
        }


def _complexity(cfg: dict[str, Any]) -> tuple[float, float, float]:
    return (cfg["max_depth"], -cfg["min_child_weight"], cfg["learning_rate"])


def _threads(n_rows: int) -> int:
    """Two threads pay off on large data only; on small data their start-up and waiting
    (OpenMP spins on a busy machine) cost more than they save."""
    return NTHREAD if n_rows >= SMALL_ROWS else 1


def safe_names(names: list[str]) -> list[str]:
    """XGBoost refuses feature names with [, ] or <; keep them readable otherwise."""
    return [n.replace("[", "(").replace("]", ")").replace("<", "lt ") for n in names]
