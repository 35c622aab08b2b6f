"""What each segment buys: the products a segment's customers buy more often than the base does.

For every segment and product: ``buyers`` (customers of the segment who bought it at least once),
``segment_share`` = buyers / segment size, ``base_share`` = buyers among all customers / all
customers, and ``lift``: the product's share of the segment's choices (customer x product pairs)
over its share of everyone's choices (1: as much as everyone; 3: three times as much). Choices,
not buyers, so that a segment that buys little (one-timers) still shows what it leans to. A
listed product has a lift above 1 and is bought by at least :data:`MIN_BUYERS` customers and
:data:`MIN_SHARE` of the segment, so that a product two customers happen to share does not top
the list; the top ``top`` per segment by lift (ties: more buyers first) are kept.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from toolkit.io._sql import quote_ident
from toolkit.segments._io import norm_name

MIN_BUYERS = 5
MIN_SHARE = 0.02
TOP = 10
#: normalised names of a column that describes the product (Online Retail's ``Description``)
DESCRIPTION_NAMES = (
    "description",
    "productdescription",
    "itemdescription",
    "productname",
    "itemname",
    "producttitle",
    "articlename",
)


def _product_text(s: pd.Series) -> pd.Series:
    # the same text form io gives product ids (17850.0 -> 17850, surrounding blanks dropped)
    txt = s.astype("string").str.strip()
    return txt.str.replace(r"^(-?\d+)[.,]0+$", r"\1", regex=True)


def customer_products(tx: Any) -> tuple[pd.DataFrame, pd.Series | None] | None:
    """``(pairs, descriptions)`` of an open :class:`toolkit.io.Transactions` with a product column.

    ``pairs``: one row per customer and product bought (``customer_id``, ``product``,
    ``quantity``, ``revenue``), from the purchases (returns left out). ``descriptions``: the most
    frequent description of each product when the log has a description column, else None.
    ``None`` when the log has no product column.
    """
    if not getattr(tx, "has_product", False):
        return None
    pairs = tx.con.execute(
        """
        SELECT customer_id, product, sum(quantity) AS quantity, sum(amount) AS revenue
        FROM purchases WHERE product IS NOT NULL
        GROUP BY customer_id, product
        """
    ).df()
    pairs["customer_id"] = pairs["customer_id"].astype("string")
    pairs["product"] = pairs["product"].astype("string")
    descriptions = None
    used = {c for c in vars(tx.mapping).values() if isinstance(c, str)}
    desc = next(
        (c for c in tx.raw.columns if norm_name(c) in DESCRIPTION_NAMES and c not in used),
        None,
    )
    if desc is not None:
        col = quote_ident(tx.mapping.product)
        dcol = quote_ident(desc)
        found = tx.con.execute(
            f"SELECT CAST({col} AS VARCHAR) AS product, mode(trim(CAST({dcol} AS VARCHAR))) "
            f"AS description FROM raw WHERE {dcol} IS NOT NULL GROUP BY 1"
        ).df()
        found["product"] = _product_text(found["product"])
        descriptions = (
            found.dropna(subset=["product"])
            .drop_duplicates("product")
            .set_index("product")["description"]
            .astype("string")
        )
    return pairs, descriptions


def segment_products(
    segments: pd.DataFrame,
    pairs: pd.DataFrame,
    descriptions: pd.Series | None = None,
    *,
    top: int = TOP,
    min_buyers: int = MIN_BUYERS,
) -> pd.DataFrame:
    """The top products of each segment by lift over the whole base.

    Parameters
    ----------
    segments : DataFrame
        ``customer_id``, ``segment``, ``segment_name`` (``segments.csv``).
    pairs : DataFrame
        ``customer_id``, ``product`` and optionally ``quantity``, ``revenue``: one row per
        customer and product bought.
    descriptions : Series, optional
        Product -> description.
    top : int
        Products kept per segment.
    min_buyers : int
        Fewest buyers in the segment a listed product must have (besides ``MIN_SHARE``).

    Examples
    --------
    >>> seg = pd.DataFrame({"customer_id": list("abcdef"), "segment": [0, 0, 0, 1, 1, 1],
    ...                     "segment_name": ["x"] * 3 + ["y"] * 3})
    >>> pairs = pd.DataFrame({"customer_id": list("abcdef"), "product": list("PPPQQP")})
    >>> t = segment_products(seg, pairs, min_buyers=1)
    >>> t[["segment", "product", "buyers", "lift"]].values.tolist()
    [[0, 'P', 3, 1.5], [1, 'Q', 2, 2.0]]
    """
    seg = segments[["customer_id", "segment", "segment_name"]].copy()
    seg["customer_id"] = seg["customer_id"].astype("string")
    seg = seg[seg["segment"] >= 0]
    n = len(seg)
    sizes = seg.groupby("segment").size()
    names = seg.drop_duplicates("segment").set_index("segment")["segment_name"].astype(str)
    bought = pairs.copy()
    bought["customer_id"] = bought["customer_id"].astype("string")
    for col in ("quantity", "revenue"):
        if col not in bought:
            bought[col] = float("nan")
    bought = bought.merge(seg[["customer_id", "segment"]], on="customer_id", how="inner")
    base = bought.groupby("product")["customer_id"].nunique()
    per = (
        bought.groupby(["segment", "product"])
        .agg(
            buyers=("customer_id", "nunique"),
            quantity=("quantity", "sum"),
            revenue=("revenue", "sum"),
        )
        .reset_index()
    )
    per["segment_size"] = per["segment"].map(sizes)
    per["segment_share"] = per["buyers"] / per["segment_size"]
    per["base_share"] = per["product"].map(base) / n
    # one pair per customer and product: a product's share of the choices
    choices = per.groupby("segment")["buyers"].transform("sum")
    per["lift"] = (per["buyers"] / choices) / (per["product"].map(base) / base.sum())
    need = per["segment_size"].map(lambda s: max(min_buyers, math.ceil(MIN_SHARE * s)))
    per = per[(per["buyers"] >= need) & (per["lift"] > 1.0)]
    per = per.sort_values(
        ["segment", "lift", "buyers", "product"], ascending=[True, False, False, True]
    )
    per = per.groupby("segment", sort=True).head(top).copy()
    per["rank"] = per.groupby("segment").cumcount() + 1
    per["segment_name"] = per["segment"].map(names)
    cols = ["segment", "segment_name", "rank", "product"]
    if descriptions is not None:
        per["description"] = per["product"].map(descriptions)
        cols.append("description")
    cols += ["buyers", "segment_share", "base_share", "lift", "quantity", "revenue"]
    return per[cols].reset_index(drop=True)
