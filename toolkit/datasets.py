"""Embedded demo data: a seeded synthetic retailer of any size.

:func:`generate_transactions` simulates the invoice lines of an online retailer whose customers
follow the BG/NBD story (Fader, Hardie & Lee 2005), with products, categories, returns, a Christmas
season and a customer table whose attributes change behaviour. It feeds ``toolkit demo``, the tests
and the benchmarks, and writes 10 million customers to Parquet or CSV in bounded memory.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from toolkit.errors import InputError
from toolkit.io import write_atomic

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "GeneratedFiles",
    "generate_transactions",
]

DEFAULT_START = "2022-01-01"
DEFAULT_END = "2023-12-31"

#: Customers per random block. Every block draws from its own stream
#: (``SeedSequence(seed, spawn_key=(1, block))``), so a file does not depend on how blocks are
#: batched into chunks. Changing it changes every generated file.
_BLOCK_CUSTOMERS = 10_000

_SUFFIXES = (".parquet", ".csv", ".csv.gz")

# --- the retailer's parameters (documented in generate_transactions) -----------------------------

# BG/NBD: purchase rate per day lambda ~ Gamma(R, scale=1/ALPHA); dropout p ~ Beta(A, B)
_R, _ALPHA = 0.3, 15.0
_A, _B = 0.8, 4.0
# acquisition density falls linearly to this fraction of its start value by the end of the period
_ACQ_END_RATIO = 0.35

# seasonality: month factors (Jan..Dec) and weekday factors (Mon..Sun); both normalised to mean 1
_MONTH = np.array([0.85, 0.8, 0.9, 0.95, 0.95, 0.9, 0.9, 0.9, 1.0, 1.05, 1.4, 1.6])
_WEEKDAY = np.array([1.1, 1.05, 1.05, 1.0, 0.95, 0.85, 1.0])

_GENDERS = np.array(["F", "M", "X"])
_GENDER_P = [0.52, 0.46, 0.02]
_INCOME = np.array(["<25k", "25-50k", "50-75k", "75-100k", ">100k"])
_INCOME_P = [0.18, 0.32, 0.25, 0.15, 0.10]
_INCOME_SPEND = np.array([-0.45, -0.2, 0.0, 0.2, 0.45])  # added to log mean order value
_INCOME_RATE = np.array([-0.1, -0.05, 0.0, 0.05, 0.1])  # added to log purchase rate
_REGIONS = np.array(["North", "South", "East", "West", "Central"])
_REGION_P = [0.22, 0.26, 0.18, 0.20, 0.14]
_REGION_RATE = np.log([0.85, 1.0, 0.95, 1.0, 1.3])
_CHANNELS = np.array(["web", "app", "store", "referral", "social"])
_CHANNEL_P = [0.40, 0.20, 0.20, 0.10, 0.10]
_CHANNEL_RATE = np.log([1.0, 1.4, 0.8, 1.0, 0.9])
_CHANNEL_B = np.array([1.0, 1.3, 1.0, 1.6, 0.6])  # multiplies B: higher = less dropout
_AGE_MEAN, _AGE_SD = 42.0, 14.0
_AGE_RATE = 0.02  # per year of age, on log purchase rate (older customers buy more often)
_AGE_SPEND = 0.004  # per year of age, on log mean order value

# orders: log order value ~ N(customer mean, _ORDER_SD);
# customer mean ~ N(log(_AOV) + effects, _CUST_SD)
_AOV = 42.0
_CUST_SD = 0.5
_ORDER_SD = 0.45
_DECEMBER_SPEND = 0.12  # Christmas orders are bigger too
_EXTRA_LINES = 4.4  # lines per order = 1 + Poisson(_EXTRA_LINES * customer factor ~ Gamma(4, 1/4))
_FAVOURITE_SHARE = 0.45  # share of lines from the customer's favourite category
_DISCOUNT_SHARE, _DISCOUNT = 0.07, 0.8

# catalogue: 8 categories, products per category, median unit price, return propensity
_CATEGORIES = np.array(
    ["home", "kitchen", "gifts", "toys", "stationery", "garden", "apparel", "beauty"]
)
_CAT_PRODUCTS = np.array([70, 60, 60, 50, 50, 40, 40, 30])
_CAT_PRICE = np.array([9.0, 6.5, 4.5, 8.0, 2.5, 12.0, 22.0, 7.5])
_CAT_RETURN = np.array([0.9, 0.6, 0.7, 0.9, 0.4, 0.8, 2.6, 1.0])
# favourite category logits: base, + gender (F, M, X rows), + per decade of age above 42
_CAT_BASE = np.array([0.4, 0.2, 0.3, 0.0, -0.2, -0.1, 0.2, -0.1])
_CAT_GENDER = np.array(
    [
        [0.1, 0.1, 0.2, -0.1, 0.0, -0.3, 0.3, 0.6],
        [0.0, -0.1, -0.2, 0.3, 0.1, 0.5, -0.2, -0.8],
        [0.0] * 8,
    ]
)
_CAT_AGE = np.array([0.15, 0.1, 0.0, -0.1, -0.2, 0.3, -0.25, 0.0])
_RETURN_RATE = 0.025  # base probability that a purchased line comes back
_FIRST_INVOICE = 100_000
_TABLE = 1 << 16  # slots of the product sampling tables


@dataclass(frozen=True)
class GeneratedFiles:
    """What :func:`generate_transactions` wrote when given ``out``.

    Attributes
    ----------
    transactions, customers : Path
        The transaction file and the customer table.
    rows, returns : int
        Transaction lines written, of which return lines (invoice starting with ``C``).
    n_customers : int
        Rows of the customer table.
    """

    transactions: Path
    customers: Path
    rows: int
    returns: int
    n_customers: int


# --- argument checks (shared with the CLI, which passes its option names) -----------------------


def _parse_date(value: Any, name: str) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"{name} must be a date like 2022-01-01, got {value!r}") from None


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _check_path(path: Path, name: str) -> str:
    suffix = _suffix(path)
    if suffix is None or len(path.name) == len(suffix):
        raise InputError(
            f"{name} must be a file name ending in {', '.join(_SUFFIXES)}, got {str(path)!r}"
        )
    if path.is_dir():
        raise InputError(f"{name} must be a file, got the directory {str(path)!r}")
    return suffix


def _default_customers_out(out: Path) -> Path:
    suffix = _suffix(out) or out.suffix
    return out.with_name(out.name[: len(out.name) - len(suffix)] + "_customers" + suffix)


def check_generate_args(
    n_customers: Any,
    seed: Any,
    start: Any,
    end: Any,
    out: Any,
    customers_out: Any,
    names: Mapping[str, str] | None = None,
) -> tuple[int, int, _dt.date, _dt.date, Path | None, Path | None]:
    """Check the arguments of :func:`generate_transactions`; ``names`` renames them in messages."""
    nm = {k: k for k in ("n_customers", "seed", "start", "end", "out", "customers_out")}
    nm.update(names or {})
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise InputError(f"{nm['n_customers']} must be a whole number, got {n_customers!r}")
    if n_customers <= 0:
        raise InputError(f"{nm['n_customers']} must be at least 1, got {n_customers}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"{nm['seed']} must be a non-negative whole number, got {seed!r}")
    first = _parse_date(start, nm["start"])
    last = _parse_date(end, nm["end"])
    if last < first:
        raise InputError(
            f"{nm['end']} must be on or after {nm['start']} ({first.isoformat()}), "
            f"got {last.isoformat()}"
        )
    out_path = customers_path = None
    if out is not None:
        out_path = Path(out)
        _check_path(out_path, nm["out"])
        customers_path = (
            Path(customers_out) if customers_out is not None else _default_customers_out(out_path)
        )
        _check_path(customers_path, nm["customers_out"])
        if customers_path.resolve() == out_path.resolve():
            raise InputError(
                f"{nm['customers_out']} must differ from {nm['out']}, both are {str(out_path)!r}"
            )
    elif customers_out is not None:
        raise InputError(f"{nm['customers_out']} needs {nm['out']} (a transaction file) as well")
    return int(n_customers), int(seed), first, last, out_path, customers_path


# --- the simulation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calendar:
    """Day-level seasonality of one period; day 0 is ``start``."""

    start: _dt.date
    n_days: int
    op_edges: np.ndarray  # operational time (integrated intensity) at day edges, n_days + 1
    acq_cdf: np.ndarray  # cumulative acquisition probability per day, ends at 1
    december: np.ndarray  # bool per day

    @classmethod
    def build(cls, start: _dt.date, end: _dt.date) -> _Calendar:
        n_days = (end - start).days + 1
        days = np.arange(n_days)
        ordinal = start.toordinal() + days
        # month and weekday of each day, vectorised through datetime64
        d64 = np.datetime64(start.isoformat(), "D") + days
        month = d64.astype("datetime64[M]").astype(np.int64) % 12
        weekday = (ordinal - 1) % 7  # date.fromordinal(1) is a Monday
        month_f = _MONTH / (_MONTH @ [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] / 365)
        intensity = month_f[month] * (_WEEKDAY / _WEEKDAY.mean())[weekday]
        dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        intensity[(month == 11) & ((dom == 25) | (dom == 26))] *= 0.2  # shut for Christmas
        op_edges = np.concatenate([[0.0], np.cumsum(intensity)])
        trend = 1.0 - (1.0 - _ACQ_END_RATIO) * days / max(n_days - 1, 1)
        acq = np.cumsum(intensity * trend)
        return cls(start, n_days, op_edges, acq / acq[-1], month == 11)

    def real_time(self, op_time: np.ndarray) -> np.ndarray:
        """Days since start for operational times (the intensity is constant within a day)."""
        return np.interp(op_time, self.op_edges, np.arange(self.n_days + 1, dtype=np.float64))

    def op_time(self, real: np.ndarray) -> np.ndarray:
        return np.interp(real, np.arange(self.n_days + 1, dtype=np.float64), self.op_edges)


@dataclass(frozen=True)
class _Catalogue:
    codes: pa.Array  # stock_code per product (string)
    categories: pa.Array  # category name per product (string)
    category: np.ndarray  # category index per product
    price: np.ndarray
    global_table: np.ndarray  # product indices, each repeated in proportion to its popularity
    within_table: np.ndarray  # (category, _TABLE): the same within each category

    @classmethod
    def build(cls, seed: int) -> _Catalogue:
        import pyarrow as pa

        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
        category = np.repeat(np.arange(len(_CATEGORIES)), _CAT_PRODUCTS)
        n = len(category)
        within = np.concatenate([np.arange(k) for k in _CAT_PRODUCTS])
        raw = _CAT_PRICE[category] * rng.lognormal(0.0, 0.5, n)
        price = np.round(np.maximum(np.round(raw, 1) - 0.01, 0.29), 2)  # 4.99, 12.49, ...
        # Zipf-like popularity over a random global ranking of the products
        popularity = 1.0 / (rng.permutation(n) + 8.0) ** 1.1
        # sampling by table lookup: product j fills about popularity_j x _TABLE slots
        first = np.concatenate([[0], np.cumsum(_CAT_PRODUCTS)[:-1]])
        within_table = np.stack(
            [
                lo + _lookup_table(popularity[lo : lo + k])
                for lo, k in zip(first, _CAT_PRODUCTS, strict=True)
            ]
        )
        codes = [f"{c + 1}{j + 1:04d}" for c, j in zip(category, within, strict=True)]
        return cls(
            codes=pa.array(codes, pa.string()),
            categories=pa.array(_CATEGORIES[category].tolist(), pa.string()),
            category=category,
            price=price,
            global_table=_lookup_table(popularity),
            within_table=within_table,
        )


def _lookup_table(weights: np.ndarray) -> np.ndarray:
    """Indices 0..len(weights)-1, each repeated about weights_i / sum x _TABLE times (at least 1).

    A uniform slot of this table samples an index with probabilities quantised to 1 / _TABLE,
    several times faster than searching the cumulative distribution.
    """
    exact = weights / weights.sum() * (_TABLE - len(weights))
    counts = 1 + np.floor(exact).astype(np.int64)
    short = _TABLE - int(counts.sum())  # the largest remainders get the slots left over
    counts[np.argsort(-(exact - np.floor(exact)), kind="stable")[:short]] += 1
    return np.repeat(np.arange(len(weights)), counts)


def _customer_ids(first: int, n: int, width: int) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(
        pc.cast(pa.array(np.arange(first + 1, first + n + 1, dtype=np.int64)), pa.string()),
        width=width,
        padding="0",
    )
    return pc.binary_join_element_wise("C", digits, "")


def _times_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight: shop hours 7:00-21:59, busiest late morning and early afternoon."""
    hours = np.arange(7, 22)
    weight = np.array([1, 3, 6, 9, 10, 10, 9, 9, 8, 6, 5, 5, 4, 3, 2], dtype=np.float64)
    hour = hours[np.searchsorted(np.cumsum(weight) / weight.sum(), rng.random(n), side="right")]
    return hour * 3600 + rng.integers(0, 60, n) * 60


@dataclass
class _People:
    """One block's customers: their attributes and what the attributes do to their buying."""

    age: np.ndarray
    gender: np.ndarray
    income: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    rate: np.ndarray
    dropout: np.ndarray
    log_spend: np.ndarray
    line_factor: np.ndarray
    favourite: np.ndarray
    return_factor: np.ndarray


@dataclass
class _Lines:
    """Purchase lines (by order, then product) and the return lines drawn from them."""

    order: np.ndarray  # the order of each line
    customer: np.ndarray
    product: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    returned: np.ndarray  # the purchase lines sent back (indices into the lines)
    return_group: np.ndarray  # each returned line's return invoice (index into return_orders)
    return_quantity: np.ndarray
    return_seconds: np.ndarray  # per return invoice
    return_number: np.ndarray  # per return invoice: its number after the block's orders
    n_returns: int  # return invoices inside the period


def _block(
    seed: int,
    block: int,
    first: int,
    n: int,
    width: int,
    cal: _Calendar,
    cat: _Catalogue,
    first_invoice: int,
) -> tuple[pa.Table, pa.Table, int]:
    """Simulate customers ``first .. first + n - 1``; returns (lines, customers, invoices used).

    The steps draw from one generator in a fixed order (people, orders, lines, returns): the same
    seed gives the same data, whatever the chunk size.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, block)))
    people = _draw_people(rng, n)
    order_cust, order_day, order_sec = _draw_orders(rng, n, people, cal)
    lines = _draw_lines(rng, people, cat, cal, order_cust, order_day)
    _draw_returns(rng, lines, cat, cal, people, order_cust, order_day)
    return _block_tables(first, n, width, cal, cat, first_invoice, people, lines, order_sec)


def _draw_people(rng: np.random.Generator, n: int) -> _People:
    age = np.clip(np.rint(rng.normal(_AGE_MEAN, _AGE_SD, n)), 18, 90).astype(np.int64)
    gender = rng.choice(len(_GENDERS), n, p=_GENDER_P)
    income = rng.choice(len(_INCOME), n, p=_INCOME_P)
    region = rng.choice(len(_REGIONS), n, p=_REGION_P)
    channel = rng.choice(len(_CHANNELS), n, p=_CHANNEL_P)
    rate = rng.gamma(_R, 1.0 / _ALPHA, n) * np.exp(
        _AGE_RATE * (age - _AGE_MEAN)
        + _INCOME_RATE[income]
        + _REGION_RATE[region]
        + _CHANNEL_RATE[channel]
    )
    dropout = rng.beta(_A, _B * _CHANNEL_B[channel])
    log_spend = (
        np.log(_AOV)
        + _INCOME_SPEND[income]
        + _AGE_SPEND * (age - _AGE_MEAN)
        + rng.normal(0.0, _CUST_SD, n)
    )
    line_factor = rng.gamma(4.0, 0.25, n)
    logits = _CAT_BASE + _CAT_GENDER[gender] + np.outer((age - _AGE_MEAN) / 10.0, _CAT_AGE)
    favourite = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    return_factor = rng.gamma(2.0, 0.5, n)
    return _People(
        age,
        gender,
        income,
        region,
        channel,
        rate,
        dropout,
        log_spend,
        line_factor,
        favourite,
        return_factor,
    )


def _draw_orders(
    rng: np.random.Generator, n: int, people: _People, cal: _Calendar
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every order's customer, day and second, sorted by customer and time."""
    # first purchase: a day drawn from the acquisition density, at a uniform moment in that day
    t0 = np.searchsorted(cal.acq_cdf, rng.random(n), side="right") + rng.random(n)
    t0 = np.minimum(t0, cal.n_days - 1e-9)

    # BG/NBD repeat purchases in operational time (the seasonal intensity integrated), where the
    # process is a plain Poisson process: N events in the window, dropout after the J-th repeat
    # purchase (J ~ Geometric(p)), so the customer makes x = min(N, J) of them. Given N, event times
    # are sorted uniforms; when J < N the J-th is the J-th order statistic ~ Beta(J, N - J + 1).
    s0 = cal.op_time(t0)
    window = cal.op_edges[-1] - s0
    n_events = rng.poisson(people.rate * window)
    last = rng.geometric(people.dropout)
    x = np.minimum(n_events, last)
    cut = last < n_events
    upper = window.copy()
    upper[cut] = window[cut] * rng.beta(last[cut], n_events[cut] - last[cut] + 1)
    owner = np.repeat(np.arange(n), x)
    op = rng.random(len(owner)) * upper[owner]
    ends = np.cumsum(x) - 1
    op[ends[cut]] = upper[cut]
    t_repeat = cal.real_time(s0[owner] + op)

    order_cust = np.concatenate([np.arange(n), owner])
    order_day = np.minimum(np.floor(np.concatenate([t0, t_repeat])), cal.n_days - 1)
    order_day = order_day.astype(np.int64)
    order_sec = order_day * 86_400 + _times_of_day(rng, len(order_cust))
    o = np.argsort((order_cust << 40) | order_sec, kind="stable")
    return order_cust[o], order_day[o], order_sec[o]


def _draw_lines(
    rng: np.random.Generator,
    people: _People,
    cat: _Catalogue,
    cal: _Calendar,
    order_cust: np.ndarray,
    order_day: np.ndarray,
) -> _Lines:
    """How many lines an order has, which products, what the order is worth, quantities and
    prices (returns are drawn next, by :func:`_draw_returns`)."""
    n_orders = len(order_cust)
    value = np.exp(
        people.log_spend[order_cust]
        + _DECEMBER_SPEND * cal.december[order_day]
        + rng.normal(0.0, _ORDER_SD, n_orders)
    )
    n_lines = 1 + rng.poisson(_EXTRA_LINES * people.line_factor[order_cust])
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_cust = order_cust[line_order]
    slot = rng.integers(0, _TABLE, len(line_order))
    fav = rng.random(len(line_order)) < _FAVOURITE_SHARE
    product = cat.global_table[slot]
    product[fav] = cat.within_table[people.favourite[line_cust[fav]], slot[fav]]
    # a product drawn twice for one order is one line (sorted: order, then product)
    key = np.sort(line_order * len(cat.price) + product)
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]  # np.unique, without its hashing
    line_order, product = np.divmod(key, len(cat.price))
    line_cust = order_cust[line_order]
    share = rng.exponential(1.0, len(line_order))
    share /= np.bincount(line_order, share, minlength=n_orders)[line_order]
    price = cat.price[product]
    discounted = rng.random(len(line_order)) < _DISCOUNT_SHARE
    price[discounted] = np.maximum(np.round(price[discounted] * _DISCOUNT, 2), 0.01)
    quantity = np.maximum(np.rint(value[line_order] * share / price), 1).astype(np.int64)
    empty = np.empty(0, dtype=np.int64)
    return _Lines(
        line_order, line_cust, product, price, quantity, empty, empty, empty, empty, empty, 0
    )


def _draw_returns(
    rng: np.random.Generator,
    lines: _Lines,
    cat: _Catalogue,
    cal: _Calendar,
    people: _People,
    order_cust: np.ndarray,
    order_day: np.ndarray,
) -> None:
    """Lines sent back together per order, a few days to weeks later, inside the period."""
    n_orders = len(order_cust)
    ret_p = (
        _RETURN_RATE
        * _CAT_RETURN[cat.category[lines.product]]
        * people.return_factor[lines.customer]
    )
    returned = np.flatnonzero(rng.random(len(lines.order)) < ret_p)
    ret_orders, ret_group = np.unique(lines.order[returned], return_inverse=True)
    ret_day = order_day[ret_orders] + rng.geometric(1 / 9, len(ret_orders))
    keep_order = ret_day < cal.n_days
    ret_sec = ret_day * 86_400 + _times_of_day(rng, len(ret_orders))
    part = rng.random(len(returned)) < 0.25
    ret_qty = lines.quantity[returned].copy()
    ret_qty[part] = 1 + np.floor(rng.random(part.sum()) * ret_qty[part]).astype(np.int64)
    keep = keep_order[ret_group]
    returned, ret_group, ret_qty = returned[keep], ret_group[keep], ret_qty[keep]
    # number return invoices after the block's orders, in (customer, time) order
    kept_orders = np.flatnonzero(keep_order)
    r = kept_orders[np.lexsort((ret_sec[kept_orders], order_cust[ret_orders[kept_orders]]))]
    ret_number = np.empty(len(ret_orders), dtype=np.int64)
    ret_number[r] = n_orders + np.arange(len(r))
    lines.returned, lines.return_group, lines.return_quantity = returned, ret_group, ret_qty
    lines.return_seconds, lines.return_number, lines.n_returns = ret_sec, ret_number, len(r)


def _block_tables(
    first: int,
    n: int,
    width: int,
    cal: _Calendar,
    cat: _Catalogue,
    first_invoice: int,
    people: _People,
    lines: _Lines,
    order_sec: np.ndarray,
) -> tuple[pa.Table, pa.Table, int]:
    """The block's invoice lines (sorted by customer and time) and customer table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n_orders = len(order_sec)
    returned, ret_group = lines.returned, lines.return_group
    # all rows, sorted by customer and time; purchase lines are in that order already, and a
    # stable sort keeps the lines of an invoice together (a key fits: 2**40 s is 34,000 years)
    cust_idx = np.concatenate([lines.customer, lines.customer[returned]])
    seconds = np.concatenate([order_sec[lines.order], lines.return_seconds[ret_group]])
    s = np.argsort((cust_idx << 40) | seconds, kind="stable")
    invoice = np.concatenate([lines.order, lines.return_number[ret_group]])[s]  # 0 .. used - 1
    prod_idx = np.concatenate([lines.product, lines.product[returned]])
    qty = np.concatenate([lines.quantity, -lines.return_quantity])
    unit = np.concatenate([lines.price, lines.price[returned]])

    ids = _customer_ids(first, n, width)
    used = n_orders + lines.n_returns
    numbers = pc.cast(pa.array(np.arange(first_invoice, first_invoice + used)), pa.string())
    inv_strings = pa.concat_arrays(
        [numbers[:n_orders], pc.binary_join_element_wise("C", numbers[n_orders:], "")]
    )
    start_s = (cal.start - _dt.date(1970, 1, 1)).days * 86_400
    take = pa.array(prod_idx[s])
    table = pa.table(
        {
            "customer_id": ids.take(pa.array(cust_idx[s])),
            "invoice_no": inv_strings.take(pa.array(invoice)),
            "invoice_date": pa.array((start_s + seconds[s]) * 1_000_000, pa.timestamp("us")),
            "stock_code": cat.codes.take(take),
            "category": cat.categories.take(take),
            "quantity": pa.array(qty[s], pa.int64()),
            "unit_price": pa.array(unit[s], pa.float64()),
        }
    )
    customers = pa.table(
        {
            "customer_id": ids,
            "age": pa.array(people.age, pa.int64()),
            "gender": pa.array(_GENDERS[people.gender].tolist(), pa.string()),
            "income_bracket": pa.array(_INCOME[people.income].tolist(), pa.string()),
            "region": pa.array(_REGIONS[people.region].tolist(), pa.string()),
            "signup_channel": pa.array(_CHANNELS[people.channel].tolist(), pa.string()),
        }
    )
    return table, customers, used


def _blocks(
    n_customers: int, seed: int, start: _dt.date, end: _dt.date
) -> Iterator[tuple[pa.Table, pa.Table]]:
    cal = _Calendar.build(start, end)
    cat = _Catalogue.build(seed)
    width = max(7, len(str(n_customers)))
    invoice = _FIRST_INVOICE
    for block, first in enumerate(range(0, n_customers, _BLOCK_CUSTOMERS)):
        n = min(_BLOCK_CUSTOMERS, n_customers - first)
        lines, customers, used = _block(seed, block, first, n, width, cal, cat, invoice)
        invoice += used
        yield lines, customers


# --- writing -------------------------------------------------------------------------------------


class _TableWriter:
    """Streams pyarrow tables into one Parquet or CSV (optionally gzip) file."""

    def __init__(self, path: Path, suffix: str, schema: pa.Schema) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self._close: list[Callable[[], None]] = []
        self._cast: pa.Schema | None = None
        if suffix == ".parquet":
            self._writer: Any = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            sink: Any = pa.OSFile(str(path), "wb")
            self._close.append(sink.close)
            if suffix == ".csv.gz":
                sink = pa.CompressedOutputStream(sink, "gzip")
                self._close.insert(0, sink.close)
            # whole seconds print as "2022-01-01 10:23:00", not with six zero decimals; no
            # quotes, since none of our strings holds a separator or a quote
            self._cast = pa.schema(
                [
                    f.with_type(pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f
                    for f in schema
                ]
            )
            self._writer = pacsv.CSVWriter(
                sink, self._cast, write_options=pacsv.WriteOptions(quoting_style="none")
            )
        self._close.insert(0, self._writer.close)

    def write(self, table: pa.Table) -> None:
        if self._cast is not None:
            table = table.cast(self._cast)
        self._writer.write_table(table)

    def close(self) -> None:
        for close in self._close:
            close()


def _write_chunks(
    blocks: Iterator[tuple[pa.Table, pa.Table]],
    per_chunk: int,
    tx: tuple[Path, str],
    cu: tuple[Path, str],
    on_progress: Callable[[int, int], None] | None,
) -> tuple[int, int, int]:
    """Write blocks, ``per_chunk`` at a time; returns (rows, return rows, customers).

    One thread writes chunk k while the caller's thread simulates chunk k + 1 (pyarrow releases
    the GIL), so at most two chunks are in memory.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.compute as pc

    def write(lines: pa.Table, customers: pa.Table) -> None:
        assert writers is not None
        writers[0].write(lines)
        writers[1].write(customers)

    rows = returns = done = 0
    writers: tuple[_TableWriter, _TableWriter] | None = None
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="toolkit-generate") as pool:
            while chunk := [b for _, b in zip(range(per_chunk), blocks, strict=False)]:
                lines = pa.concat_tables([c[0] for c in chunk])
                customers = pa.concat_tables([c[1] for c in chunk])
                del chunk
                if writers is None:
                    writers = (
                        _TableWriter(tx[0], tx[1], lines.schema),
                        _TableWriter(cu[0], cu[1], customers.schema),
                    )
                if pending is not None:
                    pending.result()
                pending = pool.submit(write, lines, customers)
                rows += lines.num_rows
                returns += int(pc.sum(pc.less(lines["quantity"], 0)).as_py() or 0)
                done += customers.num_rows
                if on_progress is not None:
                    on_progress(done, rows)
            if pending is not None:
                pending.result()
    finally:
        if writers is not None:
            for w in writers:
                w.close()
    return rows, returns, done


# --- public --------------------------------------------------------------------------------------


@overload
def generate_transactions(
    n_customers: int,
    *,
    seed: int = ...,
    start: str | _dt.date = ...,
    end: str | _dt.date = ...,
    out: None = ...,
    chunk_customers: int = ...,
    customers_out: None = ...,
    on_progress: Callable[[int, int], None] | None = ...,
) -> tuple[pd.DataFrame, pd.DataFrame]: ...


@overload
def generate_transactions(
    n_customers: int,
    *,
    seed: int = ...,
    start: str | _dt.date = ...,
    end: str | _dt.date = ...,
    out: str | os.PathLike[str],
    chunk_customers: int = ...,
    customers_out: str | os.PathLike[str] | None = ...,
    on_progress: Callable[[int, int], None] | None = ...,
) -> GeneratedFiles: ...


def generate_transactions(
    n_customers: int,
    *,
    seed: int = 0,
    start: str | _dt.date = DEFAULT_START,
    end: str | _dt.date = DEFAULT_END,
    out: str | os.PathLike[str] | None = None,
    chunk_customers: int = 200_000,
    customers_out: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame] | GeneratedFiles:
    """Simulate the invoice lines of an online retailer, and its customer table.

    The story, per customer (rates per day; the numbers are module constants):

    * **Period**: 2022-01-01 to 2023-12-31 (two years, both days included) unless ``start`` /
      ``end`` say otherwise.
    * **Attributes**: age ~ Normal(42, 14) rounded, clipped to 18-90; gender F/M/X (52/46/2 %);
      income bracket ``<25k``, ``25-50k``, ``50-75k``, ``75-100k``, ``>100k`` (18/32/25/15/10 %);
      region North/South/East/West/Central (22/26/18/20/14 %); signup channel
      web/app/store/referral/social (40/20/20/10/10 %).
    * **Acquisition**: the first purchase falls on a day drawn from a density that declines
      linearly to 35 % of its initial value by ``end`` (more customers early on), times the
      seasonal intensity below.
    * **Repeat purchases (BG/NBD)**: purchase rate lambda ~ Gamma(r=0.3, alpha=15 days) (mean one
      purchase every 50 days, very unequal), times exp(0.02 x (age - 42)) (older customers buy
      more often) and factors for income (x0.90 .. x1.11), region (Central x1.3, North x0.85)
      and channel (app x1.4, store x0.8). After each repeat purchase the customer drops out for
      good with probability p ~ Beta(a=0.8, b=4 x channel factor: app x1.3 and referral x1.6 stay
      longer, social x0.6 leaves sooner). Purchases form a Poisson process in *seasonal time*:
      the daily intensity is a month factor (November x1.4, December x1.6, February x0.8, ...)
      times a weekday factor (Saturday lowest), normalised to mean 1 over a year, with 25-26
      December at a fifth. A BG/NBD fit (in days) to 20,000 customers recovers r = 0.31,
      alpha = 15.5, a = 0.66, b = 3.5.
    * **Orders**: the value of an order is lognormal around the customer's own mean: log mean =
      log(42) + income effect (-0.45 .. +0.45) + 0.004 x (age - 42) + Normal(0, 0.5) per
      customer, sd 0.45 per order, December orders x1.13. It is split (Dirichlet shares) over
      1 + Poisson(4.4 x customer factor ~ Gamma(4, 1/4)) lines (a product drawn twice for one
      order is one line). Products come from a catalogue of 400 (stock codes ``10001`` ..
      ``80030``, the first digit is the category) in 8 categories (home, kitchen, gifts, toys,
      stationery, garden, apparel, beauty) with a Zipf-like popularity; 45 % of lines come from
      the customer's favourite category, which depends on gender and age. Unit prices are shop
      prices (4.99, 12.49, ...), 7 % of lines at 20 % off; quantity = value share / unit price,
      rounded, at least 1.
    * **Returns**: a line comes back with probability 2.5 % x category factor (apparel x2.6,
      stationery x0.4) x customer factor (Gamma(2, 1/2)); the returned lines of one order come
      back together 1 + Geometric(1/9) days later as one invoice ``C<number>`` with negative
      quantities (the whole quantity, or for a quarter of the lines part of it). Returns that
      would fall after ``end`` are dropped.

    Invoice numbers run from 100000 through the customers in order; customer ids are ``C`` and
    seven digits (more from 10 million customers on). Times are whole minutes in shop hours
    (7:00-21:59).

    On 5,000 customers (seed 0, default period) this gives 23.1 lines and 4.4 orders per
    customer (median 2, maximum 152; 61 % buy more than once; the top 10 % of customers place
    48 % of the orders, and a purchase-count variance 13 times the mean), 5.1 lines per order,
    a mean order value of 76 (median 66), 2.3 % of lines are returns, 63 % of customers are
    acquired in the first year, and November-December see 1.6 times the average daily orders.
    100,000 customers give about 2.3 million lines, 1 million about 23 million.

    Parameters
    ----------
    n_customers : int
        Number of customers (each makes at least one purchase).
    seed : int, default 0
        The same seed (and arguments) always give the same data, whatever ``chunk_customers``.
    start, end : str or date, default "2022-01-01", "2023-12-31"
        First and last day of the period (both included).
    out : path, optional
        Write the transactions here (``.parquet``, ``.csv`` or ``.csv.gz``), in chunks, atomically;
        without it both tables are returned as DataFrames (for small ``n_customers``).
    chunk_customers : int, default 200_000
        Customers per written chunk (rounded up to whole blocks of 10,000); bounds the memory.
    customers_out : path, optional
        The customer table; default ``<out stem>_customers<out suffix>`` beside ``out``.
    on_progress : callable, optional
        Called after each chunk as ``on_progress(customers_done, rows_done)``.

    Returns
    -------
    (transactions, customers) : tuple of DataFrame
        Without ``out``. transactions: ``customer_id`` (``"C0000001"``...), ``invoice_no``,
        ``invoice_date``, ``stock_code``, ``category``, ``quantity``, ``unit_price``, sorted by
        customer and time; customers: ``customer_id``, ``age``, ``gender``, ``income_bracket``,
        ``region``, ``signup_channel``.
    GeneratedFiles
        With ``out``: the paths written and the row counts.

    Examples
    --------
    >>> tx, customers = generate_transactions(100, seed=1)
    >>> tx.columns.tolist()[:4]
    ['customer_id', 'invoice_no', 'invoice_date', 'stock_code']
    >>> bool((tx["quantity"] != 0).all())
    True
    >>> len(customers), customers["customer_id"].iloc[0]
    (100, 'C0000001')
    """
    n, seed_, first, last, out_path, customers_path = check_generate_args(
        n_customers, seed, start, end, out, customers_out
    )
    if isinstance(chunk_customers, bool) or not isinstance(chunk_customers, int | np.integer):
        raise InputError(f"chunk_customers must be a whole number, got {chunk_customers!r}")
    if chunk_customers < 1:
        raise InputError(f"chunk_customers must be at least 1, got {chunk_customers}")
    per_chunk = -(-int(chunk_customers) // _BLOCK_CUSTOMERS)
    blocks = _blocks(n, seed_, first, last)

    if out_path is None or customers_path is None:
        import pyarrow as pa

        parts = list(blocks)
        if on_progress is not None:
            on_progress(n, sum(p[0].num_rows for p in parts))
        return (
            pa.concat_tables([p[0] for p in parts]).to_pandas(),
            pa.concat_tables([p[1] for p in parts]).to_pandas(),
        )

    for path in (out_path, customers_path):
        path.parent.mkdir(parents=True, exist_ok=True)

    with ExitStack() as stack:
        tmp_tx = stack.enter_context(write_atomic(out_path))
        tmp_cu = stack.enter_context(write_atomic(customers_path))
        rows, returns, done = _write_chunks(
            blocks,
            per_chunk,
            (tmp_tx, _suffix(out_path) or ""),
            (tmp_cu, _suffix(customers_path) or ""),
            on_progress,
        )
    return GeneratedFiles(out_path, customers_path, rows, returns, done)
