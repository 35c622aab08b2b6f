"""The :class:`Segmenter` estimator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from toolkit.errors import InputError
from toolkit.segments._columns import category_text
from toolkit.segments._history import (
    LAPSED_RATIO,
    overdue_ratios,
    segment_overdue,
    short_history,
)
from toolkit.segments._methods import (
    COVARIANCE_TYPES,
    LINKAGES,
    METHODS,
    RULES,
    RUNNERS,
    Context,
    indices,
    kmeans_full,
    sample_rows,
    stability,
)
from toolkit.segments._models import CentroidModel, GaussianModel, Model
from toolkit.segments._names import (
    NOISE_NAME,
    SINCE_LAST,
    describe_terms,
    distinctiveness,
    lifetimes_pair,
    name_segments,
    neutral_names,
    rfm_roles,
)
from toolkit.segments._persist import load_segmenter, save_segmenter
from toolkit.segments._playbook import SHORT_HISTORY, playbook_roles, suggest
from toolkit.segments._prep import SCALES, Preprocessor, as_frame, fit_preprocessor
from toolkit.segments._profiles import profile_table

SELECTION_SILHOUETTE = 2000  # silhouette rows per k when the input exceeds sample_size


def parse_k_range(value: Any) -> tuple[int, int]:
    """``(2, 10)``, ``[2, 10]`` or ``"2..10"`` -> ``(2, 10)``; raises :class:`InputError`.

    Examples
    --------
    >>> parse_k_range("3..8")
    (3, 8)
    """
    if isinstance(value, str):
        parts = value.replace("-", "..").split("..")
        parts = [p for p in parts if p.strip()]
        try:
            lo, hi = (int(p) for p in parts)
        except ValueError:
            raise InputError(
                f"k_range (--k-range) must look like 2..10 (two whole numbers), got {value!r}"
            ) from None
    else:
        try:
            lo, hi = (int(v) for v in value)
        except (TypeError, ValueError):
            raise InputError(
                f"k_range (--k-range) must be two whole numbers such as (2, 10), got {value!r}"
            ) from None
    if not 2 <= lo <= hi:
        raise InputError(f"k_range (--k-range) must satisfy 2 <= low <= high, got {lo}..{hi}")
    return lo, hi


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    value = getattr(value, "value", value)  # str Enums from the CLI
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


class Segmenter(ClusterMixin, BaseEstimator):
    """Customer segmentation that picks its own parameters, profiles and names the segments.

    Parameters
    ----------
    method : {"kmeans", "dbscan", "hierarchical", "gmm"}
        Clustering algorithm.
    k : "auto" or int
        Number of segments; ``"auto"`` chooses it over ``k_range`` from the evidence (see
        :mod:`toolkit.segments._methods` for the rules). Not used by DBSCAN.
    k_range : (int, int) or str
        Inclusive range of k tried by ``k="auto"``, e.g. ``(2, 10)`` or ``"2..10"``.
    columns : list of str, optional
        Clustering columns. Default: the column rules of :mod:`toolkit.segments._columns` (ids,
        outcomes, constant and near-constant columns, free text and dates stay out; signup dates
        become an age in days; 0/1 flags, codes and text categories describe the segments; the
        behavioural numbers cluster). The decision on every column and its reason are in
        ``preprocessor_.reasons``.
    scale : {"minmax", "standard", "robust", "none"}
        Scaling of the model columns.
    log_skewed : bool
        ``log1p`` numeric columns that are non-negative with sample skewness > ``skew_threshold``.
    impute : bool
        Impute missing values (median / most frequent) or refuse them with :class:`InputError`.
    categorical : {"onehot", "refuse"}
        One-hot encode text/category columns, or refuse them when they are asked for.
    sample_size : int
        Above this many rows, parameters are chosen on a seeded sample of this size (see Notes
        for how the other rows are then handled).
    random_state : int
        Seed of every random step (same data + seed, same segments and names).
    n_init : "auto" or int
        k-means restarts; ``"auto"``: 10 up to 10,000 rows evaluated, else 3.
    n_bootstrap : int
        Bootstrap resamples for the stability (adjusted Rand index); 0 skips it.
    silhouette_size : int
        Silhouette uses every row up to this many, else a seeded sample of this size. When the
        input exceeds ``sample_size``, each k of the search uses 2,000 rows of the sample.
    linkage : {"auto", "ward", "average", "complete", "single"}
        Hierarchical linkage; ``"auto"`` compares Ward and average linkage.
    linkage_size : int
        Hierarchical clustering is fitted on at most this many rows (its memory is quadratic);
        the rest go to the segment of their nearest fitted neighbour.
    covariance_type : {"auto", "full", "tied", "diag", "spherical"}
        Gaussian mixture covariance; ``"auto"`` compares all four by BIC.
    eps : "auto" or float
        DBSCAN neighbourhood radius; ``"auto"``: knee of the k-distance curve.
    min_samples : int, optional
        DBSCAN core-point size; default 2 x number of model columns.
    skew_threshold : float
        Skewness above which a non-negative column is log-transformed (default 1.0).
    max_categories : int
        Most distinct values a one-hot column may have.
    target : str, optional
        An outcome column (the ``--target`` of ``toolkit train``): never a clustering input.
    include_categorical : bool
        Cluster on the categories too (one-hot) instead of only describing the segments.

    Attributes
    ----------
    labels_ : ndarray of int
        Segment of every fitted row (0 = largest segment; -1 = DBSCAN noise).
    n_segments_ : int
        Number of segments (noise not counted).
    names_ : dict of int to str
        Segment names (``-1``: "outliers / noise").
    actions_ : dict of int to (str, str, str)
        The playbook's suggestion per segment: rule, action, evidence (heuristics, see
        :mod:`toolkit.segments._playbook`).
    profiles_ : DataFrame
        Size, share, mean, median and ratio to the overall mean of every input column.
    metrics_ : dict
        Indices of the chosen solution, stability, the rule and reason, sampling facts.
    selection_ : DataFrame
        The evidence table (one row per k / linkage / covariance type / eps candidate).
    preprocessor_ : Preprocessor
        The learned imputation, log, one-hot and scaling, as plain numbers.
    model_ : object
        What assigns new rows: centroids, fitted points, core points or mixture parameters.

    Notes
    -----
    Large inputs (more than ``sample_size`` rows): k is chosen on a seeded sample; k-means is then
    fitted on every row starting from the sample's centroids (one Lloyd run, which is what keeps
    1M rows fast); the Gaussian mixture, hierarchical clustering and DBSCAN are fitted on the
    sample and the other rows assigned (most probable component / nearest fitted point / nearest
    core point within eps). ``metrics_["sampled"]`` says so.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((20, 2)), np.full((20, 2), 10.0)] + np.arange(40)[:, None] % 3
    >>> seg = Segmenter(k=2, n_bootstrap=0).fit(X)
    >>> seg.n_segments_, sorted(np.bincount(seg.labels_).tolist())
    (2, [20, 20])
    """

    def __init__(
        self,
        method: str = "kmeans",
        k: int | str = "auto",
        k_range: Any = (2, 10),
        columns: list[str] | None = None,
        scale: str = "minmax",
        log_skewed: bool = True,
        impute: bool = True,
        categorical: str = "onehot",
        sample_size: int = 20_000,
        random_state: int = 0,
        n_init: int | str = "auto",
        n_bootstrap: int = 5,
        silhouette_size: int = 5000,
        linkage: str = "auto",
        linkage_size: int = 5000,
        covariance_type: str = "auto",
        eps: float | str = "auto",
        min_samples: int | None = None,
        skew_threshold: float = 1.0,
        max_categories: int = 20,
        target: str | None = None,
        include_categorical: bool = False,
    ) -> None:
        self.method = method
        self.k = k
        self.k_range = k_range
        self.columns = columns
        self.scale = scale
        self.log_skewed = log_skewed
        self.impute = impute
        self.categorical = categorical
        self.sample_size = sample_size
        self.random_state = random_state
        self.n_init = n_init
        self.n_bootstrap = n_bootstrap
        self.silhouette_size = silhouette_size
        self.linkage = linkage
        self.linkage_size = linkage_size
        self.covariance_type = covariance_type
        self.eps = eps
        self.min_samples = min_samples
        self.skew_threshold = skew_threshold
        self.max_categories = max_categories
        self.target = target
        self.include_categorical = include_categorical

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # --- parameters ------------------------------------------------------------------------------
    def _checked(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "method": _choice("method", self.method, METHODS),
            "scale": _choice("scale", self.scale, SCALES),
            "categorical": _choice("categorical", self.categorical, ("onehot", "refuse")),
            "linkage": _choice("linkage", self.linkage, ("auto", *LINKAGES, "complete", "single")),
            "covariance_type": _choice(
                "covariance_type", self.covariance_type, ("auto", *COVARIANCE_TYPES)
            ),
            "k_range": parse_k_range(self.k_range),
        }
        k = self.k
        if isinstance(k, str) and k.strip().lower() == "auto":
            p["k"] = None
        else:
            try:
                p["k"] = int(k)
                if isinstance(k, float | np.floating) and k != int(k):
                    raise ValueError
            except (TypeError, ValueError):
                raise InputError(
                    f"k (--k) must be 'auto' or a whole number >= 2, got {k!r}"
                ) from None
            if p["k"] < 2:
                raise InputError(f"k (--k) must be 'auto' or a whole number >= 2, got {k!r}")
        for name in ("sample_size", "silhouette_size", "linkage_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 10:
                cli = " (--sample-size)" if name == "sample_size" else ""
                raise InputError(f"{name}{cli} must be a whole number >= 10, got {value!r}")
        if not isinstance(self.n_bootstrap, int | np.integer) or self.n_bootstrap < 0:
            raise InputError(f"n_bootstrap must be a whole number >= 0, got {self.n_bootstrap!r}")
        if self.n_init != "auto" and (
            not isinstance(self.n_init, int | np.integer) or self.n_init < 1
        ):
            raise InputError(f"n_init must be 'auto' or a whole number >= 1, got {self.n_init!r}")
        eps = self.eps
        if isinstance(eps, str):
            if eps != "auto":
                raise InputError(f"eps must be 'auto' or a positive number, got {eps!r}")
            p["eps"] = None
        else:
            if not eps > 0:
                raise InputError(f"eps must be 'auto' or a positive number, got {eps!r}")
            p["eps"] = float(eps)
        if self.min_samples is not None and (
            not isinstance(self.min_samples, int | np.integer) or self.min_samples < 1
        ):
            raise InputError(f"min_samples must be a whole number >= 1, got {self.min_samples!r}")
        if isinstance(self.columns, str):
            p["columns"] = [c.strip() for c in self.columns.split(",") if c.strip()]
        else:
            p["columns"] = list(self.columns) if self.columns is not None else None
        return p

    # --- fit -------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> Segmenter:
        """Choose the parameters, fit, profile and name the segments.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_customers, n_columns)
        y : ignored

        Returns
        -------
        self
        """
        p = self._checked()
        df = as_frame(X)
        self._set_input_info(X, df)
        if len(df) < 3:
            raise InputError(
                f"segmentation needs at least 3 customers (rows), got {len(df)} sample"
                + ("s" if len(df) != 1 else "")
            )
        prep = fit_preprocessor(
            df,
            p["columns"],
            scale=p["scale"],
            log_skewed=bool(self.log_skewed),
            impute=bool(self.impute),
            categorical=p["categorical"],
            skew_threshold=float(self.skew_threshold),
            max_categories=int(self.max_categories),
            target=self.target,
            include_categorical=bool(self.include_categorical),
        )
        Xm = prep.transform(df)
        n = len(Xm)
        if p["k"] is not None and p["k"] >= n and p["method"] != "dbscan":
            raise InputError(
                f"k (--k) must be smaller than the number of customers ({n}), got {p['k']}"
            )
        seed = int(self.random_state)
        eval_rows = sample_rows(n, int(self.sample_size), seed)
        res, ari, ari_sd = self._choose(Xm[eval_rows], p, seed, sampled=n > self.sample_size)
        model, raw = self._assign_everyone(Xm, eval_rows, res, p["method"])
        seg_of_raw = _relabel_by_size(raw)
        labels = np.where(raw >= 0, seg_of_raw[np.maximum(raw, 0)], -1)
        segments = sorted(int(s) for s in np.unique(labels) if s >= 0)
        z, names, actions, naming = self._describe(df, prep, Xm, labels, segments)

        self.preprocessor_: Preprocessor = prep
        self.model_: Model = model
        self.segment_of_raw_ = seg_of_raw
        self.labels_ = labels.astype(np.int64)
        self.n_segments_ = len(segments)
        self.names_ = {int(s): names[s] for s in sorted(names)}
        self.actions_ = {int(s): actions[s] for s in segments}
        self.distinctiveness_ = z
        self.selection_ = res.selection
        self.params_ = res.params
        self.extra_ = res.extra
        self.profiles_ = profile_table(
            df,
            prep,
            self.labels_,
            self.names_,
            {s: a[1] for s, a in self.actions_.items()},
            naming.pop("overdue_by_segment", None),
        )
        self.metrics_ = self._metrics(Xm, raw, model, res, p, (ari, ari_sd), len(eval_rows))
        self.metrics_["naming"] = naming
        return self

    def _choose(
        self, Xe: np.ndarray, p: dict[str, Any], seed: int, *, sampled: bool
    ) -> tuple[Any, float | None, float | None]:
        """Choose the parameters on the evaluation rows ``Xe``; the run's result and the
        bootstrap stability (ARI and its spread) of its labels."""
        n_init = self.n_init if self.n_init != "auto" else (10 if len(Xe) <= 10_000 else 3)
        ctx = Context(
            k=p["k"],
            k_range=p["k_range"],
            random_state=seed,
            n_init=int(n_init),
            # large inputs: each k's silhouette on 2,000 rows (the final one on silhouette_size)
            sil_idx=sample_rows(
                len(Xe),
                min(int(self.silhouette_size), SELECTION_SILHOUETTE)
                if sampled
                else int(self.silhouette_size),
                seed + 1,
            ),
            eps=p["eps"],
            min_samples=self.min_samples,
            linkage=p["linkage"],
            covariance_type=p["covariance_type"],
            linkage_size=int(self.linkage_size),
        )
        # OpenMP threads spin-wait badly when cores are shared, and the evaluation matrix is at
        # most sample_size rows: one thread is faster here (measured: 1.5 s vs 10.6 s for one
        # KMeans on 20k rows with other jobs running on the 2 cores)
        with threadpool_limits(limits=1):
            res = RUNNERS[p["method"]](Xe, ctx)
            stab_rows = res.fit_rows if res.fit_rows is not None else np.arange(len(Xe))
            ari, ari_sd = stability(
                Xe[stab_rows], res.labels[stab_rows], res.refit, int(self.n_bootstrap), seed + 101
            )
        if p["k"] is None and p["method"] != "dbscan":
            top = res.params.get("k")
            if top is not None and top == min(p["k_range"][1], len(Xe) - 1) > p["k_range"][0]:
                res.reason += (
                    f" Note: k={top} is the top of the range searched; a wider --k-range "
                    "(k_range) may find a better k."
                )
        return res, ari, ari_sd

    @staticmethod
    def _assign_everyone(
        Xm: np.ndarray, eval_rows: np.ndarray, res: Any, method: str
    ) -> tuple[Model, np.ndarray]:
        """Every row's raw label (-1 = noise): the evaluation rows' own, the others assigned by
        the fitted model (k-means is refined on every row); empty components pruned."""
        n = len(Xm)
        model: Model = res.model
        if len(eval_rows) == n:
            raw = res.labels
        elif isinstance(model, CentroidModel):
            model, raw, _ = kmeans_full(Xm, model.centroids)
        else:
            raw = np.empty(n, dtype=np.int64)
            raw[eval_rows] = res.labels
            rest = np.setdiff1d(np.arange(n), eval_rows)
            raw[rest] = model.assign(Xm[rest])
        model, raw = _prune_empty_components(model, raw)
        if not (raw >= 0).any():
            raise InputError(
                f"{method} found no segment in {n:,} rows: every row is noise (too few "
                "rows, or no dense group); try another --method such as kmeans"
            )
        return model, raw

    @staticmethod
    def _describe(
        df: pd.DataFrame,
        prep: Preprocessor,
        Xm: np.ndarray,
        labels: np.ndarray,
        segments: list[int],
    ) -> tuple[pd.DataFrame, dict[int, str], dict[int, Any], dict[str, Any]]:
        """What sets each segment apart (standardised differences), its name, its action, and
        how the names were chosen (``naming``: by behaviour or neutral for a short history, the
        segments that have gone quiet; see :mod:`toolkit.segments._history`)."""
        feats = prep.feature_names
        # standardised differences do not change under the (positive, per-column) scaling
        z = distinctiveness(Xm, labels, feats, segments)
        groups = {c: [c] for c in prep.numeric}
        groups.update({c: [f"{c}={v}" for v in prep.categories[c]] for c in prep.categorical})
        roles = rfm_roles(prep.numeric)
        z_names = z
        pair = lifetimes_pair(prep.numeric)
        if "recency" not in roles and pair is not None and segments:
            # lifetimes convention: time since the last purchase is T - recency
            since = (
                pd.to_numeric(df[pair[1]], errors="coerce")
                - pd.to_numeric(df[pair[0]], errors="coerce")
            ).to_numpy(dtype=np.float64, na_value=np.nan)
            since = np.where(np.isnan(since), np.nanmedian(since), since)
            extra = distinctiveness(since[:, None], labels, [SINCE_LAST], segments)
            z_names = pd.concat([z, extra], axis=1)
            roles["recency"] = SINCE_LAST
        ratios = overdue_ratios(df)
        overdue = segment_overdue(ratios, labels, segments) if ratios is not None else None
        quiet = {s for s, (median, _) in (overdue or {}).items() if median > LAPSED_RATIO}
        naming: dict[str, Any] = {
            "basis": "behaviour",
            "reason": None,
            "lapsed_ratio": LAPSED_RATIO if overdue is not None else None,
            "gone_quiet": sorted(quiet),
            "overdue_by_segment": overdue,
        }
        short = short_history(df) if segments else None
        if short is not None:
            naming.update(basis="neutral (short history)", reason=short)
            names = neutral_names(df, labels, segments)
            actions = {s: (SHORT_HISTORY.name, SHORT_HISTORY.action, short) for s in segments}
        else:
            terms = describe_terms(*_category_shares(df, prep, labels, segments))
            names = name_segments(z_names, groups, roles, terms, quiet) if segments else {}
            # the playbook reads the numbers in their own units' distinctiveness (z_names)
            play_roles = playbook_roles(prep.numeric, roles)
            actions = {
                s: suggest(z_names.loc[s], play_roles, (overdue or {}).get(s, (None,))[0])
                for s in segments
            }
        if (labels < 0).any():
            names[-1] = NOISE_NAME
        return z, names, actions, naming

    def _metrics(
        self,
        Xm: np.ndarray,
        raw: np.ndarray,
        model: Model,
        res: Any,
        p: dict[str, Any],
        stability_ari: tuple[float | None, float | None],
        n_evaluated: int,
    ) -> dict[str, Any]:
        """The fit's metrics.json: the indices on a sample, the choice and how it was made."""
        n, d = Xm.shape
        labels = self.labels_
        seed = int(self.random_state)
        sil_rows = sample_rows(n, int(self.silhouette_size), seed + 2)
        ix = indices(Xm, labels, sil_rows, keep_samples=True)
        if "silhouette_rows" in ix:
            self.extra_["silhouette_rows"] = ix["silhouette_rows"]
            self.extra_["silhouette_values"] = ix["silhouette_values"]
        fitted_n = len(res.fit_rows) if res.fit_rows is not None else n_evaluated
        metrics: dict[str, Any] = {
            "method": p["method"],
            "k": self.n_segments_,
            "silhouette": ix["silhouette"],
            "calinski_harabasz": ix["calinski_harabasz"],
            "davies_bouldin": ix["davies_bouldin"],
        }
        if isinstance(model, CentroidModel):
            metrics["inertia"] = _inertia(Xm, raw, model.centroids)
        if p["method"] == "dbscan":
            metrics["n_noise"] = int((labels < 0).sum())
            metrics["noise_share"] = float((labels < 0).mean())
        metrics.update(
            {
                "stability_ari": stability_ari[0],
                "stability_ari_sd": stability_ari[1],
                "n_bootstrap": int(self.n_bootstrap),
                "params": res.params,
                "reason": res.reason,
                "rule": RULES[p["method"]],
                "n": n,
                "n_features": d,
                "features": self.preprocessor_.feature_names,
                "sampled": bool(n_evaluated < n or fitted_n < n),
                "n_evaluated": int(n_evaluated),
                "n_fitted": int(n if isinstance(model, CentroidModel) else fitted_n),
                "silhouette_n": ix["silhouette_n"],
                "sampling": _sampling_note(
                    p["method"], n, n_evaluated, fitted_n, ix["silhouette_n"]
                ),
                "sizes": {self.names_[s]: int((labels == s).sum()) for s in self.names_},
                "selection": _records(res.selection),
            }
        )
        return metrics

    def _set_input_info(self, X: Any, df: pd.DataFrame) -> None:
        self.n_features_in_ = int(df.shape[1])
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    # --- use -------------------------------------------------------------------------------------
    def _frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        df = as_frame(X)
        if not isinstance(X, pd.DataFrame) and df.shape[1] != self.n_features_in_:
            raise InputError(
                f"X has {df.shape[1]} features, but Segmenter is expecting "
                f"{self.n_features_in_} features as input"
            )
        return df

    def encode(self, X: Any) -> np.ndarray:
        """The preprocessed, scaled matrix the clustering works on (rows x model columns).

        Examples
        --------
        >>> import pandas as pd
        >>> seg = Segmenter(k=2, n_bootstrap=0).fit(pd.DataFrame({"x": [0, 1, 9, 10]}))
        >>> seg.encode(pd.DataFrame({"x": [5]})).tolist()
        [[0.5]]
        """
        df = self._frame(X)  # checks that the segmenter is fitted
        return self.preprocessor_.transform(df)

    def predict(self, X: Any) -> np.ndarray:
        """Segment of each row of ``X`` (-1: DBSCAN noise).

        Examples
        --------
        >>> import pandas as pd
        >>> seg = Segmenter(k=2, n_bootstrap=0).fit(pd.DataFrame({"x": [0, 1, 1, 9, 10]}))
        >>> seg.predict(pd.DataFrame({"x": [0.5, 9.5]})).tolist()
        [0, 1]
        """
        X = self.encode(X)  # checks that the segmenter is fitted
        raw = self.model_.assign(X)
        return np.where(raw >= 0, self.segment_of_raw_[np.maximum(raw, 0)], -1).astype(np.int64)

    def predict_names(self, X: Any) -> np.ndarray:
        """Segment name of each row of ``X``."""
        return np.asarray([self.names_[int(s)] for s in self.predict(X)], dtype=object)

    # --- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the fitted segmenter as JSON + ``.npy`` arrays (no pickle) into ``directory``.

        Examples
        --------
        >>> import pandas as pd, tempfile
        >>> df = pd.DataFrame({"x": [0, 1, 9, 10]})
        >>> seg = Segmenter(k=2, n_bootstrap=0).fit(df)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     same = Segmenter.load(seg.save(d)).predict(df).tolist() == seg.predict(df).tolist()
        >>> same
        True
        """
        check_is_fitted(self, "model_")
        return save_segmenter(self, Path(directory))

    @classmethod
    def load(cls, directory: str | Path) -> Segmenter:
        """Load a segmenter written by :meth:`save`; checks every file's SHA-256, runs no code."""
        return load_segmenter(cls, Path(directory))


def _category_shares(
    df: pd.DataFrame, prep: Preprocessor, labels: np.ndarray, segments: list[int]
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
    """Share of every value of each describing category, per segment and overall."""
    shares: dict[str, pd.DataFrame] = {}
    overall: dict[str, pd.Series] = {}
    keep = labels >= 0
    for col in prep.describe:
        text = category_text(df[col]).to_numpy(dtype=object, na_value=None)[keep]
        table = pd.crosstab(pd.Series(labels[keep]), pd.Series(text), normalize="index")
        shares[col] = table.reindex(segments).fillna(0.0)
        overall[col] = pd.Series(text).value_counts(normalize=True)
    return shares, overall


def _prune_empty_components(model: Model, raw: np.ndarray) -> tuple[Model, np.ndarray]:
    """Drop mixture components that no customer belongs to (they would be empty segments)."""
    if not isinstance(model, GaussianModel):
        return model, raw
    used = np.unique(raw)
    if used.size == len(model.weights):
        return model, raw
    remap = np.full(len(model.weights), -1)
    remap[used] = np.arange(used.size)
    w = model.weights[used]
    pruned = GaussianModel(w / w.sum(), model.means[used], model.covariances[used])
    return pruned, remap[raw]


def _relabel_by_size(raw: np.ndarray) -> np.ndarray:
    """Map raw labels to segment numbers: largest first, ties by raw label (deterministic)."""
    valid = raw[raw >= 0]
    n_raw = int(valid.max()) + 1 if valid.size else 0
    counts = np.bincount(valid, minlength=n_raw)
    order = sorted(range(n_raw), key=lambda r: (-counts[r], r))
    seg_of_raw = np.empty(n_raw, dtype=np.int64)
    for new, old in enumerate(order):
        seg_of_raw[old] = new
    return seg_of_raw


def _inertia(X: np.ndarray, raw: np.ndarray, centroids: np.ndarray) -> float:
    total = 0.0
    for start in range(0, len(X), 200_000):
        part = X[start : start + 200_000] - centroids[raw[start : start + 200_000]]
        total += float(np.einsum("ij,ij->", part, part))
    return total


def _sampling_note(method: str, n: int, n_eval: int, n_fit: int, n_sil: int) -> str:
    notes = []
    if n_eval < n:
        what = {
            "kmeans": "k chosen on a seeded sample of {e:,} of {n:,} customers; final k-means "
            "fitted on all of them from the sample's centroids",
            "gmm": "mixture chosen and fitted on a seeded sample of {e:,} of {n:,} customers; "
            "the rest assigned to their most probable component",
            "hierarchical": "parameters chosen on a seeded sample of {e:,} of {n:,} customers",
            "dbscan": "DBSCAN fitted on a seeded sample of {e:,} of {n:,} customers; the rest "
            "assigned to the nearest core point within eps (else noise)",
        }[method]
        notes.append(what.format(e=n_eval, n=n))
    if method == "hierarchical" and n_fit < n:
        notes.append(
            f"linkage fitted on {n_fit:,} customers; the rest assigned to the segment of "
            "their nearest fitted customer"
        )
    if n_eval < n and method in ("kmeans", "hierarchical"):
        notes.append(f"the silhouette of each k on {min(n_sil, SELECTION_SILHOUETTE):,} of them")
    if n_sil and n_sil < n:
        notes.append(f"final silhouette computed on a seeded sample of {n_sil:,}")
    return "; ".join(notes) if notes else "all customers used"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
