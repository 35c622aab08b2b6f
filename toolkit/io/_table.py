"""Customer tables: one row per customer, typed columns, ids kept as written.

Typing rules, per column (text formats come in as text, Parquet keeps its types):

* the id column (given, or found by :func:`find_id_column`) stays text as written; a
  float-formatted whole number loses its zero decimals (``17850.0`` -> ``17850``);
* text that is all numbers becomes ``int64`` (whole numbers, none missing) or ``float64``
  (decimal commas accepted); numbers written with a leading zero (``007``, postcodes) stay text;
* text that is all ISO dates (``2011-12-09 ...``) becomes ``datetime64``;
* other text becomes ``category`` when it has at most 50 distinct values and at most half as many
  as there are rows (at least 2), else ``string``.
"""

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

    Numbers become numeric columns, true/false booleans, ISO-like dates datetimes, low-cardinality
    text categories, other text ``string``; the id column (``id_column`` or the one
    :func:`find_id_column` finds) stays text exactly as written (``0001`` stays ``0001``,
    ``17850.0`` becomes ``17850``). The notes of reading the file (encoding, ragged lines) are in
    ``df.attrs["notes"]``.

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
    # a customer table keeps the order of its file (outputs follow it; sampling is seeded on it)
    con.execute("SET preserve_insertion_order = true")
    raw = open_raw(con, path, sep=sep, names=names, materialise=True)
    try:
        df = con.execute("SELECT * FROM raw").df()
        notes = list(raw.notes)
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
            out[col] = id_text(s)
        else:
            out[col] = _type_column(s, len(df))
    table = pd.DataFrame(out)
    # what reading decided (encoding, lines with more fields than the header): for the user
    table.attrs["notes"] = notes
    return table


def id_text(s: pd.Series) -> pd.Series:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_float_dtype(s):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**63)
        txt = s.astype("string")
        txt[whole] = s[whole].astype("int64").astype("string")
        return txt.mask(~np.isfinite(values))
    txt = s.astype("string").str.strip()
    txt = txt.mask(txt == "")
    return txt.str.replace(r"^(-?\d+)[.,]0+$", r"\1", regex=True)


def _type_column(s: pd.Series, n: int) -> pd.Series:
    import numpy as np
    import pandas as pd

    if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        return s
    txt = s.astype("string").str.strip()
    txt = txt.mask(txt == "")
    present = txt.dropna()
    if present.empty:
        return txt
    # codes with leading zeros (postcodes, '007') are text, not numbers
    if not present.str.match(r"^-?0\d").any():
        numeric = present
        if present.str.fullmatch(r"-?\d+,\d+").any() and not present.str.contains(r"\.").any():
            numeric = present.str.replace(",", ".", regex=False)  # decimal commas
        num = pd.to_numeric(numeric, errors="coerce")
        if num.notna().all():
            full = pd.Series(np.nan, index=txt.index, dtype="float64")
            full[num.index] = num.astype("float64")
            finite = full.dropna()
            whole = np.isfinite(finite) & (finite == finite.round()) & (finite.abs() < 2**53)
            if len(finite) == len(full) and whole.all():
                return full.astype("int64")
            return full
    lowered = present.str.lower()
    if lowered.isin(["true", "false"]).all():
        # as a Parquet file's booleans are: usable as 0/1 by correlate, segment and the models
        return txt.str.lower().map({"true": True, "false": False}).astype("boolean")
    if present.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        dates = pd.to_datetime(txt, errors="coerce", format="ISO8601")
        if dates.notna().sum() == len(present):
            return dates
    nunique = present.nunique()
    if nunique <= MAX_CATEGORIES and nunique <= max(2, n // 2):
        return txt.astype("category")
    return txt
