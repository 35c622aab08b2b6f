"""From a customer table to the numeric matrix the clustering sees.

Steps, in this order, all learned at fit time and stored as plain numbers (see
:meth:`Preprocessor.to_dict`):

1. choose the columns (the rules of :mod:`toolkit.segments._columns`: ids, outcomes, constants,
   free text and dates stay out, flags and codes are categories, categories describe);
2. impute missing values (median for numbers, most frequent value for categories) or refuse;
3. ``log1p`` of heavily skewed non-negative numeric columns (sample skewness above
   ``skew_threshold``, 1.0 by default: the usual rule of thumb for "highly skewed");
4. one-hot encode categories (or refuse them);
5. scale every model column: ``minmax`` (to [0, 1]), ``standard`` (zero mean, unit variance),
   ``robust`` (median 0, inter-quartile range 1) or ``none``. A constant column is left unscaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from toolkit.errors import InputError
from toolkit.segments._columns import (
    LABEL_COLUMNS,
    ColumnPlan,
    age_days,
    category_text,
    id_columns,
    plan_columns,
)

__all__ = ["LABEL_COLUMNS", "Preprocessor", "fit_preprocessor", "id_columns"]
SCALES = ("minmax", "standard", "robust", "none")


def as_frame(X: Any) -> pd.DataFrame:
    """A DataFrame view of ``X``; arrays are checked like scikit-learn does (2-D, dense, real)
    and get the columns ``x0, x1, ...``."""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        if not all(isinstance(c, str) for c in X.columns):
            X = X.rename(columns=str)
        return X
    from sklearn.utils import check_array

    try:
        arr = check_array(X, accept_sparse=False, dtype=None, ensure_all_finite="allow-nan")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s) or isinstance(s.dtype, pd.PeriodDtype)


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def choose_columns(
    df: pd.DataFrame,
    columns: list[str] | None,
    *,
    categorical: str = "onehot",
    max_categories: int = 20,
    target: str | None = None,
    include_categorical: bool = False,
) -> ColumnPlan:
    """Pick the clustering inputs and the describing categories, each with its reason.

    Given ``columns`` are checked (each must exist, none may be an id or a date, categories only
    with ``categorical="onehot"``); the table's other categories still describe the segments.
    Without them, the rules of :func:`toolkit.segments._columns.plan_columns` decide.
    """
    available = [str(c) for c in df.columns]
    if not columns:
        plan = plan_columns(
            df,
            target=target,
            include_categorical=include_categorical,
            categorical=categorical,
            max_categories=max_categories,
        )
        if not plan.numeric and not plan.categorical:
            listed = "; ".join(f"{c!r}: {r}" for c, r in plan.reasons.items())
            raise InputError(
                "no usable clustering columns: every column is an id, an outcome, constant, "
                f"free text or a date ({listed}); name the columns with columns=[...] / --columns"
            )
        return plan
    ids = id_columns(df)
    plan = ColumnPlan()
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"not found in the data; available columns: {', '.join(map(repr, available))}"
        )
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise InputError(f"columns must be listed once each, got {dupes!r} more than once")
    for col in columns:
        s = df[col]
        if col in ids:
            raise InputError(
                f"column {col!r} holds customer ids (one distinct value per row) and is "
                "never used as a clustering feature; choose other columns"
            )
        if _is_datetime(s):
            raise InputError(
                f"column {col!r} holds dates; segmenting on raw dates is not supported: "
                "use a derived number such as recency_days or tenure_days"
            )
        if _is_numeric(s):
            plan.numeric.append(col)
            plan.reasons[col] = "given with --columns (columns=); clustered"
        elif categorical == "refuse":
            raise InputError(
                f"column {col!r} is categorical ({s.dtype}) and categorical='refuse' "
                "(--categorical refuse); use categorical='onehot' to one-hot encode it "
                "or leave it out"
            )
        else:
            n_levels = s.nunique(dropna=True)
            if n_levels > max_categories:
                raise InputError(
                    f"column {col!r} is categorical with {n_levels} distinct values; "
                    f"one-hot encoding allows at most max_categories={max_categories}"
                )
            plan.categorical.append(col)
            plan.reasons[col] = "given with --columns (columns=); clustered (one-hot)"
    # the table's categories (text, flags, codes) still describe the segments
    rules = plan_columns(df, target=target, categorical="onehot", max_categories=max_categories)
    for col in map(str, df.columns):
        if col in plan.reasons:
            continue
        if col in rules.describe or col in rules.categorical:
            plan.describe.append(col)
            if col in rules.codes:
                plan.codes.append(col)
            plan.reasons[col] = "not in --columns; describes the segments (shares in profiles.csv)"
        else:
            plan.skipped.append(col)
            plan.reasons[col] = "not in --columns; left out"
    return plan


@dataclass
class Preprocessor:
    """Learned preprocessing, stored as plain numbers (JSON-serialisable)."""

    numeric: list[str]
    categorical: list[str]
    impute_values: dict[str, Any]
    n_imputed: dict[str, int]
    log_columns: list[str]
    skewness: dict[str, float]
    categories: dict[str, list[str]]
    scale: str
    offset: list[float]
    divisor: list[float]
    impute: bool = True
    skipped: list[str] = field(default_factory=list)
    #: categories that describe the segments without clustering them, and their values
    describe: list[str] = field(default_factory=list)
    describe_categories: dict[str, list[str]] = field(default_factory=dict)
    #: derived age column -> [source date column, reference date]
    ages: dict[str, list[str]] = field(default_factory=dict)
    #: numeric columns read as categories (0/1 flags, codes)
    codes: list[str] = field(default_factory=list)
    #: every column of the fitted table: what the column rules decided, and why
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def model_columns(self) -> list[str]:
        """The clustering columns, numeric first then categorical (derived ages by their name)."""
        return self.numeric + self.categorical

    @property
    def columns(self) -> list[str]:
        """The table columns the segmenter reads (a derived age reads its date column)."""
        seen: dict[str, None] = {}
        for col in self.model_columns:
            seen[self.ages[col][0] if col in self.ages else col] = None
        return list(seen)

    def values(self, df: pd.DataFrame, col: str) -> pd.Series:
        """Column ``col`` of ``df`` as the segmenter reads it (a derived age computed)."""
        if col in self.ages:
            source, reference = self.ages[col]
            return pd.Series(age_days(df[source], reference), index=df.index, name=col)
        if col in self.codes:
            return category_text(df[col])
        return df[col]

    @property
    def feature_names(self) -> list[str]:
        """Names of the model columns (one-hot columns are ``column=value``)."""
        return self.numeric + [f"{c}={v}" for c in self.categorical for v in self.categories[c]]

    # --- transform ---------------------------------------------------------------------------
    def unscaled(self, df: pd.DataFrame, *, impute: bool | None = None) -> np.ndarray:
        """Imputed, log-transformed and one-hot encoded matrix, before scaling."""
        impute = self.impute if impute is None else impute
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise InputError(
                f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                "used by the segmenter not found in the data; available columns: "
                f"{', '.join(map(repr, map(str, df.columns)))}"
            )
        if not impute:
            refuse_missing(df, self.columns)
        n = len(df)
        blocks: list[np.ndarray] = []
        if self.numeric:
            num = np.empty((n, len(self.numeric)), dtype=np.float64)
            for j, col in enumerate(self.numeric):
                values = _numeric_values(self.values(df, col), col)
                nan = np.isnan(values)
                if nan.any():
                    values = np.where(nan, float(self.impute_values[col]), values)
                if col in self.log_columns:
                    values = np.log1p(np.clip(values, 0.0, None))
                num[:, j] = values
            blocks.append(num)
        for col in self.categorical:
            s = category_text(df[col])
            s = s.fillna(str(self.impute_values[col]))
            cats = self.categories[col]
            codes = pd.Index(cats).get_indexer(s.to_numpy(dtype=object))  # unknown -> -1
            onehot = np.zeros((n, len(cats)), dtype=np.float64)
            ok = codes >= 0
            onehot[np.flatnonzero(ok), codes[ok]] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def scale_matrix(self, raw: np.ndarray) -> np.ndarray:
        """Scale an :meth:`unscaled` matrix (in place when it is float64)."""
        raw -= np.asarray(self.offset)
        raw /= np.asarray(self.divisor)
        return raw

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """The scaled model matrix."""
        return self.scale_matrix(self.unscaled(df))

    # --- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "impute_values": self.impute_values,
            "n_imputed": self.n_imputed,
            "log_columns": self.log_columns,
            "skewness": self.skewness,
            "categories": self.categories,
            "scale": self.scale,
            "offset": self.offset,
            "divisor": self.divisor,
            "impute": self.impute,
            "skipped": self.skipped,
            "describe": self.describe,
            "describe_categories": self.describe_categories,
            "ages": self.ages,
            "codes": self.codes,
            "reasons": self.reasons,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """Inverse of :meth:`to_dict`; a dict whose scaling does not fit its columns (edited by
        hand) is a ValueError."""
        prep = cls(
            numeric=[str(c) for c in d["numeric"]],
            categorical=[str(c) for c in d["categorical"]],
            impute_values=dict(d["impute_values"]),
            n_imputed={str(k): int(v) for k, v in d["n_imputed"].items()},
            log_columns=[str(c) for c in d["log_columns"]],
            skewness={str(k): float(v) for k, v in d.get("skewness", {}).items()},
            categories={str(k): [str(v) for v in vs] for k, vs in d["categories"].items()},
            scale=str(d["scale"]),
            offset=[float(v) for v in d["offset"]],
            divisor=[float(v) for v in d["divisor"]],
            impute=bool(d.get("impute", True)),
            skipped=[str(c) for c in d.get("skipped", [])],
            describe=[str(c) for c in d.get("describe", [])],
            describe_categories={
                str(k): [str(v) for v in vs] for k, vs in d.get("describe_categories", {}).items()
            },
            ages={str(k): [str(v[0]), str(v[1])] for k, v in d.get("ages", {}).items()},
            codes=[str(c) for c in d.get("codes", [])],
            reasons={str(k): str(v) for k, v in d.get("reasons", {}).items()},
        )
        width = len(prep.feature_names)
        if len(prep.offset) != width or len(prep.divisor) != width:
            raise ValueError(
                f"the scaling has {len(prep.offset)} offsets and {len(prep.divisor)} divisors "
                f"for {width} model columns"
            )
        return prep


def _numeric_values(s: pd.Series, col: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(s):
        conv = pd.to_numeric(s, errors="coerce")
        bad = conv.isna() & s.notna()
        if bad.any():
            raise InputError(
                f"column {col!r} must be numeric; found non-numeric values such as "
                f"{s[bad].iloc[0]!r}"
            )
        s = conv
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def refuse_missing(df: pd.DataFrame, columns: list[str]) -> None:
    """Raise :class:`InputError` naming every column with missing values."""
    counts = {c: int(df[c].isna().sum()) for c in columns}
    bad = {c: n for c, n in counts.items() if n}
    if bad:
        listed = ", ".join(f"{c!r} ({n} missing)" for c, n in bad.items())
        raise InputError(
            f"missing values in {listed} and impute=False (--no-impute); impute them "
            "(impute=True / --impute) or drop those rows first"
        )


def fit_preprocessor(
    df: pd.DataFrame,
    columns: list[str] | None,
    *,
    scale: str = "minmax",
    log_skewed: bool = True,
    impute: bool = True,
    categorical: str = "onehot",
    skew_threshold: float = 1.0,
    max_categories: int = 20,
    target: str | None = None,
    include_categorical: bool = False,
) -> Preprocessor:
    """Learn the preprocessing of ``df``.

    ``target`` names an outcome column to leave out; ``include_categorical`` clusters the
    categories (one-hot) instead of only describing the segments with them.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b", "c"], "x": [0.0, 5.0, 10.0]})
    >>> p = fit_preprocessor(df, None, scale="minmax")
    >>> p.columns, p.transform(df).ravel().tolist()
    (['x'], [0.0, 0.5, 1.0])
    """
    plan = choose_columns(
        df,
        columns,
        categorical=categorical,
        max_categories=max_categories,
        target=target,
        include_categorical=include_categorical,
    )
    numeric, cats = plan.numeric, plan.categorical
    ages = {k: [v[0], v[1]] for k, v in plan.ages.items()}
    if not impute:
        refuse_missing(
            df, list(dict.fromkeys(ages[c][0] if c in ages else c for c in numeric + cats))
        )
    impute_values: dict[str, Any] = {}
    n_imputed: dict[str, int] = {}
    skewness: dict[str, float] = {}
    log_columns: list[str] = []
    for col in numeric:
        source = df[col] if col not in ages else age_days(df[ages[col][0]], ages[col][1])
        values = _numeric_values(pd.Series(source), col)
        infinite = np.isinf(values)
        if infinite.any():
            raise InputError(
                f"column {col!r} has {int(infinite.sum()):,} infinite value(s) (first in row "
                f"{int(np.argmax(infinite)) + 1}); segments need finite numbers: fix or drop them, "
                "or leave the column out with --columns"
            )
        ok = values[~np.isnan(values)]
        if ok.size == 0:
            raise InputError(f"column {col!r} has no values (every row is missing)")
        n_imputed[col] = int(values.size - ok.size)
        impute_values[col] = float(np.median(ok))
        skew = float(pd.Series(ok).skew()) if ok.size > 2 else 0.0
        skewness[col] = 0.0 if np.isnan(skew) else round(skew, 6)
        if (
            log_skewed
            and ok.min() >= 0
            and np.unique(ok[: min(ok.size, 100_000)]).size > 2
            and skewness[col] > skew_threshold
        ):
            log_columns.append(col)
    categories: dict[str, list[str]] = {}
    for col in cats:
        s = category_text(df[col])
        counts = s.value_counts(dropna=True)
        if counts.empty:
            raise InputError(f"column {col!r} has no values (every row is missing)")
        top = counts.max()
        impute_values[col] = sorted(str(v) for v in counts.index[counts == top])[0]
        n_imputed[col] = int(s.isna().sum())
        categories[col] = sorted(str(v) for v in counts.index)
    prep = Preprocessor(
        numeric=numeric,
        categorical=cats,
        impute_values=impute_values,
        n_imputed=n_imputed,
        log_columns=log_columns,
        skewness=skewness,
        categories=categories,
        scale=scale,
        offset=[],
        divisor=[],
        impute=impute,
        skipped=plan.skipped,
        describe=plan.describe,
        describe_categories={
            c: sorted(str(v) for v in category_text(df[c]).dropna().unique()) for c in plan.describe
        },
        ages=ages,
        codes=plan.codes,
        reasons=plan.reasons,
    )
    raw = prep.unscaled(df, impute=True)
    offset, divisor = _scale_params(raw, scale)
    prep.offset = offset.tolist()
    prep.divisor = divisor.tolist()
    return prep


def _scale_params(raw: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray]:
    d = raw.shape[1]
    if scale == "none":
        return np.zeros(d), np.ones(d)
    if scale == "minmax":
        lo, hi = raw.min(axis=0), raw.max(axis=0)
        offset, divisor = lo, hi - lo
    elif scale == "standard":
        offset, divisor = raw.mean(axis=0), raw.std(axis=0)
    elif scale == "robust":
        q1, med, q3 = np.percentile(raw, [25, 50, 75], axis=0)
        offset, divisor = med, q3 - q1
    else:  # pragma: no cover - validated by the estimator
        raise InputError(f"scale must be one of {SCALES}, got {scale!r}")
    divisor = np.where(divisor > 0, divisor, 1.0)
    return offset.astype(np.float64), divisor.astype(np.float64)
