"""What a fitted segmentation keeps to assign new customers: plain arrays, no estimator objects.

Each model turns a (preprocessed, scaled) matrix into *raw* cluster labels; the segmenter maps raw
labels to segment numbers (largest segment first) with ``segment_of_raw``. ``-1`` is DBSCAN's noise
and stays ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


def _nearest(points: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=1).fit(points)
    dist, idx = nn.kneighbors(X)
    return dist[:, 0], idx[:, 0]


@dataclass
class CentroidModel:
    """k-means: each customer goes to the nearest centroid."""

    centroids: np.ndarray
    kind: ClassVar[str] = "centroids"

    def assign(self, X: np.ndarray) -> np.ndarray:
        from sklearn.metrics import pairwise_distances_argmin

        return pairwise_distances_argmin(X, self.centroids).astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids}

    def meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> CentroidModel:
        return cls(arrays["centroids"])


@dataclass
class NearestPointModel:
    """Hierarchical clustering: each customer takes the segment of the nearest fitted point."""

    points: np.ndarray
    labels: np.ndarray
    kind: ClassVar[str] = "nearest_point"

    def assign(self, X: np.ndarray) -> np.ndarray:
        _, idx = _nearest(self.points, X)
        return self.labels[idx].astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"points": self.points, "labels": self.labels}

    def meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> NearestPointModel:
        return cls(arrays["points"], arrays["labels"])


@dataclass
class CoreModel:
    """DBSCAN: the segment of the nearest core point within ``eps``, else noise (-1)."""

    core_points: np.ndarray
    core_labels: np.ndarray
    eps: float
    kind: ClassVar[str] = "core_points"

    def assign(self, X: np.ndarray) -> np.ndarray:
        if len(self.core_points) == 0:
            return np.full(len(X), -1, dtype=np.int64)
        dist, idx = _nearest(self.core_points, X)
        out = self.core_labels[idx].astype(np.int64)
        out[dist > self.eps] = -1
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {"core_points": self.core_points, "core_labels": self.core_labels}

    def meta(self) -> dict[str, Any]:
        return {"eps": self.eps}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> CoreModel:
        return cls(arrays["core_points"], arrays["core_labels"], float(meta["eps"]))


@dataclass
class GaussianModel:
    """Gaussian mixture: the most probable component (covariances stored as full matrices)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    kind: ClassVar[str] = "gaussian_mixture"

    @classmethod
    def from_sklearn(cls, gmm: Any) -> GaussianModel:
        k, d = gmm.means_.shape
        cov = np.asarray(gmm.covariances_, dtype=np.float64)
        kind = gmm.covariance_type
        if kind == "tied":
            cov = np.broadcast_to(cov, (k, d, d)).copy()
        elif kind == "diag":
            cov = np.stack([np.diag(c) for c in cov])
        elif kind == "spherical":
            cov = np.stack([np.eye(d) * c for c in cov])
        return cls(np.asarray(gmm.weights_, dtype=np.float64), gmm.means_.astype(np.float64), cov)

    def log_prob(self, X: np.ndarray) -> np.ndarray:
        """Log of weight x density, one column per component."""
        from scipy.linalg import cholesky, solve_triangular

        n, d = X.shape
        out = np.empty((n, len(self.weights)))
        for j, (w, mu, cov) in enumerate(
            zip(self.weights, self.means, self.covariances, strict=True)
        ):
            chol = cholesky(cov, lower=True)
            z = solve_triangular(chol, (X - mu).T, lower=True)
            log_det = 2.0 * np.log(np.diag(chol)).sum()
            out[:, j] = np.log(w) - 0.5 * (d * np.log(2 * np.pi) + log_det + (z * z).sum(axis=0))
        return out

    def assign(self, X: np.ndarray) -> np.ndarray:
        return self.log_prob(X).argmax(axis=1).astype(np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances}

    def meta(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> GaussianModel:
        return cls(arrays["weights"], arrays["means"], arrays["covariances"])


Model = CentroidModel | NearestPointModel | CoreModel | GaussianModel
MODEL_KINDS: dict[str, Any] = {
    m.kind: m for m in (CentroidModel, NearestPointModel, CoreModel, GaussianModel)
}
