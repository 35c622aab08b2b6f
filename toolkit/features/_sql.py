"""The feature logic, written once as SQL over a purchases relation and a returns relation.

Both engines run this text: the embedded engine on the whole log in DuckDB, the distributed one
on each customer partition (features are per customer, so partitions are independent).

Definitions (``C`` is the cutoff date; only rows with ``timestamp < C`` reach a feature; a purchase
day is the calendar date of a purchase):

- ``first_purchase`` / ``last_purchase``: first and last purchase day.
- ``recency_days = C - last_purchase``, ``tenure_days = C - first_purchase`` (days, >= 1).
- BTYD summary (Fader & Hardie, lifetimes): ``frequency`` = number of distinct purchase days after
  the first; ``recency`` = last - first purchase day; ``T`` = (C - 1 day) - first purchase day,
  the age at the end of the calibration period; recency and T in days, or weeks (/ 7).
- ``n_orders`` = distinct invoices (every row is an order when there is no invoice column, and
  the lines without an invoice number form one order per timestamp; an order is dated by its
  first line);
  ``n_items`` = sum of quantities (rows when there is no quantity); ``n_products`` = distinct
  products (missing without a product column); ``lifetime_spend`` = sum of amounts;
  ``avg_order_value = lifetime_spend / n_orders``; ``monetary`` = mean spend per repeat purchase
  day (the first day excluded, lifetimes' convention), 0 without repeats.
- Rhythm over the gaps between consecutive purchase days: ``gap_mean``, ``gap_std`` (population
  standard deviation, 0 with one gap), ``gap_cv = gap_std / gap_mean``; missing without a repeat.
  ``overdue_ratio = recency_days / gap_mean``: above 1, the customer is later than usual.
- Recent activity: ``orders_30d/90d/180d`` and ``spend_30d/90d/180d`` over ``[C - N days, C)``;
  ``spend_trend = (s1 - s0) / (s1 + s0)`` with s1 the spend in the last 90 days and s0 in the 90
  before: -1 (stopped) .. +1 (new or accelerating), 0 when both are 0.
- ``loyalty_index``: the share of calendar months from the month of the first purchase to the
  month of ``C - 1 day`` (both included) in which the customer bought.
- ``return_rate``: value returned (cancellations, returns) before C / value bought before C.
- Labels, with a horizon of H days: ``repeat_purchase`` = 1 if the customer bought in
  ``[C, C + H)``, else 0; ``holdout_spend`` = what they spent there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

FEATURE_COLUMNS = (
    "customer_id",
    "first_purchase",
    "last_purchase",
    "recency_days",
    "tenure_days",
    "frequency",
    "recency",
    "T",
    "n_orders",
    "n_items",
    "n_products",
    "lifetime_spend",
    "avg_order_value",
    "monetary",
    "gap_mean",
    "gap_std",
    "gap_cv",
    "overdue_ratio",
    "orders_30d",
    "orders_90d",
    "orders_180d",
    "spend_30d",
    "spend_90d",
    "spend_180d",
    "spend_trend",
    "loyalty_index",
    "return_rate",
)
LABEL_COLUMNS = ("repeat_purchase", "holdout_spend")
WINDOWS = (30, 90, 180)


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature query needs to know: the cutoff, horizon, unit and available columns."""

    cutoff: date
    horizon: int | None = None
    time_unit: str = "days"
    has_invoice: bool = True
    has_quantity: bool = True
    has_product: bool = True

    @property
    def unit_days(self) -> int:
        return 7 if self.time_unit == "weeks" else 1


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def feature_sql(spec: FeatureSpec, purchases: str = "purchases", returns: str = "returns") -> str:
    """The SQL query computing one row per customer as of ``spec.cutoff``.

    ``purchases`` and ``returns`` name relations with columns customer_id, timestamp, amount,
    quantity, invoice, product (returns: positive returned ``amount``).

    Examples
    --------
    >>> sql = feature_sql(FeatureSpec(cutoff=date(2024, 1, 1)))
    >>> "timestamp < TIMESTAMP '2024-01-01'" in sql
    True
    """
    c = spec.cutoff
    cut_ts = f"TIMESTAMP '{c.isoformat()}'"
    last_day = _d(c - timedelta(days=1))
    unit = spec.unit_days

    def since(n: int) -> str:
        return f"TIMESTAMP '{(c - timedelta(days=n)).isoformat()}'"

    windows = []
    for n in WINDOWS:
        windows.append(f"count(*) FILTER (WHERE ts >= {since(n)}) AS orders_{n}d")
        windows.append(f"COALESCE(sum(amount) FILTER (WHERE ts >= {since(n)}), 0) AS spend_{n}d")
    windows.append(
        f"COALESCE(sum(amount) FILTER (WHERE ts >= {since(180)} AND ts < {since(90)}), 0)"
        " AS spend_prev_90d"
    )
    # Orders first: one row per (customer, invoice) -- or per line without invoices -- so that
    # every order count below is a plain count, not a DISTINCT over the lines.
    if spec.has_invoice:
        # A line without an invoice number is not part of one big "NULL" order: the lines of a
        # customer without a number form one order per timestamp.
        orders = f"""SELECT customer_id, min(timestamp) AS ts, sum(amount) AS amount,
               {"sum(quantity)" if spec.has_quantity else "count(*)"} AS items
        FROM p GROUP BY customer_id, invoice, CASE WHEN invoice IS NULL THEN timestamp END"""
    else:
        orders = f"""SELECT customer_id, timestamp AS ts, amount,
               {"quantity" if spec.has_quantity else "1"} AS items
        FROM p"""
    if spec.has_product:
        products_cte = """,
prod AS (
    SELECT customer_id, count(*) AS n_products
    FROM (SELECT DISTINCT customer_id, product FROM p WHERE product IS NOT NULL)
    GROUP BY customer_id
)"""
        products_col = "CAST(COALESCE(prod.n_products, 0) AS INTEGER)"
        products_join = "LEFT JOIN prod USING (customer_id)"
    else:
        products_cte, products_col, products_join = "", "NULL::INTEGER", ""
    label_cte = ""
    label_cols = ""
    label_join = ""
    if spec.horizon is not None:
        end_ts = f"TIMESTAMP '{(c + timedelta(days=spec.horizon)).isoformat()}'"
        label_cte = f""",
lab AS (
    SELECT customer_id, sum(amount) AS holdout_spend
    FROM {purchases}
    WHERE timestamp >= {cut_ts} AND timestamp < {end_ts}
    GROUP BY customer_id
)"""
        label_cols = """,
    CAST(lab.customer_id IS NOT NULL AS INTEGER) AS repeat_purchase,
    COALESCE(lab.holdout_spend, 0.0) AS holdout_spend"""
        label_join = "LEFT JOIN lab USING (customer_id)"

    return f"""
WITH p AS (
    SELECT customer_id, timestamp, amount, quantity, invoice, product
    FROM {purchases}
    WHERE timestamp < {cut_ts}
),
o AS (
    {orders}
),
days AS (
    SELECT customer_id, CAST(ts AS DATE) AS day, sum(amount) AS spend
    FROM o GROUP BY ALL
),
seq AS (
    SELECT customer_id, day, spend,
           day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
    FROM days
),
per_day AS (
    SELECT customer_id,
           min(day) AS first_purchase,
           max(day) AS last_purchase,
           count(*) - 1 AS frequency,
           avg(gap) AS gap_mean,
           stddev_pop(gap) AS gap_std,
           COALESCE(avg(spend) FILTER (WHERE gap IS NOT NULL), 0.0) AS monetary,
           count(DISTINCT date_trunc('month', day)) AS months_active
    FROM seq GROUP BY customer_id
),
per_order AS (
    SELECT customer_id,
           count(*) AS n_orders,
           sum(items) AS n_items,
           sum(amount) AS lifetime_spend,
           {", ".join(windows)}
    FROM o GROUP BY customer_id
),
ret AS (
    SELECT customer_id, sum(amount) AS returned
    FROM {returns}
    WHERE timestamp < {cut_ts}
    GROUP BY customer_id
){products_cte}{label_cte}
SELECT
    d.customer_id,
    d.first_purchase,
    d.last_purchase,
    CAST({_d(c)} - d.last_purchase AS INTEGER) AS recency_days,
    CAST({_d(c)} - d.first_purchase AS INTEGER) AS tenure_days,
    CAST(d.frequency AS INTEGER) AS frequency,
    CAST(d.last_purchase - d.first_purchase AS DOUBLE) / {unit} AS recency,
    CAST({last_day} - d.first_purchase AS DOUBLE) / {unit} AS T,
    CAST(r.n_orders AS INTEGER) AS n_orders,
    CAST(r.n_items AS DOUBLE) AS n_items,
    {products_col} AS n_products,
    r.lifetime_spend,
    r.lifetime_spend / NULLIF(r.n_orders, 0) AS avg_order_value,
    d.monetary,
    d.gap_mean,
    d.gap_std,
    d.gap_std / NULLIF(d.gap_mean, 0) AS gap_cv,
    ({_d(c)} - d.last_purchase) / NULLIF(d.gap_mean, 0) AS overdue_ratio,
    CAST(r.orders_30d AS INTEGER) AS orders_30d,
    CAST(r.orders_90d AS INTEGER) AS orders_90d,
    CAST(r.orders_180d AS INTEGER) AS orders_180d,
    r.spend_30d,
    r.spend_90d,
    r.spend_180d,
    COALESCE((r.spend_90d - r.spend_prev_90d) / NULLIF(r.spend_90d + r.spend_prev_90d, 0), 0.0)
        AS spend_trend,
    d.months_active / (
        (year({last_day}) - year(d.first_purchase)) * 12
        + month({last_day}) - month(d.first_purchase) + 1
    )::DOUBLE AS loyalty_index,
    COALESCE(ret.returned, 0.0) / NULLIF(r.lifetime_spend, 0) AS return_rate{label_cols}
FROM per_day d
JOIN per_order r USING (customer_id)
LEFT JOIN ret USING (customer_id)
{products_join}
{label_join}
"""
