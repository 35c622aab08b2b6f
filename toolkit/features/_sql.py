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
  products (missing without a product column).
- Money is **net of returns**: ``gross_spend`` = sum of purchase amounts; ``returned_value`` = value
  returned or cancelled before C; ``lifetime_spend = max(gross_spend - returned_value, 0)`` (what
  the customer really paid and kept). A customer's returns are charged to their purchases in
  proportion to value, so every per-purchase figure is the gross one times the kept share
  ``lifetime_spend / gross_spend``: ``avg_order_value = lifetime_spend / n_orders``; ``monetary`` =
  mean net spend per repeat purchase day (the first day excluded, lifetimes' convention), 0
  without repeats.
- Rhythm over the gaps between consecutive purchase days: ``gap_mean``, ``gap_std`` (population
  standard deviation, 0 with one gap), ``gap_cv = gap_std / gap_mean``; missing without a repeat.
  ``overdue_ratio = recency_days / gap_mean``: above 1, the customer is later than usual.
- Recent activity: ``orders_30d/90d/180d`` and ``spend_30d/90d/180d`` over ``[C - N days, C)``,
  the spend net of what was returned in that window (floored at 0);
  ``spend_trend = (s1 - s0) / (s1 + s0)`` with s1 the spend in the last 90 days and s0 in the 90
  before: -1 (stopped) .. +1 (new or accelerating), 0 when both are 0.
- ``loyalty_index``: the share of calendar months from the month of the first purchase to the
  month of ``C - 1 day`` (both included) in which the customer bought.
- ``return_rate``: value returned (cancellations, returns) before C / value bought before C,
  at most 1: returns of purchases made before the log starts can exceed what it shows bought
  (Online Retail has 57x), and 1 reads "returned at least as much as bought".
- Labels, with a horizon of H days: ``repeat_purchase`` = 1 if the customer bought in
  ``[C, C + H)``, else 0; ``holdout_spend`` = what they spent there, net of what they returned
  there (floored at 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolkit.io._keys import RawKeys

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
    "gross_spend",
    "returned_value",
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
#: With ``keys``, the extra last column of :func:`feature_sql`: true for a customer with an order
#: whose stored invoice normalises to another value (see ``keys``).
RESPELLED = "__toolkit_respelled"


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


# n_products is counted with a bitmap of product codes (exact, and far cheaper than a list of
# products per customer) when the catalogue has at most this many products; with more, the bitmap
# of every customer would grow too large and a list is used.
PRODUCT_BITMAP_MAX = 1024
# The bitmap is held in words of this many bits (HUGEINT, its sign bit left alone): fixed-size
# aggregate states, which DuckDB spills like any other. A bitstring_agg state cannot be spilled:
# on 117M lines in date order it ran out of memory under the 2.5GB limit, one run in five.
_WORD_BITS = 127


def _product_words(product_codes: str, n_codes: int) -> tuple[str, list[str]]:
    """A relation (product, w0, w1, ...) giving each product's bit in its word of the bitmap
    (0 in the other words), and the names of the word columns."""
    names = [f"w{k}" for k in range(-(-n_codes // _WORD_BITS))]
    words = ", ".join(
        f"CASE WHEN code // {_WORD_BITS} = {k} THEN 1::HUGEINT << (code % {_WORD_BITS})::HUGEINT "
        f"ELSE 0::HUGEINT END AS {name}"
        for k, name in enumerate(names)
    )
    return f"(SELECT product, {words} FROM {product_codes})", names


def feature_sql(
    spec: FeatureSpec,
    events: str = "tx_events",
    *,
    product_codes: str | None = None,
    n_product_codes: int = 0,
    keys: RawKeys | None = None,
    rescan: bool = False,
    regroup: bool = False,
) -> str:
    """The SQL query computing one row per customer as of ``spec.cutoff``.

    ``events`` names a relation of the classified log: customer_id, timestamp, amount (positive;
    the returned value for returns), quantity, invoice, product and ``is_return`` (true for a
    cancellation or return, false for a purchase), as the view ``tx_events`` of
    :func:`toolkit.io.read_transactions`. It is scanned once: every feature and label is computed
    from that one pass. Features are per customer, so the query can run on any partition of the
    log by customer (the distributed engine) and give the same rows.

    ``product_codes`` optionally names a relation (product, code) numbering every product (as
    ``events`` holds it) ``0 .. n_product_codes - 1`` (at most :data:`PRODUCT_BITMAP_MAX`):
    ``n_products`` is then counted with a bitmap of codes instead of a list of products; the
    result is the same.

    ``keys``: ``events`` holds the id columns as stored (the view ``tx_lines``); the query groups
    by those and normalises the groups with ``keys``' expressions: the invoice of each order, the
    customer id of each customer (a customer whose id normalises to missing, such as ``nan``,
    comes out with a missing id: the caller drops the row, as a filter here would be pushed down
    to every line and cost the normalisation of every line this plan saves). Two
    stored ids that normalise to the same customer would give two rows (the caller checks, and
    runs the query on normalised rows when it finds any). Two spellings of one invoice would give
    two orders: ``regroup`` groups the orders again by their normalised invoice (exact, and
    about 10% dearer); without it, the column :data:`RESPELLED` flags the customers with an
    invoice that normalises to another value, and the caller runs the query again with
    ``regroup`` when there is one.
    ``rescan``: read ``events`` once for the orders and once for the lines instead of passing one
    read to both (cheaper where reading is cheap, as with Parquet).

    Plan: one row per order (customer, invoice) from the purchase lines before the cutoff; one
    window over each customer's orders in time order (the previous order's day gives the gaps
    between purchase days, the first day the repeat purchases); one row per customer from that;
    and one row per customer from the lines themselves (products, returns, labels), joined.

    Examples
    --------
    >>> sql = feature_sql(FeatureSpec(cutoff=date(2024, 1, 1)))
    >>> "timestamp < TIMESTAMP '2024-01-01'" in sql
    True
    """
    c = spec.cutoff
    cut_ts = f"TIMESTAMP '{c.isoformat()}'"
    cut_day = _d(c)
    last_day = _d(c - timedelta(days=1))
    unit = spec.unit_days
    end_ts = cut_ts
    if spec.horizon is not None:
        end_ts = f"TIMESTAMP '{(c + timedelta(days=spec.horizon)).isoformat()}'"

    def since(n: int) -> str:
        # an order is in the last n days when its time is >= C - n days (a midnight), that is
        # when its day is >= that day
        return _d(c - timedelta(days=n))

    def ts_since(n: int) -> str:
        return f"TIMESTAMP '{(c - timedelta(days=n)).isoformat()}'"

    windows = []
    for n in WINDOWS:
        windows.append(f"count(*) FILTER (WHERE day >= {since(n)}) AS orders_{n}d")
        windows.append(f"COALESCE(sum(spend) FILTER (WHERE day >= {since(n)}), 0.0) AS spend_{n}d")
    windows.append(
        f"COALESCE(sum(spend) FILTER (WHERE day >= {since(180)} AND day < {since(90)}), 0.0)"
        " AS spend_prev_90d"
    )
    # Orders first: one row per (customer, invoice) -- or per line without invoices -- so that
    # every order count below is a plain count, not a DISTINCT over the lines.
    items = "sum(quantity)" if spec.has_quantity else "count(*)"
    respelled = "false"
    if spec.has_invoice and keys is not None and regroup:
        # Grouped by the stored invoice, then by the normalised one: two spellings of one
        # invoice (536365 and 536365.0, '' and a missing value) are one order. Every stored
        # value that can normalise to missing ('' or spaces) starts below '!': those lines are
        # kept apart by timestamp until their normalised invoice is known.
        blank = " OR invoice < '!'" if keys.invoice_is_text else ""
        orders = f"""SELECT customer_id, min(ts) AS ts, sum(spend) AS spend, sum(items) AS items
        FROM (
            SELECT customer_id, ts, spend, items, {keys.invoice} AS invoice
            FROM (
                SELECT customer_id, invoice, min(timestamp) AS ts, sum(amount) AS spend,
                       {items} AS items
                FROM p
                GROUP BY customer_id, invoice,
                         CASE WHEN invoice IS NULL{blank} THEN timestamp END
            )
        )
        GROUP BY customer_id, invoice, CASE WHEN invoice IS NULL THEN ts END"""
    elif spec.has_invoice and keys is not None:
        # Grouped by the invoice as stored, when no invoice is expected to normalise to another
        # value; any order whose invoice does is flagged (a cheap test on the orders, not the
        # lines), and the caller runs the query again with ``regroup``. Every stored value that
        # can normalise to missing ('' or spaces) starts below '!': those lines form one order
        # per timestamp, as lines without an invoice do.
        blank = " OR invoice < '!'" if keys.invoice_is_text else ""
        split = (
            "" if keys.invoice_plain else f", CASE WHEN invoice IS NULL{blank} THEN timestamp END"
        )
        orders = f"""SELECT customer_id, min(timestamp) AS ts, sum(amount) AS spend,
               {items} AS items,
               {keys.invoice} IS DISTINCT FROM invoice AS respelled
        FROM p
        GROUP BY customer_id, invoice{split}"""
        respelled = "respelled"
    elif spec.has_invoice:
        # A line without an invoice number is not part of one big "NULL" order: the lines of a
        # customer without a number form one order per timestamp.
        orders = f"""SELECT customer_id, min(timestamp) AS ts, sum(amount) AS spend,
               {items} AS items
        FROM p GROUP BY customer_id, invoice, CASE WHEN invoice IS NULL THEN timestamp END"""
    else:
        orders = f"""SELECT customer_id, timestamp AS ts, amount AS spend,
               {"quantity" if spec.has_quantity else "1"} AS items
        FROM p"""
    buy = f"NOT is_return AND timestamp < {cut_ts}"
    line_cols = [f"sum(amount) FILTER (WHERE is_return AND timestamp < {cut_ts}) AS returned"]
    # returns inside each recent window, netted from that window's spend
    for n in WINDOWS:
        line_cols.append(
            f"COALESCE(sum(amount) FILTER (WHERE is_return AND timestamp >= {ts_since(n)} "
            f"AND timestamp < {cut_ts}), 0.0) AS returned_{n}d"
        )
    line_cols.append(
        f"COALESCE(sum(amount) FILTER (WHERE is_return AND timestamp >= {ts_since(180)} "
        f"AND timestamp < {ts_since(90)}), 0.0) AS returned_prev_90d"
    )
    line_src = "ev"
    products_col = "NULL::INTEGER"
    if spec.has_product:
        products_col = "CAST(COALESCE(l.n_products, 0) AS INTEGER)"
        if product_codes is not None and 0 < n_product_codes <= PRODUCT_BITMAP_MAX:
            # only the lines that count join a product's bit (the others' words are missing,
            # which bit_or skips): no per-word filter
            words, names = _product_words(product_codes, n_product_codes)
            line_src = (
                f"ev LEFT JOIN {words} pc ON pc.product = ev.product "
                f"AND NOT ev.is_return AND ev.timestamp < {cut_ts}"
            )
            line_cols.append(
                " + ".join(f"COALESCE(bit_count(bit_or(pc.{w})), 0)" for w in names)
                + " AS n_products"
            )
        else:
            # list_unique counts the distinct non-missing values
            product = "product" if keys is None else keys.product
            line_cols.append(f"list_unique(list({product}) FILTER (WHERE {buy})) AS n_products")
    label_cols = ""
    if spec.horizon is not None:
        line_cols.append(
            f"sum(amount) FILTER (WHERE NOT is_return AND timestamp >= {cut_ts}) AS holdout_spend"
        )
        line_cols.append(
            f"COALESCE(sum(amount) FILTER (WHERE is_return AND timestamp >= {cut_ts}), 0.0) "
            "AS holdout_returned"
        )
        label_cols = """,
    CAST(l.holdout_spend IS NOT NULL AS INTEGER) AS repeat_purchase,
    GREATEST(COALESCE(l.holdout_spend, 0.0) - l.holdout_returned, 0.0) AS holdout_spend"""

    # the join is USING (customer_id): the expression's unqualified customer_id is the key
    customer = "d.customer_id" if keys is None else keys.customer
    materialized = " NOT MATERIALIZED" if rescan else ""
    hidden = "" if keys is None else f",\n    d.respelled AS {RESPELLED}"
    query = f"""
WITH ev AS{materialized} (
    SELECT customer_id, timestamp, amount, quantity, invoice, product, is_return
    FROM {events}
    WHERE timestamp < {end_ts}
),
p AS (
    SELECT customer_id, timestamp, amount, quantity, invoice, product
    FROM ev WHERE NOT is_return AND timestamp < {cut_ts}
),
o AS (
    {orders}
),
seq AS (
    -- each order with the day of the customer's order before it and of their first order
    SELECT customer_id, spend, items, {respelled} AS respelled, CAST(ts AS DATE) AS day,
           lag(CAST(ts AS DATE)) OVER w AS prev,
           first_value(CAST(ts AS DATE)) OVER w AS first_day
    FROM o
    WINDOW w AS (PARTITION BY customer_id ORDER BY ts)
),
d AS (
    -- an order on a new purchase day has day <> prev: those days' gaps are the gaps between
    -- consecutive purchase days, and their count is the number of repeat purchase days
    SELECT customer_id,
           min(day) AS first_purchase,
           max(day) AS last_purchase,
           count(*) FILTER (WHERE day <> prev) AS frequency,
           avg(day - prev) FILTER (WHERE day <> prev) AS gap_mean,
           stddev_pop(day - prev) FILTER (WHERE day <> prev) AS gap_std,
           sum(spend) FILTER (WHERE day > first_day) AS repeat_spend,
           count(*) FILTER (
               WHERE prev IS NULL OR date_trunc('month', day) <> date_trunc('month', prev)
           ) AS months_active,
           count(*) AS n_orders,
           bool_or(respelled) AS respelled,
           sum(items) AS n_items,
           sum(spend) AS lifetime_spend,
           {", ".join(windows)}
    FROM seq GROUP BY customer_id
),
l AS (
    SELECT customer_id, {", ".join(line_cols)}
    FROM {line_src}
    GROUP BY customer_id
)
SELECT
    {customer} AS customer_id,
    d.first_purchase,
    d.last_purchase,
    CAST({cut_day} - d.last_purchase AS INTEGER) AS recency_days,
    CAST({cut_day} - d.first_purchase AS INTEGER) AS tenure_days,
    CAST(d.frequency AS INTEGER) AS frequency,
    CAST(d.last_purchase - d.first_purchase AS DOUBLE) / {unit} AS recency,
    CAST({last_day} - d.first_purchase AS DOUBLE) / {unit} AS T,
    CAST(d.n_orders AS INTEGER) AS n_orders,
    CAST(d.n_items AS DOUBLE) AS n_items,
    {products_col} AS n_products,
    n.lifetime_spend,
    d.lifetime_spend AS gross_spend,
    n.returned_value,
    n.lifetime_spend / NULLIF(d.n_orders, 0) AS avg_order_value,
    COALESCE(d.repeat_spend * n.kept / NULLIF(d.frequency, 0), 0.0) AS monetary,
    d.gap_mean,
    d.gap_std,
    d.gap_std / NULLIF(d.gap_mean, 0) AS gap_cv,
    ({cut_day} - d.last_purchase) / NULLIF(d.gap_mean, 0) AS overdue_ratio,
    CAST(d.orders_30d AS INTEGER) AS orders_30d,
    CAST(d.orders_90d AS INTEGER) AS orders_90d,
    CAST(d.orders_180d AS INTEGER) AS orders_180d,
    GREATEST(d.spend_30d - l.returned_30d, 0.0) AS spend_30d,
    GREATEST(d.spend_90d - l.returned_90d, 0.0) AS spend_90d,
    GREATEST(d.spend_180d - l.returned_180d, 0.0) AS spend_180d,
    COALESCE((n.s1 - n.s0) / NULLIF(n.s1 + n.s0, 0), 0.0) AS spend_trend,
    d.months_active / (
        (year({last_day}) - year(d.first_purchase)) * 12
        + month({last_day}) - month(d.first_purchase) + 1
    )::DOUBLE AS loyalty_index,
    LEAST(n.returned_value, d.lifetime_spend) / NULLIF(d.lifetime_spend, 0)
        AS return_rate{label_cols}{hidden}
FROM d
JOIN l USING (customer_id)
CROSS JOIN LATERAL (
    -- net money: what was kept of what was bought (returns charged in proportion to value)
    SELECT COALESCE(l.returned, 0.0) AS returned_value,
           GREATEST(d.lifetime_spend - COALESCE(l.returned, 0.0), 0.0) AS lifetime_spend,
           COALESCE(
               GREATEST(d.lifetime_spend - COALESCE(l.returned, 0.0), 0.0)
               / NULLIF(d.lifetime_spend, 0), 0.0
           ) AS kept,
           GREATEST(d.spend_90d - l.returned_90d, 0.0) AS s1,
           GREATEST(d.spend_prev_90d - l.returned_prev_90d, 0.0) AS s0
) n
"""
    return query
