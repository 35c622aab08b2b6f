"""What segmentation takes from :mod:`toolkit.io`, plus id detection and text writing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.io import find_id_column as _find_id_column
from toolkit.io import read_table as _read_table
from toolkit.io import write_atomic, write_frame

__all__ = ["ID_NAMES", "find_id_column", "norm_name", "read_table", "write_atomic", "write_frame"]

#: normalised column names that hold a customer / row id (case, spaces, underscores ignored)
ID_NAMES = frozenset(
    {
        "id",
        "customerid",
        "custid",
        "clientid",
        "userid",
        "memberid",
        "accountid",
        "masterid",
    }
)


def norm_name(name: object) -> str:
    """Lower-case a column name and drop everything but letters and digits."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def read_table(
    path: Path,
    *,
    sep: str | None = None,
    names: list[str] | None = None,
    id_column: str | None = None,
) -> Any:
    """Read a customer table with :func:`toolkit.io.read_table` (ids kept as text)."""
    return _read_table(path, sep=sep, names=names, id_column=id_column)


def find_id_column(df: pd.DataFrame) -> str | None:
    """The customer-id column: :func:`toolkit.io.find_id_column`, else a unique id-named column."""
    found = _find_id_column([str(c) for c in df.columns])
    if found is not None and found in df.columns:
        return str(found)
    for col in df.columns:
        if norm_name(col) in ID_NAMES and df[col].is_unique:
            return str(col)
    return None


def write_text(text: str, path: Path) -> None:
    """Write a text file atomically."""
    with write_atomic(Path(path)) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
