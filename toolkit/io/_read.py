"""Reading any supported file into DuckDB, every column as text, as written.

Columns are read as text (VARCHAR) from text formats so that nothing is lost or reinterpreted
before the columns are mapped: customer ids keep their leading zeros, and the typed conversion of
each role happens once, in :mod:`toolkit.io._transactions`. Binary formats (Parquet) keep their own
types. Files DuckDB reads natively (CSV with a one-character separator, gzip, JSON, NDJSON,
Parquet) are scanned in place, in parallel and out of core; whitespace-aligned text and Excel go
through pandas.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    import duckdb

SEPARATORS = {
    "tab": "\t",
    "\\t": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": "whitespace",
    "whitespace": "whitespace",
    "\\s+": "whitespace",
}
_SNIFF_BYTES = 1 << 20


@dataclass
class RawSource:
    """A file opened in DuckDB as the view ``raw`` (original column names)."""

    path: Path
    kind: str  # csv, parquet, json, excel, whitespace
    columns: list[str]
    types: dict[str, str]
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)

    def close(self) -> None:
        for p in self.cleanup:
            try:
                p.unlink()
            except OSError:
                pass


def file_kind(path: Path) -> str:
    """The format of ``path`` from its extension (``.gz`` looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".json",):
        return "json"
    if ext in (".ndjson", ".jsonl"):
        return "ndjson"
    if ext in (".xlsx", ".xlsm", ".xls"):
        return "excel"
    return "text"


def _open_text_bytes(path: Path) -> io.BufferedIOBase:
    if path.suffix.lower() in (".gz", ".gzip"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _head_bytes(path: Path, n: int = _SNIFF_BYTES) -> bytes:
    try:
        with _open_text_bytes(path) as fh:
            return fh.read(n)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None


def sniff_encoding(sample: bytes) -> str:
    """'utf-8' when the sample decodes as UTF-8, else 'cp1252' or 'latin-1'.

    cp1252 is Windows' superset of latin-1 for bytes 0x80-0x9F (the euro sign, curly quotes);
    bytes it leaves undefined mean plain latin-1.

    Examples
    --------
    >>> sniff_encoding("café".encode("utf-8")), sniff_encoding("café".encode("latin-1"))
    ('utf-8', 'cp1252')
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sniff_separator(text: str) -> str:
    """The field separator of a text sample: one of , ; tab | or 'whitespace'.

    The separator that splits the first lines into the same number (> 1) of fields wins;
    whitespace-aligned files (several spaces between fields, as CDNOW's) come out as 'whitespace'.

    Examples
    --------
    >>> sniff_separator("a;b;c\\n1;2;3\\n")
    ';'
    >>> sniff_separator(" 1  2  3\\n 4  5  6\\n")
    'whitespace'
    """
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut
    if not lines:
        return ","
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
        counts = {len(next(csv.reader([ln], dialect))) for ln in lines}
        if len(counts) == 1 and counts.pop() > 1:
            return str(dialect.delimiter)
    except csv.Error:
        pass
    best, best_fields = ",", 1
    for sep in (",", ";", "\t", "|"):
        counts = {ln.count(sep) for ln in lines}
        if len(counts) == 1 and (n := counts.pop()) + 1 > best_fields:
            best, best_fields = sep, n + 1
    if best_fields > 1:
        return best
    ws = {len(ln.split()) for ln in lines}
    if len(ws) == 1 and ws.pop() > 1:
        return "whitespace"
    return ","


def _transcode(path: Path, encoding: str) -> Path:
    """Copy a non-UTF-8 text file to a temporary UTF-8 file, streaming."""
    fd, name = tempfile.mkstemp(prefix="toolkit-utf8-", suffix=".csv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, _open_text_bytes(path) as raw:
        reader = io.TextIOWrapper(raw, encoding=encoding, newline="")  # type: ignore[type-var]
        while chunk := reader.read(1 << 22):
            out.write(chunk)
    return Path(name)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def open_raw(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    names: list[str] | None = None,
    view: str = "raw",
) -> RawSource:
    """Open ``path`` as the DuckDB view ``view``; text formats come in as VARCHAR columns.

    Raises InputError for a missing, empty or unreadable file, naming it.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a data file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    kind = file_kind(p)
    notes: list[str] = []
    cleanup: list[Path] = []
    encoding = "utf-8"
    import duckdb

    try:
        if kind == "parquet":
            con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet({_sql_str(str(p))})"
            )
        elif kind in ("json", "ndjson"):
            fmt = "newline_delimited" if kind == "ndjson" else "auto"
            con.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_json({_sql_str(str(p))}, "
                f"format={_sql_str(fmt)}, sample_size=-1)"
            )
        elif kind == "excel":
            df = _read_excel(p, names)
            con.register(f"{view}_df", df)
            con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {view}_df")
        else:
            sample = _head_bytes(p)
            if not sample.strip():
                raise InputError(f"{p}: the file is empty")
            encoding = sniff_encoding(sample)
            text = sample.decode(encoding, errors="replace").lstrip("\ufeff")
            resolved_sep = SEPARATORS.get(sep, sep) if sep else sniff_separator(text)
            if resolved_sep is not None and resolved_sep != "whitespace" and len(resolved_sep) != 1:
                raise InputError(
                    f"--sep must be one character or one of {sorted(SEPARATORS)}, got {sep!r}"
                )
            src = p
            if encoding != "utf-8":
                notes.append(f"read as {encoding} (not UTF-8)")
                src = _transcode(p, encoding)
                cleanup.append(src)
            if resolved_sep == "whitespace":
                kind = "whitespace"
                df = _read_whitespace(src, names)
                con.register(f"{view}_df", df)
                con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {view}_df")
            else:
                kind = "csv"
                opts = [
                    f"delim={_sql_str(resolved_sep)}",
                    "all_varchar=true",
                    "quote='\"'",
                    "escape='\"'",
                    "null_padding=true",
                    "strict_mode=false",
                ]
                if names:
                    opts += ["header=false", f"names=[{', '.join(_sql_str(n) for n in names)}]"]
                else:
                    opts.append("header=true")
                con.execute(
                    f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM "
                    f"read_csv({_sql_str(str(src))}, {', '.join(opts)})"
                )
        described = con.execute(f"DESCRIBE {view}").fetchall()
    except duckdb.Error as exc:
        msg = str(exc).splitlines()[0]
        raise InputError(f"{p}: cannot be read as {kind.upper()} ({msg})") from None
    columns = [str(r[0]) for r in described]
    types = {str(r[0]): str(r[1]) for r in described}
    if names and kind in ("parquet", "json", "ndjson") and len(names) != len(columns):
        raise InputError(f"--names gives {len(names)} names but {p} has {len(columns)} columns")
    if names and kind in ("parquet", "json", "ndjson"):
        renames = ", ".join(f'"{old}" AS "{new}"' for old, new in zip(columns, names, strict=True))
        con.execute(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {renames} FROM ({_view_sql(con, view)})"
        )
        columns, types = list(names), {n: types[o] for o, n in zip(list(types), names, strict=True)}
    return RawSource(p, kind, columns, types, encoding, notes, cleanup)


def _view_sql(con: duckdb.DuckDBPyConnection, view: str) -> str:
    row = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ?", [view]).fetchone()
    assert row is not None
    sql = str(row[0]).strip().rstrip(";")
    return sql.split(" AS ", 1)[1]


def _as_text_frame(df: Any) -> Any:
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[str(col)] = s.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
        else:
            out[str(col)] = s.astype("string")
    return out


def _read_excel(path: Path, names: list[str] | None) -> Any:
    import pandas as pd

    try:
        df = pd.read_excel(
            path, dtype=object, header=None if names else 0, names=names, engine="openpyxl"
        )
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise InputError(f"{path}: cannot be read as an Excel workbook ({exc})") from None
    return _as_text_frame(df)


def _read_whitespace(path: Path, names: list[str] | None) -> Any:
    import pandas as pd

    try:
        df = pd.read_csv(
            path,
            sep=r"\s+",
            dtype=str,
            header=None if names else "infer",
            names=names,
            keep_default_na=False,
            na_values=[""],
            engine="python" if names is None else "c",
        )
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as whitespace-separated text ({exc})") from None
    return df.astype("string")
