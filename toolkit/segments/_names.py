"""Short human names for segments, derived from their profiles.

A segment's *distinctiveness* on a column is its standardised difference from the overall mean,
``z = (segment mean - overall mean) / overall sd``, computed after imputation and ``log1p`` (so a
few huge spenders do not decide every name). ``z > 0.5`` reads "high", ``z < -0.5`` "low",
anything between "average".

* Generic data: the two most distinctive columns, in the order the columns were given, e.g.
  "high income, low spending".
* Recency / frequency / monetary features (``recency_days``, ``frequency`` / ``n_orders``,
  ``lifetime_spend`` / ``monetary`` ...): marketer names such as "loyal big spenders",
  "at-risk high value", "lapsing one-timers", "new customers".
* A segment that **has gone quiet** (its median customer silent for longer than twice their
  usual gap between purchases, see :mod:`toolkit.segments._history`) is never named for loyalty
  or value, however it compares with the others: "lapsed big spenders", "lapsed regulars",
  "lapsed mid-value", "new customers, gone quiet" (generic names get ", gone quiet").
* Too little history to tell loyalty (:func:`toolkit.segments._history.short_history`): neutral
  names that say what the members did, numbered by segment ("segment 0: high spend, 1 order").

Categories that only describe the segments (gender, region codes, flags) enter a name only when
one of their values is strongly over-represented in the segment: at least :data:`OVER_SHARE` of
the segment and :data:`OVER_RATIO` times its share overall ("..., mostly Female").

Names are unique within a run and never numbered: segments whose names collide get the column
whose words tell them apart (e.g. "loyal regulars (high customer age)"); when no column's words
do, the column that separates them most is added as a comparison ("higher income" / "lower
income"). The same data and seed give the same names.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from toolkit.segments._io import norm_name

THRESHOLD = 0.5
OVER_SHARE = 0.6
OVER_RATIO = 1.5
NOISE_NAME = "outliers / noise"
SINCE_LAST = "time since last purchase (T - recency)"

_KNOWN = {
    "recencydays": "recency",
    "tenuredays": "tenure",
    "norders": "orders",
    "nitems": "items",
    "nproducts": "product range",
    "lifetimespend": "lifetime spend",
    "avgordervalue": "order value",
    "monetary": "spend per order",
    "gapmean": "time between orders",
    "gapstd": "gap variability",
    "gapcv": "gap irregularity",
    "overdueratio": "overdueness",
    "spendtrend": "spend trend",
    "loyaltyindex": "loyalty",
    "returnrate": "returns",
    "t": "customer age",
}
_DROP_WORDS = {"annual", "score", "total", "num", "n", "count", "the", "of", "avg", "mean"}

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "recency": (
        "recencydays",
        "dayssincelastpurchase",
        "dayssincelastorder",
        "dayssincelast",
        "daysinactive",
        "recency",
    ),
    "frequency": (
        "frequency",
        "norders",
        "orders",
        "numorders",
        "npurchases",
        "purchases",
        "ordercount",
        "purchasecount",
        "ninvoices",
        "invoices",
    ),
    "monetary": (
        "lifetimespend",
        "monetary",
        "monetaryvalue",
        "totalspend",
        "spend",
        "revenue",
        "totalrevenue",
        "sales",
        "amount",
        "totalamount",
    ),
    "tenure": ("tenuredays", "tenure", "t", "customerage", "agedays", "dayssincefirstpurchase"),
}


def readable(column: str) -> str:
    """A short reader-friendly name for a column.

    Examples
    --------
    >>> readable("Annual Income (k$)"), readable("Spending Score (1-100)")
    ('income', 'spending')
    >>> readable("recency_days"), readable("avgBasketSize")
    ('recency', 'basket size')
    """
    key = norm_name(column)
    if key in _KNOWN:
        return _KNOWN[key]
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", str(column))
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    words = [w for w in re.split(r"[^0-9A-Za-z$%]+", text.lower()) if w]
    kept = [w for w in words if w not in _DROP_WORDS and w not in {"days", "d"}]
    return " ".join(kept or words) or str(column)


def rfm_roles(columns: list[str]) -> dict[str, str]:
    """Which input column plays recency / frequency / monetary / tenure, when any does.

    ``recency`` alone is read as "days since the last purchase" unless a ``T`` column says the
    data follows the lifetimes convention (recency = age at the last purchase).
    """
    by_norm = {norm_name(c): c for c in columns}
    roles: dict[str, str] = {}
    lifetimes = "t" in by_norm
    for role, names in ROLE_NAMES.items():
        for n in names:
            if n in by_norm and by_norm[n] not in roles.values():
                if role == "recency" and n == "recency" and lifetimes:
                    continue
                roles[role] = by_norm[n]
                break
    return roles


def lifetimes_pair(columns: list[str]) -> tuple[str, str] | None:
    """``(recency, T)`` when the columns follow the lifetimes convention (both present).

    Then the time since the last purchase is ``T - recency``; the segmenter derives it to give
    BTYD summaries (CDNOW's ``ID, frequency, recency, T``) marketer names too.
    """
    by_norm = {norm_name(c): c for c in columns}
    if "recency" in by_norm and "t" in by_norm:
        return by_norm["recency"], by_norm["t"]
    return None


def _word(z: float) -> str:
    return "high" if z > THRESHOLD else "low" if z < -THRESHOLD else "average"


def _term(z: pd.Series, col: str, feats: list[str], order: int) -> tuple[float, int, str]:
    """(distinctiveness, column order, text) of one input column for one segment."""
    if len(feats) == 1 and feats[0] == col:
        v = float(z[col])
        if readable(col) == "age":
            # "older" reads better than "high age"
            return (
                abs(v),
                order,
                "older" if v > THRESHOLD else "younger" if v < -THRESHOLD else "average age",
            )
        return abs(v), order, f"{_word(v)} {readable(col)}"
    zs = z[feats]
    top, low = zs.idxmax(), zs.idxmin()
    score = max(abs(float(zs[top])), abs(float(zs[low])))
    if zs[top] > THRESHOLD:
        return score, order, f"mostly {top.split('=', 1)[1]}"
    if zs[low] < -THRESHOLD:
        return score, order, f"few {low.split('=', 1)[1]}"
    return score, order, f"mixed {readable(col)}"


def _terms(z: pd.Series, groups: dict[str, list[str]]) -> dict[str, tuple[float, int, str]]:
    return {col: _term(z, col, feats, i) for i, (col, feats) in enumerate(groups.items())}


def _rfm_name(z: pd.Series, roles: dict[str, str], quiet: bool = False) -> str:
    """The marketer name of one segment; ``quiet``: it has gone quiet (then never "loyal",
    "big spenders", "steady" or "recent")."""

    def get(role: str) -> float | None:
        return float(z[roles[role]]) if role in roles else None

    r, f, m, t = get("recency"), get("frequency"), get("monetary"), get("tenure")

    def hi(v: float | None) -> bool:
        return v is not None and v > THRESHOLD

    def lo(v: float | None) -> bool:
        return v is not None and v < -THRESHOLD

    lapsed, recent = hi(r), lo(r)
    if t is not None and lo(t) and not lapsed and not hi(f):
        return "new customers, gone quiet" if quiet else "new customers"
    if lapsed and (hi(m) or hi(f)):
        return "at-risk high value"
    if lapsed and (lo(f) or lo(m)):
        return "lapsing one-timers"
    if lapsed:
        return "lapsing customers"
    if quiet:  # silent for long by their own rhythm, even if not compared with the others
        if hi(m):
            return "lapsed big spenders"
        if hi(f):
            return "lapsed regulars"
        if lo(f):
            return "lapsed one-timers"
        return "lapsed low-value" if lo(m) else "lapsed mid-value"
    if hi(f) and (hi(m) or m is None):
        return "loyal big spenders" if m is not None else "loyal regulars"
    if hi(f):
        return "loyal regulars"
    if hi(m):
        return "big spenders"
    if recent and lo(f):
        return "recent one-timers" if t is not None else "new customers"
    if lo(f) and lo(m):
        return "low-value occasional"
    return "steady mid-value"


def name_segments(
    z: pd.DataFrame,
    groups: dict[str, list[str]],
    roles: dict[str, str] | None = None,
    describe_terms: dict[int, str] | None = None,
    quiet: set[int] | frozenset[int] = frozenset(),
) -> dict[int, str]:
    """Name every segment (rows of ``z``) from its distinctiveness on each feature (columns).

    ``groups`` maps each input column to its model features (one for a number, one per category
    for a one-hot column); ``roles`` (from :func:`rfm_roles`) switches to marketer names;
    ``describe_terms`` (from :func:`describe_terms`) are appended where a category dominates;
    ``quiet``: the segments that have gone quiet (named as lapsed, never for loyalty or value).

    Examples
    --------
    >>> import pandas as pd
    >>> z = pd.DataFrame({"income": [1.2, -1.1, 0.1], "spending": [-1.3, 1.0, 0.0]})
    >>> names = name_segments(z, {"income": ["income"], "spending": ["spending"]})
    >>> names[0], names[2]
    ('high income, low spending', 'average income, average spending')
    """
    roles = roles or {}
    use_rfm = "recency" in roles and ("frequency" in roles or "monetary" in roles)
    terms = {int(seg): _terms(z.loc[seg], groups) for seg in z.index}
    base: dict[int, str] = {}
    used: dict[int, list[str]] = {}  # columns named so far, per segment
    for seg, ts in terms.items():
        if use_rfm:
            base[seg] = _rfm_name(z.loc[seg], roles, seg in quiet)
            used[seg] = []
        else:
            top = sorted(ts, key=lambda c: (-ts[c][0], ts[c][1]))[:2]
            base[seg] = _join([ts[c] for c in top]) + (", gone quiet" if seg in quiet else "")
            used[seg] = top
    for seg, term in (describe_terms or {}).items():
        if seg in base:
            base[seg] = f"{base[seg]}, {term}"
    names = dict(base)
    # clashing names: add the column that best tells the clashing segments apart
    for _ in range(len(groups)):
        counts = Counter(names.values())
        clashing = sorted({names[s] for s in names if counts[names[s]] > 1})
        if not clashing:
            break
        progress = False
        for name in clashing:
            members = [s for s in sorted(names) if names[s] == name]
            best, best_spread = None, 0.0
            for col, feats in groups.items():
                if any(col in used[s] for s in members):
                    continue
                if len({terms[s][col][2] for s in members}) < 2:
                    continue
                values = z.loc[members, feats].to_numpy()
                spread = float((values.max(axis=0) - values.min(axis=0)).max())
                if spread > best_spread:
                    best, best_spread = col, spread
            if best is None:
                continue
            progress = True
            for s in members:
                used[s].append(best)
                if use_rfm:
                    names[s] = f"{base[s]} ({_join([terms[s][c] for c in used[s]])})"
                else:
                    quiet_word = ", gone quiet" if s in quiet else ""
                    names[s] = _join([terms[s][c] for c in used[s]]) + quiet_word
        if not progress:
            break
    return _compare_clashes(names, z, groups, use_rfm)


def neutral_names(df: pd.DataFrame, labels: np.ndarray, segments: list[int]) -> dict[int, str]:
    """Names that claim nothing a short history cannot tell: each segment's number, its spend
    compared with everyone's (``log1p``, as for the other names), its members' median number
    of orders and days since their last purchase.

    Examples
    --------
    >>> df = pd.DataFrame({"lifetime_spend": [10.0, 12.0, 500.0], "n_orders": [1, 1, 2]})
    >>> df["recency_days"] = [1, 1, 3]
    >>> neutral_names(df, np.array([0, 0, 1]), [0, 1])[1]
    'segment 1: high spend, 2 orders, last bought 3 days ago'
    >>> neutral_names(df, np.array([0, 0, 1]), [0, 1])[0]
    'segment 0: low spend, 1 order, last bought 1 day ago'
    """
    roles = rfm_roles([str(c) for c in df.columns])
    spend_col = roles.get("monetary")
    by_norm = {norm_name(c): c for c in df.columns}
    orders_col = by_norm.get("norders")
    words: dict[int, list[str]] = {s: [] for s in segments}
    if spend_col is not None:
        spend = pd.to_numeric(df[spend_col], errors="coerce").astype("float64")
        x = np.log1p(spend.clip(lower=0).fillna(spend.median()).to_numpy())[:, None]
        z = distinctiveness(x, labels, ["spend"], segments)["spend"]
        for s in segments:
            words[s].append(f"{_word(float(z[s]))} spend")
    for col, unit, text in (
        (orders_col, "order", "{n} {unit}"),
        (by_norm.get("recencydays"), "day", "last bought {n} {unit} ago"),
    ):
        if col is None:
            continue
        values = pd.to_numeric(df[col], errors="coerce").astype("float64")
        for s in segments:
            n = float(values[labels == s].median())
            if np.isfinite(n):
                words[s].append(text.format(n=f"{n:g}", unit=unit + ("" if n == 1 else "s")))
    return {
        s: f"segment {s}: {', '.join(words[s])}" if words[s] else f"segment {s}" for s in segments
    }


_RANKS = {2: ("lower", "higher"), 3: ("lowest", "middle", "highest")}


def _compare_clashes(
    names: dict[int, str], z: pd.DataFrame, groups: dict[str, list[str]], use_rfm: bool
) -> dict[int, str]:
    """Tell apart segments whose words are all the same by comparing them on the column that
    separates them most ("higher income" / "lower income"), column after column."""
    numeric = [c for c, feats in groups.items() if feats == [c] and c in z.columns]
    extra = [c for c in z.columns if c not in {f for fs in groups.values() for f in fs}]
    candidates = numeric + extra or list(z.columns)
    done: dict[int, list[str]] = {s: [] for s in names}
    for _ in range(len(candidates)):
        counts = Counter(names.values())
        clashing = sorted({names[s] for s in names if counts[names[s]] > 1})
        if not clashing:
            return names
        for name in clashing:
            members = [s for s in sorted(names) if names[s] == name]
            free = [c for c in candidates if c not in done[members[0]]]
            if not free:
                continue
            spread = {c: float(z.loc[members, c].max() - z.loc[members, c].min()) for c in free}
            col = max(free, key=lambda c: (spread[c], -free.index(c)))
            if spread[col] <= 0:
                continue  # no column separates them: identical profiles (below)
            # words by distinct value: members tied on this column keep clashing, for the next
            values = z.loc[members, col].round(9)
            levels = sorted(set(values.tolist()))
            ranks = _RANKS.get(len(levels))
            for s in members:
                i = levels.index(float(values[s]))
                if ranks is not None:
                    word = ranks[i]
                elif i < len(levels) / 2:
                    word = "lower" if i else "lowest"
                else:
                    word = "higher" if i < len(levels) - 1 else "highest"
                done[s].append(col)
                term = f"{word} {readable(col)}"
                if not use_rfm:
                    names[s] = f"{name}, {term}"
                elif name.endswith(")"):
                    names[s] = f"{name[:-1]}, {term})"
                else:
                    names[s] = f"{name} ({term})"
    counts = Counter(names.values())
    if any(n > 1 for n in counts.values()):
        # identical profiles on every column (duplicated customers split apart): say so
        for name in [n for n, c in counts.items() if c > 1]:
            members = [s for s in sorted(names) if names[s] == name]
            for i, s in enumerate(members):
                names[s] = f"{name} (identical profile, part {chr(ord('A') + i)})"
    return names


def describe_terms(
    shares: dict[str, pd.DataFrame], overall: dict[str, pd.Series]
) -> dict[int, str]:
    """The strongest over-represented category value of each segment, as a name term.

    ``shares[col]`` holds each segment's share of every value (rows: segments); ``overall[col]``
    the shares over everyone. A value counts when it is at least ``OVER_SHARE`` of the segment
    and ``OVER_RATIO`` times its overall share.

    Examples
    --------
    >>> sh = {"Gender": pd.DataFrame({"Female": [0.9, 0.5], "Male": [0.1, 0.5]})}
    >>> describe_terms(sh, {"Gender": pd.Series({"Female": 0.5, "Male": 0.5})})
    {0: 'mostly Female'}
    """
    best: dict[int, tuple[float, str]] = {}
    for col, table in shares.items():
        for seg in table.index:
            for value in table.columns:
                share, base = float(table.loc[seg, value]), float(overall[col][value])
                if not base or share < OVER_SHARE or share / base < OVER_RATIO:
                    continue
                ratio = share / base
                if seg not in best or ratio > best[seg][0]:
                    best[seg] = (ratio, _category_term(col, str(value)))
    return {int(seg): term for seg, (_, term) in sorted(best.items())}


def _category_term(col: str, value: str) -> str:
    if value in ("0", "1", "True", "False"):
        # a 0/1 flag: "mostly complain" / "no complain"
        return f"mostly {readable(col)}" if value in ("1", "True") else f"no {readable(col)}"
    if value.lstrip("-").isdigit():
        return f"mostly {readable(col)} {value}"
    return f"mostly {value}"


def _join(terms: list[tuple[float, int, str]]) -> str:
    """Join terms in column order ("high income, low spending")."""
    return ", ".join(t[2] for t in sorted(terms, key=lambda t: t[1]))


def distinctiveness(
    values: np.ndarray, labels: np.ndarray, features: list[str], segments: list[int]
) -> pd.DataFrame:
    """Standardised difference of each segment's mean from the overall mean, per feature."""
    mean = values.mean(axis=0)
    sd = values.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    rows = {}
    for seg in segments:
        part = values[labels == seg]
        rows[seg] = (part.mean(axis=0) - mean) / sd if len(part) else np.zeros(len(features))
    return pd.DataFrame.from_dict(rows, orient="index", columns=features)
