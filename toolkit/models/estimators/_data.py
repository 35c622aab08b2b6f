"""Which columns of a features frame are model inputs, and how they become a numeric matrix.

A :class:`FeatureSchema` is learned once from the training frame and stored in the model
directory's manifest; every later frame is checked against it (missing or extra columns, wrong
types) before a model sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Columns of a features frame that are never model inputs: ids, dates, labels, bookkeeping.
NON_FEATURES = (
    "customer_id",
    "first_purchase",
    "last_purchase",
    "repeat_purchase",
    "holdout_spend",
    "origin",
    "cutoff",
)
#: Optional columns of the feature engine (``compute_features(..., btyd=True)``, the default of
#: ``toolkit features``): a frame may carry them even when the model was trained without them.
ENGINE_OPTIONAL = ("p_alive", "expected_purchases", "expected_value")
#: A text column with at most this many distinct values (and at most half the rows) is categorical.
MAX_LEVELS = 30


@dataclass
class FeatureSchema:
    """The model inputs of a features frame: numeric columns and categorical columns with levels.

    Attributes
    ----------
    numeric : list of str
        Numeric (and boolean) input columns, used as they are (booleans as 0/1).
    categorical : dict
        Categorical input column -> the levels kept (one-hot encoded; an unseen level encodes as
        all zeros).
    dtypes : dict
        Column -> dtype name in the training frame, for the manifest.
    ignored : list of str
        Columns of the training frame that are not inputs (ids, dates, labels, free text).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"customer_id": ["a", "b"], "x": [1.0, 2.0],
    ...                    "plan": pd.Categorical(["A", "B"])})
    >>> s = FeatureSchema.infer(df)
    >>> s.features, s.encoded_names
    (['x', 'plan'], ['x', 'plan=A', 'plan=B'])
    """

    numeric: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    # -- construction

    @classmethod
    def infer(cls, df: pd.DataFrame, *, exclude: tuple[str, ...] | list[str] = ()) -> FeatureSchema:
        """Learn the schema from a training frame; ``exclude`` adds non-input columns (a target)."""
        import pandas as pd

        skip = set(NON_FEATURES) | set(exclude)
        numeric: list[str] = []
        categorical: dict[str, list[str]] = {}
        ignored: list[str] = []
        for col in df.columns:
            s = df[col]
            name = str(col)
            if name in skip:
                ignored.append(name)
            elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                numeric.append(name)
            elif isinstance(s.dtype, pd.CategoricalDtype) or _is_texty(s):
                levels = _levels(s)
                if 0 < len(levels) and (
                    isinstance(s.dtype, pd.CategoricalDtype)
                    or s.nunique() <= min(MAX_LEVELS, max(2, len(s) // 2))
                ):
                    categorical[name] = levels
                else:
                    ignored.append(name)
            else:  # dates, timedeltas, anything else
                ignored.append(name)
        if not numeric and not categorical:
            raise InputError(
                "the data has no usable feature column (numeric or categorical); columns: "
                f"{[str(c) for c in df.columns]}"
            )
        dtypes = {str(c): str(df[c].dtype) for c in df.columns if str(c) not in ignored}
        return cls(numeric=numeric, categorical=categorical, dtypes=dtypes, ignored=ignored)

    # -- derived names

    @property
    def features(self) -> list[str]:
        """Input columns in model order (numeric first, then categorical)."""
        return [*self.numeric, *self.categorical]

    @property
    def encoded_names(self) -> list[str]:
        """Columns of :meth:`encode`'s matrix (one-hot columns named ``col=level``)."""
        out = list(self.numeric)
        for col, levels in self.categorical.items():
            out.extend(f"{col}={lev}" for lev in levels)
        return out

    @property
    def groups(self) -> np.ndarray:
        """Index into :attr:`features` of each encoded column (to add one-hot parts back up)."""
        idx = list(range(len(self.numeric)))
        for j, levels in enumerate(self.categorical.values()):
            idx.extend([len(self.numeric) + j] * len(levels))
        return np.asarray(idx, dtype=np.int64)

    # -- checking and encoding

    def check(self, df: pd.DataFrame, *, source: str = "the data") -> None:
        """Raise :class:`InputError` naming missing or extra input columns, or wrong types.

        Columns the training frame ignored (ids, dates, labels), :data:`NON_FEATURES` and the
        engine's optional :data:`ENGINE_OPTIONAL` columns may be present or absent.
        """
        import pandas as pd

        cols = [str(c) for c in df.columns]
        missing = [c for c in self.features if c not in cols]
        allowed = set(self.features) | set(self.ignored) | set(NON_FEATURES) | set(ENGINE_OPTIONAL)
        extra = [c for c in cols if c not in allowed]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"unexpected {extra}")
            raise InputError(
                f"{source} does not have the features the model was trained on: "
                + "; ".join(parts)
                + f" (the model expects {self.features})"
            )
        bad = [
            f"{c!r} ({df[c].dtype})"
            for c in self.numeric
            if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))
            and df[c].notna().any()
        ]
        if bad:
            raise InputError(
                f"{source}: these columns must be numeric, as when the model was trained: "
                + ", ".join(bad)
            )

    def numeric_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The numeric input columns as float64 (NaN for missing), in schema order."""
        import pandas as pd

        out = {}
        for c in self.numeric:
            s = df[c]
            if pd.api.types.is_bool_dtype(s):
                s = s.astype("float64")
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        return pd.DataFrame(out, index=df.index)

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """A float64 matrix with columns :attr:`encoded_names` (NaN kept for missing numbers)."""
        n = len(df)
        blocks = [self.numeric_frame(df).to_numpy(dtype=np.float64)] if self.numeric else []
        for col, levels in self.categorical.items():
            values = df[col].astype("string").fillna("\x00missing").to_numpy(dtype=object)
            onehot = np.zeros((n, len(levels)), dtype=np.float64)
            for j, lev in enumerate(levels):
                onehot[:, j] = values == lev
            blocks.append(onehot)
        if not blocks:
            return np.zeros((n, 0))
        return np.ascontiguousarray(np.hstack(blocks))

    # -- JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": {k: list(v) for k, v in self.categorical.items()},
            "dtypes": dict(self.dtypes),
            "ignored": list(self.ignored),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSchema:
        return cls(
            numeric=list(d["numeric"]),
            categorical={k: list(v) for k, v in d.get("categorical", {}).items()},
            dtypes=dict(d.get("dtypes", {})),
            ignored=list(d.get("ignored", [])),
        )


def _is_texty(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_string_dtype(s) or s.dtype == object)


def _levels(s: pd.Series) -> list[str]:
    """The most frequent levels (at most MAX_LEVELS), as text, most frequent first."""
    counts = s.astype("string").dropna().value_counts(sort=True)
    return [str(v) for v in counts.index[:MAX_LEVELS]]


def label_vector(df: pd.DataFrame, label: str) -> np.ndarray:
    """The 0/1 label column as int8, or an InputError naming the column and what it holds."""
    import pandas as pd

    if label not in df.columns:
        raise InputError(
            f"label column {label!r} is not in the features frame; columns: "
            f"{[str(c) for c in df.columns]}"
        )
    s = df[label]
    if s.isna().any():
        raise InputError(f"label column {label!r} has {int(s.isna().sum())} missing values")
    y = pd.to_numeric(s, errors="coerce")
    if y.isna().any() or not set(np.unique(y)).issubset({0, 1}):
        raise InputError(
            f"label column {label!r} must hold 0/1, got values {sorted(map(str, s.unique()))[:5]}"
        )
    return y.to_numpy(dtype=np.int8)


def check_classes(y: np.ndarray, what: str, *, minimum: int = 10) -> None:
    """Both classes must be present at least ``minimum`` times to train or evaluate."""
    n1 = int(np.sum(y == 1))
    n0 = int(np.sum(y == 0))
    if n1 < minimum or n0 < minimum:
        raise InputError(
            f"{what}: too few customers of one class to fit and evaluate a model "
            f"(positives {n1}, negatives {n0}; at least {minimum} of each are needed)"
        )
