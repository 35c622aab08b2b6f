"""Customer features on tables small enough to compute by hand (toolkit.features).

``tests/data/features_tiny.csv`` (amount = Quantity x UnitPrice), cutoff C = 2024-07-01:

- A: invoice 100 (two lines, 30) on 2024-01-03 00:00 (exactly C - 180 days) and invoice 101 (5) the
  same day at 15:00; 102 (10) on 03-03; 103 (15) on 04-02 00:00 (exactly C - 90); a return C103
  (5) on 05-25; 104 (20) on 06-01 00:00 (exactly C - 30); 105 (5) exactly at the cutoff,
  2024-07-01 00:00 (a label, never a feature); a return C105 after the cutoff; 106 (40) on 08-15.
- B: one purchase (50) on 2023-11-30 23:59, then nothing until 2024-12-01 10:00 (30).
- C: invoices 300 (8) and 301 (12) on the leap day 2024-02-29; a return C300 (6) on 04-01;
  302 (8) on 05-31 23:59:59 (one second before the 30-day window); 303 (3) on 06-30 23:59:59
  (the last second before the cutoff); 304 (8) on 2024-08-30 00:00 (exactly C + 60 days).
- D bought only after the cutoff, E only returned, and one row has no customer id: none of them
  is a row of the feature table.

Day numbers used in the comments below count from 2024-01-01 = day 0: 2023-11-30 = -32,
01-03 = 2, 02-29 = 59, 03-03 = 62, 04-02 = 92, 05-31 = 151, 06-01 = 152, 06-30 = 181,
C = 07-01 = 182. Windows: 30d = [06-01, C), 90d = [04-02, C), 180d = [01-03, C); the 90 days
before the last 90: [01-03, 04-02).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from toolkit.errors import InputError
from toolkit.features import (
    FEATURE_COLUMNS,
    LABEL_COLUMNS,
    compute_features,
    is_customer_table,
    parse_cutoff,
    resolve_spec,
)
from toolkit.io import read_table, read_transactions

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "features_tiny.csv"
CUTOFF = "2024-07-01"
NAN = float("nan")

# Every feature of A, B and C at the cutoff 2024-07-01, in days (how each was computed: comment).
EXPECTED_DAYS: dict[str, list[object]] = {
    "customer_id": ["A", "B", "C"],
    "first_purchase": pd.to_datetime(["2024-01-03", "2023-11-30", "2024-02-29"]).tolist(),
    "last_purchase": pd.to_datetime(["2024-06-01", "2023-11-30", "2024-06-30"]).tolist(),
    # C - last day: 182-152, 182-(-32), 182-181
    "recency_days": [30, 214, 1],
    # C - first day: 182-2, 182-(-32), 182-59
    "tenure_days": [180, 214, 123],
    # distinct purchase days after the first: A {2,62,92,152} -> 3; B {-32} -> 0;
    # C {59,151,181} -> 2
    "frequency": [3, 0, 2],
    # last - first day: 152-2, 0, 181-59
    "recency": [150.0, 0.0, 122.0],
    # (C - 1 day = 181) - first day: 181-2, 181+32, 181-59 (C's recency equals its T)
    "T": [179.0, 213.0, 122.0],
    # distinct invoices: A 100..104 (C103 is a return, 105 is at the cutoff); B 200; C 300..303
    "n_orders": [5, 1, 4],
    # quantities: A 2+1+1+4+3+1; B 1; C 1+2+1+3
    "n_items": [12.0, 1.0, 7.0],
    # A P1,P2,P3; B P4; C P5,P6,P7
    "n_products": [3, 1, 3],
    # net: bought - returned before C: A 80-5; B 50; C 31-6
    "lifetime_spend": [75.0, 50.0, 25.0],
    # bought: A 10+20+5+10+15+20; B 50; C 8+12+8+3
    "gross_spend": [80.0, 50.0, 31.0],
    # returned before C: A's C103 (5; C105 is after C); C's C300 (6); E only returned: no row
    "returned_value": [5.0, 0.0, 6.0],
    # lifetime_spend / n_orders: 75/5, 50/1, 25/4
    "avg_order_value": [15.0, 50.0, 6.25],
    # mean spend of the repeat days x the kept share: A (10+15+20)/3 x 75/80; B no repeat -> 0;
    # C (8+3)/2 x 25/31
    "monetary": [15.0 * 75.0 / 80.0, 0.0, 5.5 * 25.0 / 31.0],
    # gaps between purchase days: A 60,30,60; B none; C 92,30
    "gap_mean": [50.0, NAN, 61.0],
    # population sd: A sqrt((10^2+20^2+10^2)/3) = sqrt(200); C sqrt((31^2+31^2)/2) = 31
    "gap_std": [math.sqrt(200.0), NAN, 31.0],
    "gap_cv": [math.sqrt(200.0) / 50.0, NAN, 31.0 / 61.0],
    # recency_days / gap_mean: 30/50, missing, 1/61
    "overdue_ratio": [0.6, NAN, 1.0 / 61.0],
    # [06-01 00:00, C): A's 104 (exactly at the window's start); C's 303 (302 is 1 s too early)
    "orders_30d": [1, 0, 1],
    # [04-02 00:00, C): A 103, 104; C 302, 303
    "orders_90d": [2, 0, 2],
    # [01-03 00:00, C): A all 5 (100 exactly at the start); B's 11-30 is older; C all 4
    "orders_180d": [5, 0, 4],
    # net of the returns inside each window: A's C103 (05-25) is in the 90- and 180-day windows;
    # C's C300 (04-01) one day before the 90-day window, inside the 180-day one
    "spend_30d": [20.0, 0.0, 3.0],
    "spend_90d": [35.0 - 5.0, 0.0, 11.0],
    "spend_180d": [80.0 - 5.0, 0.0, 31.0 - 6.0],
    # (s1 - s0) / (s1 + s0), s0 = net spend in [01-03, 04-02):
    # A (30-45)/75; B 0 and 0 -> 0; C (11-(20-6))/25
    "spend_trend": [-0.2, 0.0, -3.0 / 25.0],
    # months with a purchase / months from the first month to June 2024:
    # A {Jan, Mar, Apr, Jun}/6; B {Nov}/8 (Nov 2023..Jun 2024); C {Feb, May, Jun}/5
    "loyalty_index": [4.0 / 6.0, 1.0 / 8.0, 3.0 / 5.0],
    # returned before C / bought before C: A 5/80 (C105 is after C); B 0/50; C 6/31
    "return_rate": [5.0 / 80.0, 0.0, 6.0 / 31.0],
}

# Labels by horizon (days): window [C, C + horizon); A always has 105 (5, at C) and 106 (40),
# less the return C105 (5, on 07-10): a net 40.
EXPECTED_LABELS: dict[int, dict[str, list[object]]] = {
    # C + 60 = 08-30 00:00: C's 304 is exactly at the (excluded) end of the window
    60: {"repeat_purchase": [1, 0, 0], "holdout_spend": [40.0, 0.0, 0.0]},
    # C + 61 = 08-31: 304 (8) now inside
    61: {"repeat_purchase": [1, 0, 1], "holdout_spend": [40.0, 0.0, 8.0]},
    # C + 153 = 12-01 00:00: B's 12-01 10:00 purchase is still outside
    153: {"repeat_purchase": [1, 0, 1], "holdout_spend": [40.0, 0.0, 8.0]},
    # C + 154 = 12-02: B's 201 (30) inside
    154: {"repeat_purchase": [1, 1, 1], "holdout_spend": [40.0, 30.0, 8.0]},
}


def expected_frame(time_unit: str, horizon: int | None) -> pd.DataFrame:
    data = dict(EXPECTED_DAYS)
    if time_unit == "weeks":
        # recency and T in weeks: the day counts above / 7; nothing else changes
        data["recency"] = [150.0 / 7, 0.0, 122.0 / 7]
        data["T"] = [179.0 / 7, 213.0 / 7, 122.0 / 7]
    if horizon is not None:
        data.update(EXPECTED_LABELS[horizon])
    return pd.DataFrame(data)


def assert_same_frame(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        g, w = got[col], want[col]
        if col in ("customer_id",):
            assert g.astype(str).tolist() == w.tolist(), col
        elif col in ("first_purchase", "last_purchase"):
            assert pd.to_datetime(g).tolist() == w.tolist(), col
        else:
            assert pd.api.types.is_numeric_dtype(g), f"{col} is {g.dtype}"
            pd.testing.assert_series_equal(
                g.astype("float64"),
                w.astype("float64"),
                check_names=False,
                rtol=1e-12,
                atol=1e-12,
                obj=col,
            )


@pytest.fixture(scope="module")
def tiny():
    # one read for the module: compute_features only reads the log
    tx = read_transactions(TINY)
    yield tx
    tx.close()


@pytest.mark.parametrize("horizon", [None, 60, 61, 153, 154], ids=lambda h: f"horizon={h}")
@pytest.mark.parametrize("time_unit", ["days", "weeks"])
def test_three_customers_exact_frame(tiny, time_unit, horizon):
    got = compute_features(tiny, cutoff=CUTOFF, horizon=horizon, time_unit=time_unit)
    want = expected_frame(time_unit, horizon)
    columns = list(FEATURE_COLUMNS) + (list(LABEL_COLUMNS) if horizon is not None else [])
    assert list(want.columns) == columns
    assert_same_frame(got, want)


def test_integer_columns_are_integers(tiny):
    got = compute_features(tiny, cutoff=CUTOFF, horizon=60)
    for col in (
        "recency_days",
        "tenure_days",
        "frequency",
        "n_orders",
        "n_products",
        "orders_30d",
        "orders_90d",
        "orders_180d",
        "repeat_purchase",
    ):
        assert pd.api.types.is_integer_dtype(got[col]), f"{col}: {got[col].dtype}"
    assert got["customer_id"].dtype == "string"
    assert pd.api.types.is_datetime64_dtype(got["first_purchase"])


@pytest.mark.parametrize(
    ("cutoff", "cutoff_type"),
    [("2024-07-01", str), ("2024-07-01", "date"), ("2024-07-01", "datetime")],
    ids=["text", "date", "datetime"],
)
def test_cutoff_accepts_text_date_and_midnight_datetime(tiny, cutoff, cutoff_type):
    value = cutoff if cutoff_type is str else pd.Timestamp(cutoff)
    if cutoff_type == "date":
        value = pd.Timestamp(cutoff).date()
    got = compute_features(tiny, cutoff=value)
    assert_same_frame(got, expected_frame("days", None))


def test_default_cutoff_is_the_day_after_the_last_purchase(tiny):
    spec, notes = resolve_spec(tiny)
    # last purchase: B's 2024-12-01 10:00 (returns do not count)
    assert str(spec.cutoff) == "2024-12-02"
    assert any("2024-12-02" in n for n in notes)
    got = compute_features(tiny)
    # D (bought only after 2024-07-01) is now a customer; E (returns only) never is
    assert got["customer_id"].tolist() == ["A", "B", "C", "D"]
    assert got.set_index("customer_id")["recency_days"].to_dict() == {
        "A": 109,  # 12-02 - 08-15
        "B": 1,  # 12-02 - 12-01
        "C": 94,  # 12-02 - 08-30
        "D": 150,  # 12-02 - 07-05
    }


@pytest.mark.parametrize(
    ("horizon", "warns"),
    [(60, False), (154, False), (155, True), (400, True)],
)
def test_label_window_past_the_data_is_a_warning(tiny, horizon, warns):
    # last purchase 2024-12-01: C + 154 days = 2024-12-02 is the last window end fully covered
    _, notes = resolve_spec(tiny, CUTOFF, horizon)
    assert any(n.startswith("warning") for n in notes) is warns


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cutoff": "2023-11-30"}, "on or before the first purchase"),
        ({"cutoff": "2023-01-01"}, "on or before the first purchase"),
        ({"cutoff": "2024-07-01", "horizon": 0}, "`horizon`"),
        ({"cutoff": "2024-07-01", "horizon": -5}, "`horizon`"),
        ({"cutoff": "2024-07-01", "time_unit": "months"}, "`time_unit`"),
        ({"cutoff": "07/01/2024"}, "`cutoff`"),
        ({"cutoff": "2024-07-01xyz"}, "`cutoff`"),
        ({"cutoff": "2024-07-01 12:00"}, "`cutoff`"),
        ({"cutoff": "soon"}, "`cutoff`"),
    ],
)
def test_bad_options_are_input_errors(tiny, kwargs, match):
    with pytest.raises(InputError, match=match):
        compute_features(tiny, **kwargs)


def test_first_cutoff_allowed_is_the_day_after_the_first_purchase(tiny):
    # B's 2023-11-30 23:59 purchase is the first; on 12-01 only B is a customer
    got = compute_features(tiny, cutoff="2023-12-01")
    assert got["customer_id"].tolist() == ["B"]
    row = got.iloc[0]
    assert (row["recency_days"], row["tenure_days"], row["recency"], row["T"]) == (1, 1, 0.0, 0.0)
    assert row["loyalty_index"] == 1.0  # Nov 2023 of Nov 2023


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2011-09-10", "2011-09-10"),
        (" 2011-09-10 ", "2011-09-10"),
        ("2011-09-10 00:00:00", "2011-09-10"),
        ("20110910", "2011-09-10"),
        (None, None),
    ],
)
def test_parse_cutoff(value, expected):
    got = parse_cutoff(value)
    assert (None if got is None else got.isoformat()) == expected


# --- a log without invoice, quantity and product columns -------------------------------------

MINIMAL = """customer,date,amount
x,2024-01-01,10
x,2024-01-01 18:00,5
x,2024-01-10,-4
x,2024-01-15,20
y,2024-01-20,7
x,2024-02-01,100
"""


def test_log_without_invoice_quantity_product(tmp_path):
    path = tmp_path / "minimal.csv"
    path.write_text(MINIMAL)
    with read_transactions(path) as tx:
        got = compute_features(tx, cutoff="2024-02-01")
    # cutoff C = 2024-02-01; x's 100 at C is not a feature; x's -4 is a return
    want = pd.DataFrame(
        {
            "customer_id": ["x", "y"],
            "first_purchase": [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-20")],
            "last_purchase": [pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-20")],
            "recency_days": [17, 12],  # 02-01 - 01-15, 02-01 - 01-20
            "tenure_days": [31, 12],
            "frequency": [1, 0],  # x: days {01-01, 01-15}
            "recency": [14.0, 0.0],
            "T": [30.0, 11.0],  # 01-31 - 01-01, 01-31 - 01-20
            "n_orders": [3, 1],  # no invoice column: every purchase row is an order
            "n_items": [3.0, 1.0],  # no quantity column: rows
            "n_products": [NAN, NAN],  # no product column: missing
            "lifetime_spend": [31.0, 7.0],  # net: x bought 35, returned 4
            "gross_spend": [35.0, 7.0],
            "returned_value": [4.0, 0.0],
            "avg_order_value": [31.0 / 3, 7.0],
            "monetary": [20.0 * 31.0 / 35.0, 0.0],  # the repeat day's 20 x the kept share
            "gap_mean": [14.0, NAN],
            "gap_std": [0.0, NAN],  # one gap: sd 0
            "gap_cv": [0.0, NAN],
            "overdue_ratio": [17.0 / 14.0, NAN],
            "orders_30d": [1, 1],  # [01-02, 02-01): x's 01-15, y's 01-20
            "orders_90d": [3, 1],
            "orders_180d": [3, 1],
            "spend_30d": [20.0 - 4.0, 7.0],  # x's return on 01-10 is inside every window
            "spend_90d": [31.0, 7.0],
            "spend_180d": [31.0, 7.0],
            "spend_trend": [1.0, 1.0],  # nothing in the 90 days before: (s1 - 0) / s1
            "loyalty_index": [1.0, 1.0],  # January of January
            "return_rate": [4.0 / 35.0, 0.0],
        }
    )
    assert_same_frame(got, want)
    assert got["n_products"].isna().all()


# --- customer tables ---------------------------------------------------------------------------


def customer_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "CustomerID": ["C", "A", "Z"],  # B is missing, Z bought nothing
            "Gender": pd.Categorical(["f", "m", "f"], categories=["f", "m", "x"]),
            "Age": [31, 45, 27],
            "Region": pd.array(["north", "south", "east"], dtype="string"),
            "frequency": [7, 8, 9],  # clashes with a feature name
        }
    )


def test_customer_table_join(tiny):
    got = compute_features(tiny, cutoff=CUTOFF, horizon=60, customers=customer_table())
    assert list(got.columns) == [
        *FEATURE_COLUMNS,
        *LABEL_COLUMNS,
        "Gender",
        "Age",
        "Region",
        "customer_frequency",
    ]
    # the features themselves are untouched by the join (same rows, same order)
    assert_same_frame(got[list(FEATURE_COLUMNS) + list(LABEL_COLUMNS)], expected_frame("days", 60))
    assert isinstance(got["Gender"].dtype, pd.CategoricalDtype)
    assert list(got["Gender"].cat.categories) == ["f", "m", "x"]
    assert got["Gender"].tolist()[0::2] == ["m", "f"]  # A, C
    assert got["Age"].tolist()[0::2] == [45, 31]
    assert got["Region"].tolist()[0::2] == ["south", "north"]
    assert got["customer_frequency"].tolist()[0::2] == [8, 7]
    # B is not in the customer table: every joined column missing; Z is not a customer
    assert got.loc[1, ["Gender", "Age", "Region", "customer_frequency"]].isna().all()
    assert "Z" not in set(got["customer_id"])


def test_customer_table_read_from_file_keeps_categories(tiny, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("CustomerID,Gender,Age\nA,m,45\nC,f,31\nZ,f,27\nQ,m,50\n")
    got = compute_features(tiny, cutoff=CUTOFF, customers=read_table(path))
    assert isinstance(got["Gender"].dtype, pd.CategoricalDtype)
    assert got["Gender"].astype(object).where(got["Gender"].notna(), None).tolist() == [
        "m",
        None,
        "f",
    ]


def test_customer_table_with_numeric_ids_joins_text_ids(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("CustomerID,InvoiceDate,Amount\n17850.0,2024-01-02,10\n00042,2024-01-03,5\n")
    customers = pd.DataFrame({"CustomerID": [17850.0, 3.0], "Age": [40, 50]})
    with read_transactions(log) as tx:
        got = compute_features(tx, cutoff="2024-02-01", customers=customers)
    assert got["customer_id"].tolist() == ["00042", "17850"]
    assert got["Age"].isna().tolist() == [True, False]
    assert got["Age"].iloc[1] == 40


def test_customer_table_duplicate_ids_refused(tiny):
    customers = pd.DataFrame({"CustomerID": ["A", "B", "A"], "Age": [1, 2, 3]})
    with pytest.raises(InputError, match="duplicate customer ids"):
        compute_features(tiny, cutoff=CUTOFF, customers=customers)


def test_customer_table_without_id_column_refused(tiny):
    with pytest.raises(InputError, match="customer id column"):
        compute_features(tiny, cutoff=CUTOFF, customers=pd.DataFrame({"Age": [1]}))


def test_compute_features_can_be_called_repeatedly_with_a_customer_table(tiny):
    # DuckDB >= 2.0 refuses register() while a half-read result is pending on the connection
    first = compute_features(tiny, cutoff=CUTOFF, customers=customer_table())
    tiny.con.execute("SELECT * FROM range(10)").fetchone()  # leave a result half read
    second = compute_features(tiny, cutoff=CUTOFF, customers=customer_table())
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CustomerID,Genre,Age\n0001,Male,19\n0002,Female,21\n", True),
        ("customer_id,order_date,amount\na,2024-01-01,3\n", False),
        # no known date spelling, but the id repeats: a log, not a customer table
        ("customer_id,day,amount\na,2024-01-01,3\na,2024-01-05,4\n", False),
    ],
    ids=["customer-table", "log", "log-with-unusual-date-name"],
)
def test_is_customer_table(tmp_path, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert is_customer_table(path) is expected


# --- orders: lines of one invoice, dated by the first line ------------------------------------

ORDERS = """InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID
1,P1,1,2024-03-10 23:59:00,10,m
1,P2,2,2024-03-11 00:01:00,5,m
2,P1,1,2024-03-20 12:00:00,4,m
3,P1,1,2024-03-31 23:59:30,6,n
3,P2,1,2024-04-01 00:00:30,7,n
,P1,1,2024-01-05 10:00:00,5,q
,P1,1,2024-02-05 10:00:00,5,q
,P2,1,2024-02-05 10:00:00,5,q
"""


def test_orders_are_dated_by_their_first_line(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    with read_transactions(path) as tx:
        got = compute_features(tx, cutoff="2024-04-01", horizon=10)
    # m: invoice 1 runs past midnight (03-10 23:59 and 03-11 00:01): one order on 03-10, worth
    #    10 + 2 x 5; invoice 2 on 03-20 (4).
    # n: invoice 3 begins 30 s before the cutoff and ends 30 s after it: the first line (6, P1)
    #    is a feature, the second a purchase in the label window (7).
    # q: no invoice numbers: one order per timestamp (01-05: 5; 02-05: two lines, 10), not one
    #    order for all of q's lines.
    want = {
        "customer_id": ["m", "n", "q"],
        "last_purchase": pd.to_datetime(["2024-03-20", "2024-03-31", "2024-02-05"]).tolist(),
        "recency_days": [12, 1, 56],  # 04-01 - 03-20, 04-01 - 03-31, 04-01 - 02-05
        "frequency": [1, 0, 1],
        "recency": [10.0, 0.0, 31.0],
        "T": [21.0, 0.0, 86.0],  # 03-31 - 03-10, 03-31 - 03-31, 03-31 - 01-05
        "n_orders": [2, 1, 2],
        "n_items": [4.0, 1.0, 3.0],
        "n_products": [2, 1, 2],
        "lifetime_spend": [24.0, 6.0, 15.0],
        "monetary": [4.0, 0.0, 10.0],
        "loyalty_index": [1.0, 1.0, 2 / 3],  # q: Jan, Feb of Jan..Mar
        "repeat_purchase": [0, 1, 0],
        "holdout_spend": [0.0, 7.0, 0.0],
    }
    assert_same_frame(got[list(want)], pd.DataFrame(want))
