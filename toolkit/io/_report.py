"""The validation report: every problem found in a log at once, with examples, as text or JSON,
and the rule that decides whether anything is left to analyse."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from toolkit.errors import DataValidationError
from toolkit.io._columns import ROLE_PARAMETER
from toolkit.io._remote import display

if TYPE_CHECKING:
    from toolkit.io._transactions import Transactions

PROBLEMS: dict[str, tuple[str, str]] = {
    # code: (description, treatment)
    "missing_id": ("rows without a customer id", "excluded"),
    "bad_date": ("rows whose date is missing or cannot be parsed", "excluded"),
    "bad_amount": ("rows whose amount, quantity or price is missing or not a number", "excluded"),
    "huge_amount": (
        "rows with an outlying amount too large to total (beyond +-1e300, or a quantity x price "
        "that overflows)",
        "excluded",
    ),
    "nonpositive_price": ("rows with a zero or negative unit price", "excluded"),
    "return": (
        "cancellations and returns (invoice 'C' + digit, negative quantity or amount)",
        "kept apart as returns",
    ),
    "zero_amount": (
        "purchases with a zero amount",
        "kept: a free order is still a purchase occasion",
    ),
    "duplicate": ("exact duplicate rows (every column equal to an earlier row)", "reported, kept"),
    "future_date": ("rows dated in the future", "reported, kept"),
    "outlier_amount": (
        "purchases with an outlying amount (log10 amount more than 5 robust SDs from the median)",
        "reported, kept",
    ),
}


@dataclass
class Problem:
    """One kind of problem found in the data, with its count and up to five example rows."""

    code: str
    description: str
    treatment: str
    count: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """Everything :func:`read_transactions` found: summary figures and every problem at once."""

    source: str
    rows: int
    customers: int
    first_date: datetime | None
    last_date: datetime | None
    purchase_rows: int
    purchase_customers: int
    purchase_amount: float
    return_rows: int
    return_amount: float
    columns: dict[str, str]
    detected: dict[str, str]
    notes: list[str]
    problems: list[Problem]
    full: bool = True
    cancellation_rows: int = 0  # invoice 'C' + digit, in all rows
    cancellations_kept: int = 0  # those among the returns (the others are excluded)
    #: the currency sign most of the amounts (or prices) are written with ($, €, £, ¥), if any
    currency: str | None = None

    @property
    def usable(self) -> bool:
        return self.purchase_rows > 0

    def problem(self, code: str) -> Problem | None:
        return next((p for p in self.problems if p.code == code), None)

    def count(self, code: str) -> int:
        p = self.problem(code)
        return p.count if p else 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the report."""

        def iso(d: datetime | None) -> str | None:
            return d.isoformat(sep=" ") if d is not None else None

        # "full": False when the duplicate and outlier checks have not run
        return {
            "source": self.source,
            "rows": self.rows,
            "customers": self.customers,
            "first_date": iso(self.first_date),
            "last_date": iso(self.last_date),
            "purchase_rows": self.purchase_rows,
            "purchase_customers": self.purchase_customers,
            "purchase_amount": _jsonable(self.purchase_amount),
            "return_rows": self.return_rows,
            "return_amount": _jsonable(self.return_amount),
            "cancellation_rows": self.cancellation_rows,
            "cancellations_kept": self.cancellations_kept,
            "currency": self.currency,
            "columns": self.columns,
            "detected": self.detected,
            "notes": self.notes,
            "full": self.full,
            "problems": [
                {
                    "code": p.code,
                    "description": p.description,
                    "treatment": p.treatment,
                    "count": p.count,
                    "examples": [{k: _jsonable(v) for k, v in e.items()} for e in p.examples],
                }
                for p in self.problems
            ],
        }

    def render_text(self) -> str:
        """The report as the lines ``toolkit validate`` prints."""
        lines = [f"{self.source}"]
        for role, col in self.columns.items():
            how = self.detected.get(role, "given")
            lines.append(f"  {role:<9} <- {col!r} ({how})")
        lines += [
            f"  rows:             {self.rows:,}",
            f"  customers:        {self.customers:,}",
            f"  date range:       {_day(self.first_date)} to {_day(self.last_date)}",
            f"  purchases:        {self.purchase_rows:,} rows, {self.purchase_customers:,} "
            f"customers, total amount {_money(self.purchase_amount)}",
            f"  returns:          {self.return_rows:,} rows, total value "
            f"{_money(self.return_amount)}",
        ]
        if self.cancellation_rows:
            lines.append(
                f"  cancellations:    {self.cancellation_rows:,} rows with a 'C' invoice "
                f"({self.cancellations_kept:,} among the returns, the others excluded)"
            )
        if self.currency:
            lines.append(
                f"  currency:         {self.currency} (the sign the amounts are written with)"
            )
        for note in self.notes:
            lines.append(f"  note: {note}")
        if not self.problems:
            lines.append("no problems found")
        for p in self.problems:
            lines.append(f"- {p.count:,} {p.description}: {p.treatment}")
            for e in p.examples:
                shown = ", ".join(f"{k}={_show(v)}" for k, v in e.items())
                lines.append(f"    e.g. {shown}")
        return "\n".join(lines)


def _money(x: float) -> str:
    """A total as ``1,234.50``; never ``inf`` (a sum beyond a double's range says so)."""
    if math.isfinite(x):
        return f"{x:,.2f}" if abs(x) < 1e15 else f"{x:.4g}"
    return "too large to total (beyond 1.8e308)" if x == x else "not a number"


def _day(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%d") if d is not None else "-"


def _show(v: Any) -> str:
    if v is None:
        return "<missing>"
    if isinstance(v, float) and v != v:
        return "<missing>"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return repr(v) if isinstance(v, str) else str(v)


def _jsonable(v: Any) -> Any:
    """A value of an example row as JSON can hold it (DuckDB hands over many Python types)."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes | bytearray):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(v)


class _PendingReport(ValidationReport):
    """A :class:`ValidationReport` whose counts are made on first use.

    ``source``, ``columns``, ``detected`` and ``notes`` are set at once; reading any other field
    (or calling a method that does) runs :meth:`Transactions.validate` (``full=False``) once and
    takes its values.
    """

    _EAGER = frozenset({"source", "columns", "detected", "notes"})
    _LAZY = frozenset(f.name for f in fields(ValidationReport)) - _EAGER

    def __init__(self, tx: Transactions) -> None:  # the dataclass __init__ needs the counts
        self.__dict__["_tx"] = tx
        self.source = display(tx.source)
        self.columns = {role: col for role, col in vars(tx.mapping).items() if col is not None}
        self.detected = tx.detected
        self.notes = list(tx.notes)

    def __getattribute__(self, name: str) -> Any:
        if name in _PendingReport._LAZY:
            state = object.__getattribute__(self, "__dict__")
            if name not in state:
                tx = state["_tx"]
                if tx.closed and tx.reopen is not None:
                    # the connection is gone: count on the same file read again
                    with tx.reopen() as again:
                        counted = again.validate(full=False)
                else:
                    counted = tx.validate(full=False)
                for key in _PendingReport._LAZY:
                    state[key] = getattr(counted, key)
        return object.__getattribute__(self, name)


# where each exclusion's example shows the offending value
_EXAMPLE_FIELD = {
    "missing_id": ("customer", "customer"),
    "bad_date": ("date", "timestamp"),
    "bad_amount": ("amount", "amount"),
    "huge_amount": ("amount", "amount"),
    "nonpositive_price": ("price", "price"),
}


def check_usable(report: ValidationReport) -> None:
    """Raise :class:`DataValidationError` (exit code 2) when nothing is left to analyse.

    The message names every reason rows were excluded, with an offending value, and the columns
    that were used, so that a wrong column choice shows at once.
    """
    if report.rows == 0:
        raise DataValidationError(
            f"{report.source}: the file has a header but no data rows", report
        )
    if report.usable:
        return
    reasons = []
    for p in report.problems:
        if p.code not in _EXAMPLE_FIELD and p.code != "return":
            continue
        text = f"{p.count:,} {p.description}"
        field_, role = _EXAMPLE_FIELD.get(p.code, ("", ""))
        if field_ and p.examples and role in report.columns:
            text += f" (e.g. {_show(p.examples[0].get(field_))} in {report.columns[role]!r})"
        reasons.append(text)
    used = ", ".join(f"{ROLE_PARAMETER[r]} {c!r}" for r, c in report.columns.items())
    hint = ""
    if report.count("bad_date") and "timestamp" in report.columns:
        hint = " or give `date_format`"
    raise DataValidationError(
        f"{report.source}: no usable purchases: all {report.rows:,} rows are excluded or "
        f"returns: {'; '.join(reasons) or 'none'}. Check the columns used ({used}){hint}",
        report,
    )
