"""The rows a saved model scores: a transaction log's features as of a cutoff, or a customer
table as it is (the model was trained on one or the other; ``toolkit predict`` and ``explain``
read their data through :func:`scoring_frame`)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError
from toolkit.features import compute_features, data_range, is_customer_table, parse_cutoff
from toolkit.io import find_id_column, read_table, read_transactions

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import ColumnMapping
    from toolkit.models.training._settings import TrainSettings


def scoring_frame(
    data: str | os.PathLike[str],
    settings: TrainSettings,
    *,
    cutoff: str | None = None,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
) -> tuple[pd.DataFrame, str]:
    """The features to score, and what they are in words (for the command's summary line).

    A model of a customer table (``settings.mode == "target"``), or data with one row per
    customer, is read as a table: its id column renamed ``customer_id``, the target column left
    out. A transaction log gets its features as of ``cutoff`` (default: the day after its last
    purchase), in the model's time unit.
    """
    read: dict[str, Any] = {
        "mapping": mapping,
        "date_format": date_format,
        "sep": sep,
        "names": names,
    }
    if settings.mode == "target" or is_customer_table(data, **read):
        if cutoff:
            raise InputError(
                f"`cutoff` applies to a transaction log; {data} has one row per customer"
            )
        table = read_table(data, sep=sep, names=names)
        given = mapping.customer if mapping is not None else None
        idcol = given or find_id_column([str(c) for c in table.columns])
        if idcol and idcol != "customer_id":
            table = table.rename(columns={idcol: "customer_id"})
        if settings.target and settings.target in table.columns:
            table = table.drop(columns=[settings.target])
        return table, f"{data} (one row per customer)"
    tx = read_transactions(data, **read)
    try:
        first, last = data_range(tx)
        cut = parse_cutoff(cutoff)
        day = timedelta(days=1)
        if cut is not None and cut > last + day:
            raise InputError(
                f"`cutoff` {cut} is after the end of the data ({last}); the latest useful "
                f"cutoff is {last + day}"
            )
        frame = compute_features(tx, cutoff=cut, time_unit=settings.time_unit or "days")
    finally:
        tx.close()
    return frame, f"customers of {tx.source} as of {cut or (last + day)}"
