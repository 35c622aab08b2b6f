"""Which columns of a customer table cluster, which describe, which are left out, and why.

The default rules, in this order (the first that applies decides; every decision is kept with its
reason, printed by ``toolkit segment`` and written to ``metrics.json``):

1. **id**: the customer-id column (and other unique id-named columns): left out.
2. **outcome**: the label columns of ``toolkit features --horizon``, the ``target`` given, and
   names that read as an outcome (churn, response, target, label, converted, accepted...,
   outcome, exited, attrition): left out, a segmentation must not be built on what it is later
   used to explain.
3. **empty / constant / near-constant**: no values, one value, or one value in at least
   :data:`NEAR_CONSTANT` of the rows: left out (nothing to separate customers on).
4. **date**: a date column (or text that parses as dates). Signup-like dates (signup, joined,
   registered, created, since, first ..., ``Dt_Customer``) become an age in days, counted back
   from the latest date in the column; other dates are left out.
5. **0/1 flag**: booleans and numbers taking only the values 0 and 1: a category.
6. **code**: whole numbers with at most :data:`MAX_CODE_VALUES` distinct values between 0 and
   :data:`MAX_CODE`, named like a code (channel, region, type, class, code, flag, group, status,
   category, tier, zone, area, gender, sex): a category.
7. **free text**: text with more than ``max_categories`` distinct values: left out (near-unique
   text such as names or e-mails is said so).
8. **category**: the remaining text columns.
9. **behaviour**: the remaining numbers (spend, counts, recency, frequency, income, age, RFM
   features): the clustering inputs.

By default the behavioural numbers cluster and the categories (text, flags and codes) describe the
segments; ``include_categorical`` makes them clustering inputs (one-hot) as well. When a table
has no behavioural number at all, its categories cluster (there is nothing else), and the reason
says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from toolkit.segments._io import ID_NAMES, find_id_column, norm_name

#: outcome columns written by ``toolkit features --horizon``: never clustering inputs
LABEL_COLUMNS = frozenset({"repeat_purchase", "holdout_spend"})
#: share of rows holding the most common value above which a column is "near-constant"
NEAR_CONSTANT = 0.99
#: a whole-number column named like a code, with at most this many values in 0..MAX_CODE, is one
MAX_CODE_VALUES = 20
MAX_CODE = 100
#: text with more distinct values than this share of its rows is near-unique (names, e-mails)
NEAR_UNIQUE = 0.5

_OUTCOME = re.compile(
    r"^(?:is)?(?:churn|churned|response|responded|target|label|converted|conversion|outcome|"
    r"exited|attrition|attrited|accepted\w*)$"
    r"|(?:churn|response|target|label|converted)$"
)
_CODE_WORDS = frozenset(
    {
        "channel",
        "region",
        "type",
        "class",
        "code",
        "flag",
        "group",
        "status",
        "category",
        "cat",
        "tier",
        "zone",
        "area",
        "gender",
        "sex",
    }
)
_SIGNUP = re.compile(r"signup|join|regist|created|since|dtcustomer|first|enrol|start|opened|acqui")
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%m-%d-%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d")


@dataclass
class ColumnPlan:
    """What the rules decided: the clustering inputs, the describing categories, the derived
    date ages and, for every column of the table, the decision and its reason."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    describe: list[str] = field(default_factory=list)
    #: derived column -> (source date column, reference date "YYYY-MM-DD")
    ages: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: numeric columns read as categories (flags and codes)
    codes: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def leave_out(self, col: str, reason: str) -> None:
        """Record that ``col`` is no input and why."""
        self.skipped.append(col)
        self.reasons[col] = reason


def _tokens(name: str) -> list[str]:
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return [t for t in re.split(r"[^0-9a-z]+", text.lower()) if t]


def is_outcome_name(name: str) -> bool:
    """Whether a column name reads as an outcome (churn, response, accepted_cmp1 ...).

    Examples
    --------
    >>> [is_outcome_name(c) for c in ("Response", "AcceptedCmp3", "is_churn", "Income")]
    [True, True, True, False]
    """
    return bool(_OUTCOME.search(norm_name(name)))


def is_code_name(name: str) -> bool:
    """Whether a column name reads as a code (``Channel``, ``region_code``, ``custType``)."""
    return any(t in _CODE_WORDS for t in _tokens(name)) or norm_name(name).endswith(
        ("code", "type", "class", "flag")
    )


def is_signup_name(name: str) -> bool:
    """Whether a date column's name reads as the start of the relationship."""
    return bool(_SIGNUP.search(norm_name(name)))


def category_text(s: pd.Series) -> pd.Series:
    """A category column as text; whole-number codes and booleans as ``"0"``, ``"1"``, ``"3"``.

    Examples
    --------
    >>> category_text(pd.Series([1.0, 3.0, None])).tolist()
    ['1', '3', <NA>]
    """
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        values = pd.to_numeric(s, errors="coerce").astype("Float64")
        whole = values.dropna()
        if (whole == whole.round()).all():
            return values.astype("Int64").astype("string")
        return values.astype("string")
    return s.astype("string")


def parse_dates(s: pd.Series) -> pd.Series | None:
    """A date column as datetimes; text parses when one format reads at least 95% of its values."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.dt.to_timestamp()
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    txt = s.astype("string").str.strip().dropna()
    if txt.empty or not txt.head(50).str.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
        return None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(txt, format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.95:
            return pd.to_datetime(s.astype("string").str.strip(), format=fmt, errors="coerce")
    return None


def age_days(s: pd.Series, reference: str) -> np.ndarray:
    """Days from each date of ``s`` to ``reference`` (missing dates stay missing)."""
    dates = parse_dates(s)
    if dates is None:
        dates = pd.to_datetime(s, errors="coerce")
    delta = pd.Timestamp(reference) - pd.to_datetime(dates)
    return (delta.dt.total_seconds() / 86_400.0).to_numpy(dtype=np.float64, na_value=np.nan)


def id_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding customer ids: never clustering features."""
    found = find_id_column(df)
    ids = [found] if found is not None else []
    for col in df.columns:
        if col not in ids and norm_name(col) in ID_NAMES and df[col].is_unique:
            ids.append(str(col))
    return ids


def _flat(s: pd.Series) -> str | None:
    """Why a column cannot separate customers (empty, constant, near-constant), else None."""
    present = s.dropna()
    if present.empty:
        return "empty: every value is missing"
    counts = present.astype("string").value_counts()
    if len(counts) == 1:
        return f"constant: every value is {counts.index[0]!r}"
    top = counts.iloc[0] / len(present)
    if top >= NEAR_CONSTANT:
        return (
            f"near-constant: {counts.index[0]!r} in {top:.1%} of the rows "
            f"(at least {NEAR_CONSTANT:.0%})"
        )
    return None


def plan_columns(
    df: pd.DataFrame,
    *,
    target: str | None = None,
    include_categorical: bool = False,
    categorical: str = "onehot",
    max_categories: int = 20,
) -> ColumnPlan:
    """Apply the default rules (module docstring) to every column of ``df``.

    Examples
    --------
    >>> df = pd.DataFrame({"id": ["a", "b", "c", "d"], "spend": [1.0, 5.0, 2.0, 8.0],
    ...                    "vip": [0, 1, 0, 1], "response": [1, 0, 0, 1]})
    >>> plan = plan_columns(df)
    >>> plan.numeric, plan.describe, plan.reasons["response"]
    (['spend'], ['vip'], 'outcome: named like a target or response; left out')
    """
    plan = ColumnPlan()
    ids = id_columns(df)
    cats: list[str] = []
    for col in map(str, df.columns):
        category = _plan_column(
            plan, col, df[col], ids=ids, target=target, max_categories=max_categories
        )
        if category:
            cats.append(col)
    _drop_repeated_ages(plan, df)
    _place_categories(plan, cats, include_categorical=include_categorical, categorical=categorical)
    return plan


def _plan_column(
    plan: ColumnPlan,
    col: str,
    s: pd.Series,
    *,
    ids: list[str],
    target: str | None,
    max_categories: int,
) -> bool:
    """Apply the first rule (module docstring) that fits column ``col`` to ``plan``; whether
    the column is a category (placed later by :func:`_place_categories`)."""
    left_out = _left_out(col, s, ids=ids, target=target)
    if left_out is not None:
        plan.leave_out(col, left_out)
        return False
    dates = parse_dates(s)
    if dates is not None:
        _plan_date(plan, col, dates)
        return False
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        category, reason = _number_rule(col, s)
        (plan.codes if category else plan.numeric).append(col)
        plan.reasons[col] = reason
        return category
    n_levels = int(s.nunique(dropna=True))
    if n_levels > max_categories:
        present = int(s.notna().sum())
        if present and n_levels / present > NEAR_UNIQUE:
            plan.leave_out(
                col, f"near-unique text: {n_levels:,} distinct values in {len(s):,} rows; left out"
            )
        else:
            plan.leave_out(
                col,
                f"free text: {n_levels:,} distinct values (more than max_categories="
                f"{max_categories}); left out",
            )
        return False
    plan.reasons[col] = f"category: {n_levels} values"
    return True


def _left_out(col: str, s: pd.Series, *, ids: list[str], target: str | None) -> str | None:
    """Why rules 1-3 (id, outcome, empty / constant) leave the column out, else None."""
    if col in ids:
        return "id: one distinct value per customer; left out"
    if col in LABEL_COLUMNS or (target is not None and col == target):
        return "outcome: the target / label column; left out"
    if is_outcome_name(col):
        return "outcome: named like a target or response; left out"
    flat = _flat(s)
    if flat is not None:
        return f"{flat}; left out"
    return None


def _plan_date(plan: ColumnPlan, col: str, dates: pd.Series) -> None:
    """Rule 4: a signup-like date clusters as its age in days; any other date is left out."""
    if is_signup_name(col) and dates.notna().any():
        name = f"{col}_age_days"
        ref = pd.Timestamp(dates.max()).normalize()
        plan.ages[name] = (col, ref.strftime("%Y-%m-%d"))
        plan.numeric.append(name)
        plan.reasons[col] = (
            f"signup-like date: clustered as {name!r}, days before "
            f"{ref:%Y-%m-%d} (the latest date in the column)"
        )
    else:
        plan.leave_out(
            col, "date: not a signup-like date (derive a number such as recency); left out"
        )


def _number_rule(col: str, s: pd.Series) -> tuple[bool, str]:
    """Rules 5, 6 and 9 for a number or boolean column: (whether it is a category, why)."""
    values = pd.to_numeric(s, errors="coerce").astype("float64").dropna()
    distinct = np.unique(values.to_numpy())
    whole = bool(np.all(distinct == np.round(distinct)))
    if pd.api.types.is_bool_dtype(s) or set(distinct.tolist()) <= {0.0, 1.0}:
        return True, "0/1 flag: a category"
    if (
        whole
        and distinct.size <= MAX_CODE_VALUES
        and distinct.min() >= 0
        and distinct.max() <= MAX_CODE
        and is_code_name(col)
    ):
        return True, f"code: {distinct.size} distinct whole numbers named like a code; a category"
    return False, "behaviour: a number; clustered"


def _drop_repeated_ages(plan: ColumnPlan, df: pd.DataFrame) -> None:
    """Leave out a signup age that repeats a number already there (a features file's
    tenure_days beside its first_purchase): it would count the same thing twice."""
    for name, (source, ref) in list(plan.ages.items()):
        age = pd.Series(age_days(df[source], ref))
        for other in plan.numeric:
            if other == name or other in plan.ages:
                continue
            values = pd.to_numeric(df[other], errors="coerce").astype("float64")
            both = age.notna().to_numpy() & values.notna().to_numpy()
            if both.sum() < 3 or values[both].std() == 0 or age[both].std() == 0:
                continue
            r = float(np.corrcoef(age[both], values[both])[0, 1])
            if r >= 0.99:
                plan.numeric.remove(name)
                del plan.ages[name]
                plan.leave_out(
                    source, f"signup-like date whose age repeats {other!r} (r = {r:.3f}); left out"
                )
                break


def _place_categories(
    plan: ColumnPlan, cats: list[str], *, include_categorical: bool, categorical: str
) -> None:
    """The categories cluster (one-hot) when asked to, or when there is no behavioural number;
    otherwise they describe the segments."""
    if include_categorical and categorical == "onehot":
        plan.categorical = cats
        for col in cats:
            plan.reasons[col] += "; clustered (one-hot, include_categorical)"
    elif not plan.numeric and cats and categorical == "onehot":
        # nothing behavioural to cluster on: the categories are all there is
        plan.categorical = cats
        for col in cats:
            plan.reasons[col] += "; clustered (one-hot): the table has no behavioural number"
    else:
        plan.describe = cats
        for col in cats:
            plan.reasons[col] += "; describes the segments (shares in profiles.csv)"
