"""Column roles (toolkit.io._columns): options, common spellings, messages for missing columns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import InputError
from toolkit.io import ColumnMapping, find_id_column, normalise, resolve_mapping

ONLINE_RETAIL = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def test_online_retail_columns_are_all_detected():
    m, how = resolve_mapping(ONLINE_RETAIL, None, "or.csv")
    assert m == ColumnMapping(
        customer="CustomerID",
        timestamp="InvoiceDate",
        amount=None,
        quantity="Quantity",
        price="UnitPrice",
        invoice="InvoiceNo",
        product="StockCode",
    )
    assert set(how.values()) == {"detected"}


@pytest.mark.parametrize(
    ("columns", "role", "expected"),
    [
        (["Customer ID", "InvoiceDate", "Amount"], "customer", "Customer ID"),
        (["cust_id", "order_date", "revenue"], "customer", "cust_id"),
        (["cust_id", "order_date", "revenue"], "timestamp", "order_date"),
        (["cust_id", "order_date", "revenue"], "amount", "revenue"),
        (["user_id", "timestamp", "sales"], "amount", "sales"),
        (["Cust No", "Order Date", "Qty", "Price"], "quantity", "Qty"),
        (["Cust No", "Order Date", "Qty", "Price"], "price", "Price"),
        (["client", "Date", "Total", "Invoice", "product_id"], "invoice", "Invoice"),
        (["client", "Date", "Total", "Invoice", "product_id"], "product", "product_id"),
        (["CUSTOMER-ID", "Invoice.Date", "AMOUNT"], "timestamp", "Invoice.Date"),
        (["\ufeffCustomerID", "InvoiceDate", "Amount"], "customer", "\ufeffCustomerID"),
    ],
)
def test_common_spellings(columns, role, expected):
    m, _ = resolve_mapping(columns, None, "f.csv")
    assert getattr(m, role) == expected


def test_given_columns_win_and_are_marked_given():
    cols = ["id", "when", "value", "CustomerID", "InvoiceDate"]
    m, how = resolve_mapping(
        cols, ColumnMapping(customer="id", timestamp="when", amount="value"), "f.csv"
    )
    assert (m.customer, m.timestamp, m.amount) == ("id", "when", "value")
    assert how == {"customer": "given", "timestamp": "given", "amount": "given"}


def test_given_column_matches_ignoring_case_and_spaces_when_unambiguous():
    m, _ = resolve_mapping(
        ["Customer ID", "Order Date", "Amount"], ColumnMapping(customer="customer_id"), "f.csv"
    )
    assert m.customer == "Customer ID"
    with pytest.raises(InputError, match="`mapping.customer` 'customer_id' is not a column"):
        resolve_mapping(
            ["Customer ID", "customerid", "Date", "Amount"],
            ColumnMapping(customer="customer_id"),
            "f.csv",
        )


def test_quantity_and_price_give_the_amount():
    m, _ = resolve_mapping(
        ["c", "d", "q", "p", "amount"],
        ColumnMapping(customer="c", timestamp="d", quantity="q", price="p"),
        "f.csv",
    )
    assert m.amount is None and (m.quantity, m.price) == ("q", "p")


def test_a_column_plays_one_role():
    # 'Date' would fit the timestamp only once; 'Order' is the invoice, 'Order Date' the date
    m, _ = resolve_mapping(["Customer", "Order", "Order Date", "Amount"], None, "f.csv")
    assert (m.invoice, m.timestamp) == ("Order", "Order Date")
    with pytest.raises(InputError, match="name the same column 'x'"):
        resolve_mapping(["x", "y", "z"], ColumnMapping(customer="x", timestamp="x"), "f.csv")


def test_missing_required_column_lists_columns_and_closest_names():
    with pytest.raises(InputError) as e:
        resolve_mapping(["Custmer", "Amount", "OrderDat"], None, "f.csv")
    msg = str(e.value)
    assert "missing required column(s)" in msg
    assert "a customer id column (`mapping.customer`)" in msg
    assert "a date column (`mapping.timestamp`)" in msg
    assert "Columns found: 'Custmer', 'Amount', 'OrderDat'" in msg
    assert "'Custmer' for `mapping.customer`?" in msg
    assert "'OrderDat' for `mapping.timestamp`?" in msg


def test_unknown_option_column_is_named_with_a_suggestion():
    with pytest.raises(InputError) as e:
        resolve_mapping(ONLINE_RETAIL, ColumnMapping(customer="CustomerIDs"), "or.csv")
    msg = str(e.value)
    assert "`mapping.customer` 'CustomerIDs' is not a column of or.csv" in msg
    assert "did you mean 'CustomerID'" in msg and "Columns found: 'InvoiceNo'" in msg


def test_customer_table_hint():
    with pytest.raises(InputError, match="looks like a customer table"):
        resolve_mapping(["CustomerID", "Genre", "Age"], None, "mall.csv")


def test_headerless_hint():
    with pytest.raises(InputError, match="looks like data, not a header: give the column names"):
        resolve_mapping(["00004", "0001", "19970101", "2", "29.33"], None, "cdnow.txt")


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["CustomerID", "Genre", "Age"], "CustomerID"),
        (["ID", "frequency", "recency", "T"], "ID"),
        (["customer_key", "x"], "customer_key"),
        (["Age", "Income"], None),
    ],
)
def test_find_id_column(columns, expected):
    assert find_id_column(columns) == expected


# --- property: any spelling variant of 'Customer ID' is found ----------------------------------

SEPARATORS = st.sampled_from(["", " ", "_", "-", ".", "  ", "__", " _ "])


@st.composite
def customer_id_variants(draw: st.DrawFn) -> str:
    words = ["customer", "id"]
    if draw(st.booleans()):
        words = ["cust", "id"]
    cased = ["".join(ch.upper() if draw(st.booleans()) else ch for ch in word) for word in words]
    name = cased[0] + draw(SEPARATORS) + cased[1]
    return draw(st.sampled_from(["", " ", "\ufeff"])) + name + draw(st.sampled_from(["", " "]))


@given(name=customer_id_variants())
@settings(max_examples=100, deadline=None)
def test_any_variant_of_customer_id_is_detected(name):
    assert normalise(name) in ("customerid", "custid")
    m, how = resolve_mapping(["InvoiceDate", name, "Amount", "Description"], None, "f.csv")
    assert m.customer == name and how["customer"] == "detected"
    assert find_id_column(["Age", name]) == name


@given(st.text(max_size=30))
@settings(max_examples=100, deadline=None)
def test_normalise_is_idempotent_and_drops_separators(name):
    n = normalise(name)
    assert normalise(n) == n
    assert not any(ch in n for ch in " _-./()") and n == n.lower()
