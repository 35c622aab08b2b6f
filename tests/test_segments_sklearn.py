"""The segmenter passes scikit-learn's own estimator checks, for every method."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from toolkit.segments import Segmenter


@pytest.mark.slow
@parametrize_with_checks(
    [
        Segmenter(method=method, k_range=(2, 3), n_bootstrap=0, n_init=1)
        for method in ("kmeans", "dbscan", "hierarchical", "gmm")
    ]
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)
