"""Customer tables: one row per customer, typed columns, ids kept as written."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from toolkit.errors import InputError
from toolkit.io._columns import find_id_column
from toolkit.io._read import open_raw
from toolkit.io._transactions import connect

if TYPE_CHECKING:
    import pandas as pd

# a text column with at most this many distinct values (and at most half the rows) is categorical
MAX_CATEGORIES = 50


def read_table(
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    names: list[str] | None = None,
    id_column: str | None = None,
) -> pd.DataFrame:
    """Read a table with one row per customer, with typed columns.

    Numbers become numeric columns, ISO-like dates datetimes, low-cardinality text categories, other
    text ``string``; the id column (``id_column`` or the one :func:`find_id_column` finds) stays
    text exactly as written (``0001`` stays ``0001``, ``17850.0`` becomes ``17850``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
    >>> _ = p.write_text("CustomerID,Genre,Age\\n0001,Male,19\\n0002,Female,21\\n")
    >>> df = read_table(p)
    >>> df["CustomerID"].tolist(), str(df["Genre"].dtype), df["Age"].tolist()
    (['0001', '0002'], 'category', [19, 21])
    """
    import pandas as pd

    con = connect()
    raw = open_raw(con, path, sep=sep, names=names)
    try:
        df = con.execute("SELECT * FROM raw").df()
    finally:
        con.close()
        raw.close()
    if df.empty:
        raise InputError(f"{path}: the file has no data rows")
    idcol = id_column or find_id_column(list(df.columns))
    if id_column and id_column not in df.columns:
        raise InputError(
            f"id column {id_column!r} is not a column of {path}; columns: {list(df.columns)}"
        )
    out = {}
    for col in df.columns:
        s = df[col]
        if col == idcol:
            out[col] = _id_text(s)
        else:
            out[col] = _type_column(s, len(df))
    return pd.DataFrame(out)


def _id_text(s: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_float_dtype(s):
        whole = s.notna() & (s == s.round())
        txt = s.astype("string")
        txt[whole] = s[whole].astype("int64").astype("string")
        return txt
    txt = s.astype("string").str.strip()
    return txt.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def _type_column(s: pd.Series, n: int) -> pd.Series:
    import pandas as pd

    if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        return s
    txt = s.astype("string").str.strip()
    txt = txt.mask(txt == "")
    present = txt.dropna()
    if present.empty:
        return txt
    num = pd.to_numeric(present, errors="coerce")
    if num.notna().all():
        full = pd.to_numeric(txt, errors="coerce")
        if (full.dropna() == full.dropna().round()).all() and full.notna().all():
            return full.astype("int64")
        return full.astype("float64")
    if present.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        dates = pd.to_datetime(txt, errors="coerce")
        if dates.notna().sum() == len(present):
            return dates
    nunique = present.nunique()
    if nunique <= MAX_CATEGORIES and nunique <= max(2, n // 2):
        return txt.astype("category")
    return txt
