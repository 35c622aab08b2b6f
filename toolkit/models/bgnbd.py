"""BG/NBD and Gamma-Gamma: probabilistic repeat-purchase, survival and spend models (CLV).

Public interface of :mod:`toolkit.models._bgnbd` and :mod:`toolkit.models._gamma_gamma`.

Examples
--------
>>> from toolkit.models.bgnbd import BetaGeoModel
>>> m = BetaGeoModel(penalizer=0.1).fit([0, 1, 3, 2], [0, 4.0, 9.0, 7.0], [10, 10, 12, 12])
>>> m.p_alive([0], [0], [10]).tolist()
[1.0]
"""

from __future__ import annotations

from toolkit.models._bgnbd import (
    STANDARD_PENALIZER,
    BetaGeoModel,
    BoundaryWarning,
    FitConvergenceWarning,
    compress_rows,
    fit_flags,
    fit_standard,
    validate_rfm,
)
from toolkit.models._gamma_gamma import PERIOD_LENGTH, GammaGammaModel

__all__ = [
    "BetaGeoModel",
    "BoundaryWarning",
    "FitConvergenceWarning",
    "GammaGammaModel",
    "PERIOD_LENGTH",
    "STANDARD_PENALIZER",
    "compress_rows",
    "fit_flags",
    "fit_standard",
    "validate_rfm",
]
