"""A suggested action per segment: heuristic rules on its profile, and the churn risk when known.

These are heuristics, written down so that they can be argued with, not learned from outcomes.
Each segment is read from its distinctiveness (``z``, see :mod:`toolkit.segments._names`:
"high" above +0.5 standard deviations from the overall mean, "low" below -0.5) on the columns
that play a role:

=========== =================================================================================
role        columns (case, spaces and underscores ignored)
=========== =================================================================================
recency     recency_days, days_since_last_purchase ... (or T - recency of a BTYD summary)
frequency   frequency, n_orders, orders, purchases ...
value       lifetime_spend, monetary, total_spend, spend, revenue, sales, amount ...
order value avg_order_value, aov, average_order_value, basket_value
tenure      tenure_days, T, customer_age, days_since_first_purchase, a signup date's age
income      a column whose name has "income" or "salary"
spending    a column whose name has "spending" or "spend" (when no value column is found)
age         a column named "age" (years)
=========== =================================================================================

A segment is **lapsing** when its recency is high, or when it has gone quiet by its own rhythm:
its median customer silent for longer than twice their usual gap between purchases (the median
overdue ratio above :data:`toolkit.segments._history.LAPSED_RATIO`, see that module), however
recent it looks next to the others. A lapsing segment never gets VIP treatment.

The rules, first match wins (:data:`RULES`): high value and lapsing: win-back offer; new:
onboarding; low value and lapsing: low-cost reactivation or let go; lapsing: reactivation; high
frequency and low order value: bundles; high value and active: VIP / early access; high income and
low spending: aspirational offers; high income and high spending: VIP / early access; low income
and high spending: value deals and loyalty points; low income and low spending: entry-level offers;
younger: social and mobile channels; older: service and loyalty programmes;
high order value and low frequency: replenishment reminders and cross-sell; low value, spending or
frequency: education campaigns; otherwise: nurture.

With too little history to tell loyalty (:func:`toolkit.segments._history.short_history`),
every segment gets :data:`SHORT_HISTORY` (onboarding) instead of these rules.

With a churn list, a segment is **at risk** when its mean churn probability is at least
:data:`AT_RISK_RATIO` times the mean over everyone matched; at-risk segments come first (most
value at risk first) and, unless their rule already is a win-back or reactivation, get a
retention offer ahead of their action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toolkit.segments._history import LAPSED_RATIO
from toolkit.segments._io import norm_name
from toolkit.segments._names import THRESHOLD, readable

AT_RISK_RATIO = 1.2
BASIS = "heuristic"
#: the pseudo-role that carries a segment's median overdue ratio (not a z) into the rules
OVERDUE = "overdue"

_ORDER_VALUE = ("avgordervalue", "aov", "averageordervalue", "ordervalue", "basketvalue")


@dataclass(frozen=True)
class Rule:
    """One playbook rule: its name, the condition on the roles' z and the suggested action."""

    name: str
    when: Callable[[dict[str, float]], bool]
    action: str
    retention: bool = False  # already a retention action (no extra offer when at risk)


def _hi(z: dict[str, float], role: str) -> bool:
    return role in z and z[role] > THRESHOLD


def _lo(z: dict[str, float], role: str) -> bool:
    return role in z and z[role] < -THRESHOLD


def _value_hi(z: dict[str, float]) -> bool:
    return _hi(z, "value") or _hi(z, "frequency")


def _lapsing(z: dict[str, float]) -> bool:
    """Recency high among the segments, or silent for over twice their own usual gap."""
    return _hi(z, "recency") or z.get(OVERDUE, 0.0) > LAPSED_RATIO


RULES: tuple[Rule, ...] = (
    Rule(
        "high value, lapsing",
        lambda z: _lapsing(z) and _value_hi(z),
        "win-back offer: personal outreach and a time-limited incentive before they are lost",
        retention=True,
    ),
    Rule(
        "new",
        lambda z: _lo(z, "tenure") and not _lapsing(z),
        "onboarding: welcome series and a second-purchase incentive",
    ),
    Rule(
        "low value, lapsing",
        lambda z: _lapsing(z) and (_lo(z, "value") or _lo(z, "frequency")),
        "low-cost reactivation (automated e-mail, no discount) or let go",
        retention=True,
    ),
    Rule(
        "lapsing",
        _lapsing,
        "reactivation campaign: a reminder with a modest offer",
        retention=True,
    ),
    Rule(
        "high frequency, low order value",
        lambda z: _hi(z, "frequency") and _lo(z, "order_value"),
        "bundles and volume offers to raise the order value",
    ),
    Rule(
        "high value, active",
        lambda z: _value_hi(z) and "recency" in z,
        "VIP treatment: early access, loyalty rewards; no discounts needed",
    ),
    Rule(
        "high income, low spending",
        lambda z: _hi(z, "income") and _lo(z, "spending"),
        "aspirational offers: premium ranges and personalised recommendations",
    ),
    Rule(
        "high income, high spending",
        lambda z: _hi(z, "income") and _hi(z, "spending"),
        "VIP treatment: early access, loyalty rewards, premium service",
    ),
    Rule(
        "low income, high spending",
        lambda z: _lo(z, "income") and _hi(z, "spending"),
        "value deals and loyalty points (keep them without pushing credit)",
    ),
    Rule(
        "low income, low spending",
        lambda z: _lo(z, "income") and _lo(z, "spending"),
        "entry-level offers through low-cost channels",
    ),
    Rule(
        "younger",
        lambda z: _lo(z, "age") and not _lo(z, "value") and not _lo(z, "spending"),
        "reach them on social and mobile channels with trend-led offers",
    ),
    Rule(
        "older",
        lambda z: _hi(z, "age") and not _lo(z, "value") and not _lo(z, "spending"),
        "service and reliability: loyalty programme, classic ranges, personal contact",
    ),
    Rule(
        "high value",
        lambda z: _hi(z, "value") or _hi(z, "spending"),
        "VIP treatment: early access and loyalty rewards",
    ),
    Rule(
        "high order value, low frequency",
        lambda z: _hi(z, "order_value") and _lo(z, "frequency"),
        "replenishment reminders and cross-sell to buy more often",
    ),
    Rule(
        "low affinity",
        lambda z: _lo(z, "value") or _lo(z, "spending") or _lo(z, "frequency"),
        "education campaigns: show the range, with entry-level offers",
    ),
    Rule(
        "average",
        lambda z: True,
        "nurture: regular newsletter and cross-sell from what they buy",
    ),
)
SHORT_HISTORY = Rule(
    "short history",
    lambda z: False,
    "onboarding: welcome series and a second-purchase incentive (too little history yet to tell "
    "loyal customers from one-off buyers)",
)
_BY_NAME = {r.name: r for r in (*RULES, SHORT_HISTORY)}


def playbook_roles(columns: list[str], rfm: dict[str, str]) -> dict[str, str]:
    """Which column plays each playbook role (see the module docstring).

    Examples
    --------
    >>> playbook_roles(["Age", "Annual Income (k$)", "Spending Score (1-100)"], {})
    {'age': 'Age', 'income': 'Annual Income (k$)', 'spending': 'Spending Score (1-100)'}
    """
    roles: dict[str, str] = {}
    for role in ("recency", "frequency", "tenure"):
        if role in rfm:
            roles[role] = rfm[role]
    if "monetary" in rfm:
        roles["value"] = rfm["monetary"]
    for col in columns:
        key = norm_name(col)
        if "order_value" not in roles and key in _ORDER_VALUE:
            roles["order_value"] = col
        elif "income" not in roles and ("income" in key or "salary" in key):
            roles["income"] = col
        elif (
            "spending" not in roles
            and "value" not in roles
            and "spend" in key
            and col not in roles.values()
        ):
            roles["spending"] = col
        elif "tenure" not in roles and key.endswith("agedays") and col not in roles.values():
            roles["tenure"] = col  # a signup date's age
        elif "age" not in roles and key in ("age", "ageyears", "customerageyears"):
            roles["age"] = col
    if roles.get("value") == roles.get("order_value"):
        roles.pop("order_value", None)
    return roles


def suggest(
    z: pd.Series, roles: dict[str, str], overdue: float | None = None
) -> tuple[str, str, str]:
    """``(rule, action, evidence)`` for one segment's distinctiveness ``z``; ``overdue``: its
    median overdue ratio, when known (above 2 it counts as lapsing).

    Examples
    --------
    >>> z = pd.Series({"income": 1.2, "spending": -1.1})
    >>> rule, action, evidence = suggest(z, {"income": "income", "spending": "spending"})
    >>> rule, action.split(":")[0], evidence
    ('high income, low spending', 'aspirational offers', 'income z=+1.20, spending z=-1.10')
    """
    values = {role: float(z[col]) for role, col in roles.items() if col in z.index}
    ratio = float(overdue) if overdue is not None and np.isfinite(overdue) else None
    rule = next(r for r in RULES if r.when({**values, **({OVERDUE: ratio} if ratio else {})}))
    said = [
        f"{readable(roles[role])} z={v:+.2f}" for role, v in values.items() if abs(v) > THRESHOLD
    ]
    if ratio is not None and ratio > LAPSED_RATIO:
        said.append(f"median customer silent {ratio:.1f} x their usual gap")
    return rule.name, rule.action, ", ".join(said) or "no role column differs by more than 0.5 sd"


def actions_table(
    profiles: pd.DataFrame,
    suggestions: dict[int, tuple[str, str, str]],
    churn: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``actions.csv``: one row per segment, in priority order.

    ``churn`` (per segment: ``n_scored``, ``churn_probability_mean`` and, when known,
    ``value_at_risk_total`` / ``value_at_risk_mean``, plus ``overall_churn_probability`` in
    ``attrs``) adds the risk columns and puts the at-risk segments first.
    """
    rows = []
    for _, p in profiles.iterrows():
        seg = int(p["segment"])
        if seg in suggestions:
            rule, action, evidence = suggestions[seg]
        elif seg < 0:
            rule, action, evidence = "noise", "review by hand: customers unlike any segment", ""
        else:  # a segmenter saved before the playbook existed
            rule, action, evidence = "none", "no playbook saved with this segmenter", ""
        rows.append(
            {
                "segment": seg,
                "segment_name": p["segment_name"],
                "size": int(p["size"]),
                "share": float(p["share"]),
                "rule": rule,
                "action": action,
                "evidence": evidence,
                "basis": BASIS,
            }
        )
    table = pd.DataFrame(rows)
    if churn is None or table.empty:
        table.insert(0, "priority", np.arange(1, len(table) + 1))
        return table
    table = table.merge(churn, left_on="segment", right_index=True, how="left")
    overall = float(churn.attrs.get("overall_churn_probability", np.nan))
    table["at_risk"] = table["churn_probability_mean"] >= AT_RISK_RATIO * overall
    for i, row in table.iterrows():
        known = _BY_NAME.get(str(row["rule"]))
        if bool(row["at_risk"]) and (known is None or not known.retention):
            table.loc[i, "action"] = (
                f"retention offer first (churn risk {row['churn_probability_mean']:.0%} vs "
                f"{overall:.0%} overall); then {row['action']}"
            )
    key = "value_at_risk_total" if "value_at_risk_total" in table else "churn_probability_mean"
    table = table.sort_values(
        ["at_risk", key, "segment"], ascending=[False, False, True], na_position="last"
    ).reset_index(drop=True)
    table.insert(0, "priority", np.arange(1, len(table) + 1))
    return table


def churn_by_segment(segments: pd.DataFrame, churn_list: pd.DataFrame) -> pd.DataFrame:
    """Mean churn probability and value at risk of each segment, from a churn list joined on the
    customer id (customers missing from the list are not counted)."""
    joined = segments[["customer_id", "segment"]].merge(churn_list, on="customer_id", how="inner")
    grouped = joined.groupby("segment")
    out = pd.DataFrame({"n_scored": grouped.size()})
    out["churn_probability_mean"] = grouped["churn_probability"].mean()
    if "value_at_risk" in joined:
        out["value_at_risk_total"] = grouped["value_at_risk"].sum()
        out["value_at_risk_mean"] = grouped["value_at_risk"].mean()
    out.attrs["overall_churn_probability"] = (
        float(joined["churn_probability"].mean()) if len(joined) else float("nan")
    )
    out.attrs["n_matched"] = len(joined)
    return out
