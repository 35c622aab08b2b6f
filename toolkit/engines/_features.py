"""Features as one library call: read the data, compute on the engine, write, return a summary.

``toolkit features`` parses its options, calls :func:`write_features_on_engine` and prints. A
transaction log's features are computed where ``engine`` says (:func:`attach_engine`); a file
that already has one row per customer passes through with typed columns.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.engines._cluster import check_engine
from toolkit.engines.dask_engine import attach_engine
from toolkit.errors import InputError
from toolkit.features import is_customer_table, parse_cutoff, resolve_spec, write_features
from toolkit.io import find_id_column, output_format, read_table, read_transactions, write_frame

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import ColumnMapping


def _ignore(_: Any) -> None:
    pass


def write_features_on_engine(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    cutoff: str | date | None = None,
    horizon: int | None = None,
    time_unit: str = "days",
    customers: str | os.PathLike[str] | None = None,
    btyd: bool = False,
    engine: str = "embedded",
    scheduler: str | None = None,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    progress: Callable[[str], None] = _ignore,
    on_read: Callable[[Any], None] = _ignore,
    notify: Callable[[str], None] = _ignore,
) -> dict[str, Any]:
    """Write one row per customer of ``data`` as of ``cutoff`` to ``out``.

    Parameters
    ----------
    out : path
        .parquet, .csv or .json; with ``engine="dask"``, a path without an extension is a
        directory of Parquet files, one per partition.
    customers : path, optional
        A customer table joined to the features by customer id.
    progress, on_read, notify : callable
        Called with a status text as the steps begin; with what was read (a
        :class:`~toolkit.io.Transactions` or a table), to tell the user how; with a line for
        the user as soon as it is known.

    Returns
    -------
    dict
        :func:`toolkit.features.write_features`'s summary and ``cutoff``, the cutoff used; for
        a customer table passed through, only ``customer_table_rows``.
    """

    check_engine(engine, scheduler)
    partitioned = engine == "dask" and not Path(out).suffix
    if not partitioned:
        output_format(out)
    parse_cutoff(cutoff)  # a typo fails now, not after reading the whole log
    read: dict[str, Any] = dict(mapping=mapping, date_format=date_format, sep=sep, names=names)
    if is_customer_table(data, **read):
        given = {
            "cutoff": cutoff,
            "horizon": horizon,
            "customers": customers,
            "date_format": date_format,
            "time_unit": None if time_unit == "days" else time_unit,
        }
        return {"customer_table_rows": _pass_through(data, out, read, given, on_read)}
    table = read_table(customers) if customers else None
    if table is not None:
        on_read(table)
    progress("reading")
    tx = read_transactions(data, **read)
    try:
        on_read(tx)
        spec, notes = resolve_spec(tx, cutoff, horizon, time_unit)
        for note in notes:
            notify(note)
        progress("computing")
        with attach_engine(tx, engine, scheduler):
            summary = write_features(tx, out, spec, table, btyd=btyd)
    finally:
        tx.close()
    return {**summary, "cutoff": spec.cutoff}


def _pass_through(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    read: dict[str, Any],
    options: dict[str, Any],
    on_read: Callable[[Any], None],
) -> int:
    """Write a customer table as it was read (typed columns); returns its number of rows.

    ``options`` are those given for a transaction log (``None``: not given), refused here.
    """

    given = [f"`{name}`" for name, value in options.items() if value is not None]
    if given:
        raise InputError(
            f"{data} is a customer table (one row per customer, no date column): "
            f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to a "
            "transaction log (name its date column with `mapping.timestamp`)"
        )

    table = read_table(data, sep=read["sep"], names=read["names"])
    on_read(table)
    mapping = read["mapping"]
    _check_passthrough(data, table, mapping.customer if mapping is not None else None)
    write_frame(table, out)
    return len(table)


def _check_passthrough(
    data: str | os.PathLike[str], table: pd.DataFrame, customer_col: str | None
) -> None:
    """A customer table passed through must look like one: an id column and more than one
    column (one column usually means the wrong separator)."""

    columns = list(table.columns)
    if len(columns) == 1:
        raise InputError(
            f"{data}: read as a single column {columns[0]!r}; if its fields are separated by "
            "something else, give `sep`"
        )
    if (customer_col or find_id_column(columns)) is None:
        raise InputError(
            f"{data} has neither a date column nor a customer id column (columns: "
            f"{', '.join(map(repr, columns))}): for a transaction log give `mapping.timestamp` "
            "and `mapping.customer`; a customer table needs an id column (CustomerID, "
            "customer_id, ID, ...) or `mapping.customer`"
        )
