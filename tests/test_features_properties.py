"""Property tests of the feature engine (hypothesis): no leak past the cutoff, invariants, and
agreement with a straightforward pandas implementation written from the definitions.

Each example writes a small log as CSV (Online Retail's columns; amount = Quantity x UnitPrice;
'C' + digits invoices and negative quantities are returns; every order has its own number) and
reads it with ``read_transactions``, as a user's file would be. One DuckDB connection serves
every example: opening one costs more than the whole query on these tiny logs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.features import FEATURE_COLUMNS, LABEL_COLUMNS, compute_features
from toolkit.io import connect, read_transactions

START = date(2023, 12, 1)  # the logs span a year end, the leap day 2024-02-29 and month ends
SPAN_DAYS = 150
IDS = ["007", "12", "a", "B"]
PRICES = [0.5, 1.0, 2.5, 9.99, 120.0]
PRODUCTS = ["P1", "P2", "P3", "P4"]

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # seeded: the same examples on every run
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def con():
    c = connect(threads=1)
    yield c
    c.close()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


# --- strategies --------------------------------------------------------------------------------

seconds = st.one_of(st.sampled_from([0, 1, 43_200, 86_399]), st.integers(0, 86_399))


@st.composite
def orders(draw, days: tuple[int, int], purchase: bool = False) -> list[dict[str, object]]:
    """One order on a day in [days[0], days[1]]: 1-3 lines of one customer, the later lines up
    to 10 minutes after the first (so an order can run past midnight, or past the cutoff).

    ``InvoiceNo`` is filled in by :func:`number`; a cancellation ('C' + digits) is flagged here.
    """
    day = draw(st.integers(*days))
    ts = datetime.combine(START + timedelta(days=day), datetime.min.time())
    ts += timedelta(seconds=draw(seconds))
    customer = draw(st.sampled_from(IDS))
    cancel = not purchase and draw(st.integers(0, 4)) == 0
    lines = []
    for k in range(draw(st.integers(1, 3))):
        lines.append(
            {
                "cancel": cancel,
                "StockCode": draw(st.sampled_from(PRODUCTS)),
                # 0: a free line (a purchase of amount 0); < 0: a return without a 'C' invoice
                "Quantity": draw(st.integers(1, 5) if purchase else st.integers(-2, 5)),
                "InvoiceDate": ts + timedelta(seconds=k * draw(st.integers(0, 600))),
                "UnitPrice": draw(st.sampled_from(PRICES)),
                "CustomerID": customer,
            }
        )
    return lines


def number(batch: list[list[dict[str, object]]], first: int) -> list[dict[str, object]]:
    """The lines of ``batch``, each order with its own invoice number (as real invoices have)."""
    lines = []
    for i, order in enumerate(batch, start=first):
        for line in order:
            cancel = line.pop("cancel")
            lines.append({"InvoiceNo": f"C{i}" if cancel else str(i), **line})
    return lines


@st.composite
def logs(draw) -> tuple[int, list[dict[str, object]]]:
    """A cutoff (days after START) and a log with at least one purchase before it."""
    cut = draw(st.integers(1, SPAN_DAYS))
    first = draw(orders((0, cut - 1), purchase=True))
    rest = draw(st.lists(orders((0, SPAN_DAYS)), max_size=12))
    return cut, number([first, *rest], first=1000)


@st.composite
def later(draw, cut: int, base: list[dict[str, object]]) -> list[dict[str, object]]:
    """Lines dated on or after the cutoff: new orders and returns by known and new customers, a
    line at the cutoff's first second, and possibly a late line of an order begun before it."""
    extra = number(draw(st.lists(orders((cut, cut + 60)), min_size=1, max_size=6)), first=5000)
    at_cutoff = datetime.combine(START + timedelta(days=cut), datetime.min.time())
    extra.append({**extra[0], "InvoiceDate": at_cutoff})
    if draw(st.booleans()):
        line = draw(st.sampled_from(base))
        extra.append({**line, "InvoiceDate": at_cutoff + timedelta(seconds=draw(seconds))})
    return extra


def write_log(path: Path, lines: list[dict[str, object]]) -> Path:
    """The lines as CSV (loaded and normalised line by line), or as typed Parquet for a
    ``.parquet`` path (scanned in place, grouped by the ids as stored)."""
    df = pd.DataFrame(lines)
    if path.suffix == ".parquet":
        df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
        df.to_parquet(path, index=False)
        return path
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    df.to_csv(path, index=False)
    return path


def features_of(con, path: Path, **kwargs) -> pd.DataFrame:
    tx = read_transactions(path, con=con)
    try:
        return compute_features(tx, **kwargs)
    finally:
        tx.raw.close()


def cutoff_date(cut: int) -> date:
    return START + timedelta(days=cut)


# --- the reference: the definitions of toolkit.features._sql, in plain pandas -----------------


def reference(lines: list[dict[str, object]], cutoff: date, unit: int, horizon: int | None):
    """Every column, computed with pandas groupbys straight from the generated lines.

    Only lines before the cutoff count; the purchase lines of one invoice form an order, dated by
    its first line; purchase days, windows and rhythm are those of the orders.
    """
    df = pd.DataFrame(lines)
    df["ts"] = pd.to_datetime(df["InvoiceDate"])
    df["amount"] = df["Quantity"] * df["UnitPrice"]
    df["id"] = df["CustomerID"].astype(str)
    is_return = df["InvoiceNo"].str.match(r"^C\d") | (df["Quantity"] < 0)
    c = pd.Timestamp(cutoff)
    last_day = c - pd.Timedelta(days=1)
    buys = df[~is_return & (df["ts"] < c)]
    orders = buys.groupby(["id", "InvoiceNo"], as_index=False).agg(
        ts=("ts", "min"), amount=("amount", "sum"), items=("Quantity", "sum")
    )
    orders["day"] = orders["ts"].dt.normalize()
    daily = orders.groupby(["id", "day"], as_index=False)["amount"].sum()
    daily["gap"] = daily.groupby("id")["day"].diff().dt.days
    d, o = daily.groupby("id"), orders.groupby("id")
    out = pd.DataFrame({"first_purchase": d["day"].min(), "last_purchase": d["day"].max()})
    out["recency_days"] = (c - out["last_purchase"]).dt.days
    out["tenure_days"] = (c - out["first_purchase"]).dt.days
    out["frequency"] = d.size() - 1
    out["recency"] = (out["last_purchase"] - out["first_purchase"]).dt.days / unit
    out["T"] = (last_day - out["first_purchase"]).dt.days / unit
    out["n_orders"] = o.size()
    out["n_items"] = o["items"].sum().astype(float)
    out["n_products"] = buys.groupby("id")["StockCode"].nunique()
    # a returned line's value is positive, whatever its sign in the file ('C' with quantity 2)
    rets = df[is_return & (df["ts"] < c)].assign(value=lambda r: r["amount"].abs())
    returned = rets.groupby("id")["value"].sum().reindex(out.index, fill_value=0.0)
    gross = o["amount"].sum()
    out["lifetime_spend"] = (gross - returned).clip(lower=0.0)  # net of returns
    out["gross_spend"] = gross
    out["returned_value"] = returned
    kept = (out["lifetime_spend"] / gross).where(gross != 0, 0.0)
    out["avg_order_value"] = out["lifetime_spend"] / out["n_orders"]
    # repeat days are the days with a gap to the one before; returns charged in proportion
    out["monetary"] = daily[daily["gap"].notna()].groupby("id")["amount"].mean() * kept
    out["monetary"] = out["monetary"].fillna(0.0)
    out["gap_mean"] = d["gap"].mean()
    out["gap_std"] = d["gap"].std(ddof=0)  # population sd
    out["gap_cv"] = out["gap_std"] / out["gap_mean"]
    out["overdue_ratio"] = out["recency_days"] / out["gap_mean"]

    def window(start: pd.Timestamp, end: pd.Timestamp = c) -> pd.DataFrame:
        return orders[(orders["ts"] >= start) & (orders["ts"] < end)]

    for n in (30, 90, 180):
        out[f"orders_{n}d"] = window(c - pd.Timedelta(days=n)).groupby("id").size()

    def net(start: pd.Timestamp, end: pd.Timestamp = c) -> pd.Series:
        """Purchases less returns in [start, end), floored at 0 (a customer's returns in a
        window are netted from that window's spend)."""
        bought = window(start, end).groupby("id")["amount"].sum()
        inside = rets[(rets["ts"] >= start) & (rets["ts"] < end)]
        back = inside.groupby("id")["value"].sum()
        bought = bought.reindex(out.index, fill_value=0.0)
        return (bought - back.reindex(out.index, fill_value=0.0)).clip(lower=0.0)

    for n in (30, 90, 180):
        out[f"spend_{n}d"] = net(c - pd.Timedelta(days=n))
    for col in out.columns[-6:]:
        out[col] = out[col].fillna(0)
    s1 = out["spend_90d"]
    s0 = net(c - pd.Timedelta(days=180), c - pd.Timedelta(days=90))
    out["spend_trend"] = ((s1 - s0) / (s1 + s0)).where(s1 + s0 != 0, 0.0)
    months = (
        (last_day.year - out["first_purchase"].dt.year) * 12
        + last_day.month
        - out["first_purchase"].dt.month
        + 1
    )
    month = daily["day"].dt.year * 12 + daily["day"].dt.month
    out["loyalty_index"] = month.groupby(daily["id"]).nunique() / months
    out["return_rate"] = (returned / gross).where(gross != 0).clip(upper=1.0)
    if horizon is not None:
        end = c + pd.Timedelta(days=horizon)
        after = df[~is_return & (df["ts"] >= c) & (df["ts"] < end)]
        lab = after.groupby("id")["amount"].agg(["size", "sum"]).reindex(out.index)
        out["repeat_purchase"] = lab["size"].notna().astype(int)
        back = df[is_return & (df["ts"] >= c) & (df["ts"] < end)]
        back = back["amount"].abs().groupby(back["id"]).sum().reindex(out.index, fill_value=0.0)
        out["holdout_spend"] = (lab["sum"].fillna(0.0) - back).clip(lower=0.0)  # net
    return out.sort_index()


def check_invariants(f: pd.DataFrame, unit: int) -> None:
    assert f["customer_id"].is_unique
    assert (f["frequency"] >= 0).all()
    assert (f["recency"] >= 0).all()
    assert (f["recency"] <= f["T"] + 1e-12).all()
    assert (f["recency_days"] >= 1).all()  # the last purchase day is before the cutoff
    assert (f["tenure_days"] >= f["recency_days"]).all()
    # T and recency are the day counts in the chosen unit
    np.testing.assert_allclose(f["T"] * unit, f["tenure_days"] - 1)
    np.testing.assert_allclose(f["recency"] * unit, f["tenure_days"] - f["recency_days"])
    assert ((f["loyalty_index"] > 0) & (f["loyalty_index"] <= 1)).all()
    assert f["spend_trend"].between(-1, 1).all()
    assert (f["orders_30d"] <= f["orders_90d"]).all()
    assert (f["orders_90d"] <= f["orders_180d"]).all()
    assert (f["orders_180d"] <= f["n_orders"]).all()
    eps = 1e-9
    # money is net of returns: never negative, never more than was bought; a net window can
    # exceed a longer one (a return in the longer window only), so no order between windows
    for col in ("spend_30d", "spend_90d", "spend_180d", "lifetime_spend", "monetary"):
        assert (f[col] >= 0).all(), col
    for col in ("spend_30d", "spend_90d", "spend_180d", "lifetime_spend"):
        assert (f[col] <= f["gross_spend"] + eps).all(), col
    assert (f["lifetime_spend"] + f["returned_value"] >= f["gross_spend"] - eps).all()
    # rhythm exists exactly for repeat customers
    assert (f["gap_mean"].notna() == (f["frequency"] >= 1)).all()
    assert (f["gap_cv"].dropna() >= 0).all()
    assert (f["return_rate"].dropna() >= 0).all()
    assert (f["monetary"] >= 0).all()
    if "repeat_purchase" in f:
        assert f["repeat_purchase"].isin([0, 1]).all()
        assert (f["holdout_spend"] >= 0).all()
        assert (f.loc[f["repeat_purchase"] == 0, "holdout_spend"] == 0).all()


# --- the property ----------------------------------------------------------------------------
# One test checks all three on each example: reading and querying cost far more than the checks,
# and this way the reference also sees the rows after the cutoff (labels, and rows it must skip).


def compare_with_reference(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    assert got["customer_id"].tolist() == list(want.index)
    assert list(want.columns) == columns
    for col in columns:
        g, w = got[col].reset_index(drop=True), want[col].reset_index(drop=True)
        if col in ("first_purchase", "last_purchase"):
            assert pd.to_datetime(g).tolist() == pd.to_datetime(w).tolist(), col
        else:
            np.testing.assert_allclose(
                g.astype(float), w.astype(float), rtol=1e-9, atol=1e-9, err_msg=col
            )


@PROPERTY_SETTINGS
@given(
    log=logs(),
    after=st.data(),
    time_unit=st.sampled_from(["days", "weeks"]),
    horizon=st.sampled_from([None, 1, 30]),
)
@pytest.mark.parametrize("ext", [".csv", ".parquet"], ids=["loaded", "in-place"])
def test_no_leak_invariants_and_pandas_reference(con, workdir, ext, log, after, time_unit, horizon):
    cut, lines = log
    cutoff = cutoff_date(cut)
    unit = 7 if time_unit == "weeks" else 1
    extra = after.draw(later(cut, lines), label="extra")
    kwargs = {"cutoff": cutoff, "horizon": horizon, "time_unit": time_unit}
    base = features_of(con, write_log(workdir / f"base{ext}", lines), **kwargs)
    more = features_of(con, write_log(workdir / f"more{ext}", lines + extra), **kwargs)

    # 1. adding transactions on or after the cutoff changes no feature (labels aside)
    features = list(FEATURE_COLUMNS)
    pd.testing.assert_frame_equal(base[features], more[features])

    # 2. invariants
    check_invariants(more, unit)

    # 3. every column (labels too) as a plain pandas implementation of the definitions has it
    labels = list(LABEL_COLUMNS) if horizon is not None else []
    want = reference(lines + extra, cutoff, unit, horizon)
    compare_with_reference(more, want, features[1:] + labels)
