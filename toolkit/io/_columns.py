"""Column roles and how they are found: options first, then common spellings.

A column named in an option (``--customer-col``) is matched exactly, or else ignoring case,
spaces, underscores, hyphens, dots, brackets and slashes when exactly one column matches that way.
An omitted role is found from :data:`SPELLINGS`, compared after the same normalisation
(``Customer ID``, ``customer_id``, ``CUSTOMERID`` all read ``customerid``); the first spelling
present wins and a column plays one role at most. Required: a customer id, a date, and an amount
(or a quantity and a unit price, amount = quantity x price). Optional: invoice, product.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields, replace

from toolkit.errors import InputError

ROLES = ("customer", "timestamp", "amount", "quantity", "price", "invoice", "product")

# The parameter that sets each role, as messages name it (the CLI says its option instead).
ROLE_PARAMETER = {
    "customer": "`mapping.customer`",
    "timestamp": "`mapping.timestamp`",
    "amount": "`mapping.amount`",
    "quantity": "`mapping.quantity`",
    "price": "`mapping.price`",
    "invoice": "`mapping.invoice`",
    "product": "`mapping.product`",
}

# Common spellings, compared after normalisation (lower case; spaces, _, -, . removed).
# Order matters: the first spelling present wins.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "customer": (
        "customerid",
        "customer",
        "custid",
        "cust",
        "customerno",
        "custno",
        "customernumber",
        "custnumber",
        "customerkey",
        "customercode",
        "clientid",
        "clientno",
        "client",
        "userid",
        "user",
        "memberid",
        "accountid",
        "buyerid",
        "shopperid",
        "masterid",
    ),
    "timestamp": (
        "invoicedate",
        "orderdate",
        "timestamp",
        "datetime",
        "date",
        "purchasedate",
        "transactiondate",
        "orderdatetime",
        "purchasetime",
        "saledate",
        "createdat",
        "time",
        "orderedat",
        "purchasedat",
    ),
    "amount": (
        "amount",
        "revenue",
        "sales",
        "totalamount",
        "total",
        "ordervalue",
        "linetotal",
        "totalprice",
        "value",
        "spend",
        "netamount",
        "salesamount",
        "orderamount",
        "saleamount",
        "dollarvalue",
        "monetary",
        "purchaseamount",
    ),
    "quantity": ("quantity", "qty", "units", "numberofunits", "quantityordered", "itemcount"),
    "price": ("unitprice", "price", "itemprice", "priceeach", "unitcost"),
    "invoice": (
        "invoiceno",
        "invoice",
        "invoiceid",
        "invoicenumber",
        "orderid",
        "orderno",
        "ordernumber",
        "order",
        "transactionid",
        "receiptid",
        "basketid",
    ),
    "product": (
        "stockcode",
        "productid",
        "product",
        "sku",
        "itemid",
        "item",
        "productcode",
        "itemcode",
        "itemno",
        "article",
        "articleid",
    ),
}


def normalise(name: str) -> str:
    """Lower-case a column name and drop spaces, underscores, hyphens and dots.

    Examples
    --------
    >>> normalise("Customer ID"), normalise("cust_id"), normalise("Invoice-Date")
    ('customerid', 'custid', 'invoicedate')
    """
    return re.sub(r"[\s_\-.()/]+", "", name.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the user's file plays which role (``None``: find it automatically).

    Examples
    --------
    >>> ColumnMapping(customer="CustomerID").customer
    'CustomerID'
    """

    customer: str | None = None
    timestamp: str | None = None
    amount: str | None = None
    quantity: str | None = None
    price: str | None = None
    invoice: str | None = None
    product: str | None = None

    def given(self) -> dict[str, str]:
        """The roles that were set explicitly."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


def _find(role: str, columns: list[str], taken: set[str]) -> str | None:
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(normalise(c), c)
    for spelling in SPELLINGS[role]:
        col = by_norm.get(spelling)
        if col is not None and col not in taken:
            return col
    return None


def closest(name: str, columns: list[str], n: int = 3) -> list[str]:
    """The columns whose names look most like ``name`` (for 'did you mean' messages)."""
    norm = {normalise(c): c for c in columns}
    hits = difflib.get_close_matches(normalise(name), list(norm), n=n, cutoff=0.6)
    return [norm[h] for h in hits]


def match_given(col: str, columns: list[str]) -> str | None:
    """The column an option names: exact, else the one column equal after normalisation."""
    if col in columns:
        return col
    hits = [c for c in columns if normalise(c) == normalise(col)]
    return hits[0] if len(hits) == 1 else None


def _looks_headerless(columns: list[str]) -> bool:
    """Column names without a single letter (``00004``, ``19970101``, ``29.33``) are data."""
    return bool(columns) and not any(re.search(r"[^\W\d_]", c) for c in columns)


def resolve_mapping(
    columns: list[str], mapping: ColumnMapping | None, source: str
) -> tuple[ColumnMapping, dict[str, str]]:
    """Resolve every role to a column of ``columns``.

    Returns the resolved mapping and, for messages, how each role was found ('given' or
    'detected'). Raises InputError naming every problem when a given column does not exist or a
    required role cannot be found.

    Examples
    --------
    >>> m, how = resolve_mapping(["Cust No", "Order Date", "Qty", "Price"], None, "f.csv")
    >>> m.customer, m.timestamp, m.quantity, m.price, how["customer"]
    ('Cust No', 'Order Date', 'Qty', 'Price', 'detected')
    """
    mapping = mapping or ColumnMapping()
    problems: list[str] = []
    how: dict[str, str] = {}
    resolved: dict[str, str | None] = {}
    given = mapping.given()
    headerless = (
        " (the first line looks like data, not a header: give the column names with `names`)"
        if _looks_headerless(columns)
        else ""
    )
    for role, col in given.items():
        match = match_given(col, columns)
        if match is None:
            near = closest(col, columns)
            problems.append(
                f"{ROLE_PARAMETER[role]} {col!r} is not a column of {source}"
                + (f" (did you mean {', '.join(map(repr, near))}?)" if near else "")
            )
        else:
            resolved[role] = match
            how[role] = "given"
    dup = [c for c in set(resolved.values()) if list(resolved.values()).count(c) > 1]
    for c in dup:
        roles = [ROLE_PARAMETER[r] for r, v in resolved.items() if v == c]
        problems.append(f"{' and '.join(roles)} name the same column {c!r}")
    taken = {c for c in resolved.values() if c}
    for role in ROLES:
        if role in given:
            continue
        # amount is derived from quantity x price when both are given explicitly
        if role == "amount" and "quantity" in given and "price" in given:
            continue
        found = _find(role, columns, taken)
        if found is not None:
            resolved[role] = found
            how[role] = "detected"
            taken.add(found)
    if problems:
        raise InputError(
            "; ".join(problems) + f". Columns found: {', '.join(map(repr, columns))}" + headerless
        )
    # amount: an amount column, or quantity x price
    if resolved.get("amount") is None and not (resolved.get("quantity") and resolved.get("price")):
        problems.append(
            "an amount column (`mapping.amount`, or `mapping.quantity` with `mapping.price`)"
        )
    if resolved.get("customer") is None:
        problems.append("a customer id column (`mapping.customer`)")
    if resolved.get("timestamp") is None:
        problems.append("a date column (`mapping.timestamp`)")
    if problems:
        missing = [r for r in ("customer", "timestamp", "amount") if resolved.get(r) is None]
        hint = headerless
        if not hint and resolved.get("timestamp") is None and resolved.get("customer") is not None:
            hint = (
                " (this looks like a customer table, one row per customer: commands that read "
                "transactions need a date and an amount per purchase)"
            )
        raise InputError(
            f"{source}: missing required column(s): {'; '.join(problems)}. "
            f"Columns found: {', '.join(map(repr, columns))}."
            + _suggestions(columns, missing, set(resolved.values()))
            + hint
        )
    return replace(ColumnMapping(), **resolved), how


def _suggestions(columns: list[str], roles: list[str], taken: set[str | None]) -> str:
    """'Closest names': for each missing role, the free column most like one of its spellings."""
    hints = []
    free = [c for c in columns if c not in taken]
    for role in roles:
        best, score = None, 0.6
        for c in free:
            for spelling in SPELLINGS[role]:
                r = difflib.SequenceMatcher(None, normalise(c), spelling).ratio()
                if r > score:
                    best, score = c, r
        if best is not None:
            hints.append(f"{best!r} for {ROLE_PARAMETER[role]}?")
    return (" Closest names: " + ", ".join(hints)) if hints else ""


ID_SPELLINGS = SPELLINGS["customer"] + ("id", "key")


def find_id_column(columns: list[str]) -> str | None:
    """The column that most likely holds the customer id in a customer table.

    Examples
    --------
    >>> find_id_column(["CustomerID", "Genre", "Age"])
    'CustomerID'
    >>> find_id_column(["ID", "frequency"])
    'ID'
    """
    by_norm = {normalise(c): c for c in columns}
    for spelling in ID_SPELLINGS:
        if spelling in by_norm:
            return by_norm[spelling]
    return None
