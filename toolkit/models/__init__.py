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
    "MODEL_CHOICES": "toolkit.models._train",
    "TrainResult": "toolkit.models._train",
    "build_training_frames": "toolkit.models._train",
    "train_models": "toolkit.models._train",
    "train_from_transactions": "toolkit.models._train",
    "train_from_table": "toolkit.models._train",
    "FeatureSchema": "toolkit.models._data",
    "ModelBundle": "toolkit.models._persist",
    "save_model_dir": "toolkit.models._persist",
    "load_model_dir": "toolkit.models._persist",
    "verify_directory": "toolkit.models._persist",
    "Explanation": "toolkit.models._explain",
    "explain": "toolkit.models._explain",
    "reasons": "toolkit.models._explain",
    "churn_list": "toolkit.models._churnlist",
    "evaluate_models": "toolkit.models._evaluate",
    "point_metrics": "toolkit.models._evaluate",
    "choose_threshold": "toolkit.models._evaluate",
    "PlattCalibrator": "toolkit.models._calibrate",
    "IsotonicCalibrator": "toolkit.models._calibrate",
    "choose_calibrator": "toolkit.models._calibrate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
