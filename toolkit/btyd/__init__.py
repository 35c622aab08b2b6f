"""BTYD ("buy 'til you die"): BG/NBD, Gamma-Gamma and the value of a customer if retained.

The layer below features, clv, the churn models and the churn list, which all use it; it
imports nothing from them. :mod:`toolkit.btyd._bgnbd` (BG/NBD and the toolkit's one standard
fit at a cutoff: maximum likelihood where it is interior and well determined, else a small
penalty), :mod:`toolkit.btyd._gamma_gamma` (spend per purchase, and its standard fit),
:mod:`toolkit.btyd._value` (expected value if retained: the basis of value_at_risk),
:mod:`toolkit.btyd._clv` (CLV for every customer of a summary: what ``toolkit clv`` writes).

Examples
--------
>>> from toolkit.btyd import BetaGeoModel
>>> m = BetaGeoModel(penalizer=0.1).fit([0, 1, 3, 2], [0, 4.0, 9.0, 7.0], [10, 10, 12, 12])
>>> m.p_alive([0], [0], [10]).tolist()
[1.0]
"""

from __future__ import annotations

from toolkit.btyd._bgnbd import (
    STANDARD_PENALIZER,
    STANDARD_PENALTIES,
    BetaGeoModel,
    BoundaryWarning,
    FitConvergenceWarning,
    compress_rows,
    fit_flags,
    fit_standard,
    validate_rfm,
)
from toolkit.btyd._clv import find_summary_columns, run_clv
from toolkit.btyd._gamma_gamma import PERIOD_LENGTH, GammaGammaModel, fit_spend
from toolkit.btyd._value import (
    expected_value,
    find_value_column,
    fit_value_model,
    median_days_to_next_order,
)

__all__ = [
    "BetaGeoModel",
    "BoundaryWarning",
    "FitConvergenceWarning",
    "GammaGammaModel",
    "PERIOD_LENGTH",
    "STANDARD_PENALIZER",
    "STANDARD_PENALTIES",
    "compress_rows",
    "expected_value",
    "find_value_column",
    "find_summary_columns",
    "fit_value_model",
    "median_days_to_next_order",
    "run_clv",
    "fit_flags",
    "fit_spend",
    "fit_standard",
    "validate_rfm",
]
