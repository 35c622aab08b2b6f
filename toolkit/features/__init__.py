"""Customer features as of a cutoff date, labels, and correlations.

See :mod:`toolkit.features._sql` for the definition of every column.
"""

from toolkit.features._build import (
    compute_features,
    data_range,
    features_from_spec,
    is_customer_table,
    parse_cutoff,
    resolve_spec,
    write_features,
)
from toolkit.features._sql import FEATURE_COLUMNS, LABEL_COLUMNS, FeatureSpec, feature_sql

__all__ = [
    "CorrelationResult",
    "correlate",
    "FEATURE_COLUMNS",
    "LABEL_COLUMNS",
    "FeatureSpec",
    "compute_features",
    "data_range",
    "feature_sql",
    "is_customer_table",
    "features_from_spec",
    "parse_cutoff",
    "resolve_spec",
    "write_features",
]


def __getattr__(name: str) -> object:
    # correlations need pandas and scipy; `toolkit features` does not: imported on first use
    if name in ("CorrelationResult", "correlate"):
        from toolkit.features import _correlate

        return getattr(_correlate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
