"""Repeat-purchase and churn models: training, out-of-time evaluation, model directories,
explanations and churn lists.

Public names load their modules on first use (PEP 562), so ``import toolkit.models`` stays cheap;
BG/NBD, Gamma-Gamma and the value model live one layer below, in :mod:`toolkit.btyd`.

Examples
--------
>>> from toolkit.models import MODEL_CHOICES
>>> MODEL_CHOICES
('linear', 'tree', 'xgboost', 'bgnbd')
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "MODEL_CHOICES": "toolkit.models.training._train",
    "TrainResult": "toolkit.models.training._train",
    "TrainSettings": "toolkit.models.training._settings",
    "build_training_frames": "toolkit.models.training._train",
    "train_models": "toolkit.models.training._train",
    "train_from_transactions": "toolkit.models.training._from_log",
    "train_from_table": "toolkit.models.training._from_table",
    "FeatureSchema": "toolkit.models.estimators._data",
    "ModelBundle": "toolkit.models._persist",
    "save_model_dir": "toolkit.models._persist",
    "load_model_dir": "toolkit.models._persist",
    "verify_directory": "toolkit.models._persist",
    "Explanation": "toolkit.models.action._explain",
    "explain": "toolkit.models.action._explain",
    "reasons": "toolkit.models.action._explain",
    "churn_list": "toolkit.models.action._churnlist",
    "scoring_frame": "toolkit.models.action._scoring",
    "evaluate_models": "toolkit.models.training._evaluate",
    "point_metrics": "toolkit.models.training._evaluate",
    "choose_threshold": "toolkit.models.training._evaluate",
    "PlattCalibrator": "toolkit.models.estimators._calibrate",
    "IsotonicCalibrator": "toolkit.models.estimators._calibrate",
    "choose_calibrator": "toolkit.models.estimators._calibrate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
