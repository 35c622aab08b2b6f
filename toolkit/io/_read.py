"""Reading any supported file into DuckDB, every column as text, as written.

Columns are read as text (VARCHAR) from text formats so that nothing is lost or reinterpreted
before the columns are mapped: customer ids keep their leading zeros, and the typed conversion of
each role happens once, in :mod:`toolkit.io._transactions`. Binary formats (Parquet) keep their own
types. Files DuckDB reads natively (CSV with a one-character separator, gzip, JSON, NDJSON,
Parquet) are scanned in place, in parallel and out of core; whitespace-aligned text and Excel go
through pandas.

How a file is recognised and read:

* The format comes from the content where it can (the magic bytes of gzip, Parquet, xlsx) and
  otherwise from the extension (``.parquet``, ``.json``, ``.ndjson``/``.jsonl``, ``.xlsx``;
  anything else is delimited text). ``.gz`` is looked through. A file with NUL bytes that is none
  of these is refused as binary; an old ``.xls`` workbook or a zip archive is refused by name.
* Text encoding: UTF-8 (a BOM is dropped), UTF-16 with a BOM, else cp1252 (Windows' superset of
  latin-1) or latin-1; non-UTF-8 files are transcoded to a temporary UTF-8 copy. A file whose first
  megabyte is UTF-8 but which holds other bytes later is transcoded when DuckDB meets them.
* Separator: sniffed from the first lines (``, ; tab |`` or runs of whitespace), or ``--sep``.
  Title lines without any separator before the header are skipped (and said so).
* CSV quirks: quoted fields (with doubled quotes and line breaks inside), CRLF or CR line ends,
  short lines (padded with missing values), long lines (the extra fields land in extra columns
  named ``column<N>``, and a note says how many rows have them).
* JSON: an array of records, NDJSON, or one object holding a single array of records; values of
  mixed JSON types come through as text.
* Time-zone-aware timestamps (Parquet) are converted to UTC wall time.
* A file with a header and no rows, or no records, is refused.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._process import is_interruption
from toolkit.errors import InputError
from toolkit.io._remote import as_url, list_files, local_copies, register
from toolkit.io._sql import quote_ident, quote_literal

if TYPE_CHECKING:
    import duckdb

    from toolkit.io._remote import RemoteFiles

SEPARATORS = {
    "tab": "\t",
    "\\t": "\t",
    "comma": ",",
    "semicolon": ";",
    "pipe": "|",
    "space": "whitespace",
    " ": "whitespace",
    "whitespace": "whitespace",
    "\\s+": "whitespace",
}
_SNIFF_BYTES = 1 << 20
# Inputs whose estimated in-memory size is below this are loaded into DuckDB once (every later
# query is then a scan of memory, and reading errors surface here); larger ones stay views over
# the file, scanned in parallel and out of core.
MATERIALISE_BELOW_BYTES = 256 * 1024 * 1024
# compressed formats take several times their file size once loaded
_EXPANSION = {"gzip": 6, "parquet": 6, "excel": 10}

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls and other OLE2 documents


@dataclass
class RawSource:
    """A file opened in DuckDB as the view or table ``raw`` (original column names)."""

    path: Path
    kind: str  # csv, parquet, json, ndjson, excel, whitespace
    columns: list[str]
    types: dict[str, str]
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)
    materialised: bool = False
    #: the Parquet files read, when ``path`` is a directory or a glob of them (else None)
    files: list[Path] | None = None
    #: the files a URL names (``path`` is then that URL): read in place through fsspec while
    #: ``files`` is None, from the local copies in ``files`` once fetched (toolkit.io._remote)
    remote: RemoteFiles | None = None

    @property
    def parquet_sql(self) -> str:
        """``path`` as DuckDB's Parquet functions take it: one quoted path, or a list of them."""
        if self.files is None and self.remote is not None:
            return "[" + ", ".join(_sql_str(u) for u in self.remote.urls) + "]"
        if self.files is None:
            return _sql_str(str(self.path))
        return "[" + ", ".join(_sql_str(str(f)) for f in self.files) + "]"

    def close(self) -> None:
        for p in self.cleanup:
            try:
                p.unlink()
            except OSError:
                pass


def file_kind(path: Path) -> str:
    """The format of ``path`` from its extension (``.gz`` looked through).

    Examples
    --------
    >>> file_kind(Path("x.csv.gz")), file_kind(Path("x.PARQUET")), file_kind(Path("x.txt"))
    ('text', 'parquet', 'text')
    """
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


def _magic(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _open_bytes(path: Path, gzipped: bool) -> io.BufferedIOBase:
    if gzipped:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _head_bytes(path: Path, gzipped: bool, n: int = _SNIFF_BYTES) -> bytes:
    try:
        with _open_bytes(path, gzipped) as fh:
            return fh.read(n)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None


def sniff_encoding(sample: bytes, *, complete: bool = True) -> str:
    """'utf-8' when the sample decodes as UTF-8, 'utf-16' with a UTF-16 BOM, else 'cp1252' or
    'latin-1'.

    cp1252 is Windows' superset of latin-1 for bytes 0x80-0x9F (the euro sign, curly quotes);
    bytes it leaves undefined mean plain latin-1. ``complete=False``: the sample is the start of a
    longer file and may end inside a character.

    Examples
    --------
    >>> sniff_encoding("café".encode("utf-8")), sniff_encoding("café".encode("latin-1"))
    ('utf-8', 'cp1252')
    >>> sniff_encoding("café".encode("utf-16"))
    'utf-16'
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _complete_lines(text: str, limit: int = 50) -> list[str]:
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of a sample may be cut
    return [ln for ln in lines[:limit] if ln.strip()]


def sniff_separator(text: str) -> str:
    """The field separator of a text sample: one of , ; tab | or 'whitespace'.

    The separator that splits the first lines into the same number (> 1) of fields wins;
    whitespace-aligned files (several spaces between fields, as CDNOW's) come out as 'whitespace'.
    Title lines above the header (no separator at all) are not counted.

    Examples
    --------
    >>> sniff_separator("a;b;c\\n1;2;3\\n")
    ';'
    >>> sniff_separator(" 1  2  3\\n 4  5  6\\n")
    'whitespace'
    """
    lines = _complete_lines(text)
    if not lines:
        return ","
    seps = (",", ";", "\t", "|")
    # lines that hold none of the candidate separators are titles or single values
    body = [ln for ln in lines if any(s in ln for s in seps)] or lines
    try:
        dialect = csv.Sniffer().sniff("\n".join(body[:20]), delimiters="".join(seps))
        counts = {len(next(csv.reader([ln], dialect))) for ln in body}
        if len(counts) == 1 and counts.pop() > 1:
            return str(dialect.delimiter)
    except csv.Error:
        pass
    best, best_fields = ",", 1
    for sep in seps:
        counts = {len(next(csv.reader([ln], delimiter=sep))) for ln in body}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = sep, n
    if best_fields > 1:
        return best
    ws = {len(ln.split()) for ln in lines}
    if len(ws) == 1 and ws.pop() > 1:
        return "whitespace"
    # the most common separator that splits most lines
    tally = Counter(
        sep for ln in body for sep in seps if len(next(csv.reader([ln], delimiter=sep))) > 1
    )
    if tally:
        return tally.most_common(1)[0][0]
    return ","


def _field_counts(text: str, sep: str) -> list[int]:
    """Fields per physical line of the sample (blank lines count 0), quotes respected."""
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    lines = lines[:200]
    if sep == "whitespace":
        return [len(ln.split()) for ln in lines]
    counts = []
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=sep)
    try:
        for row in reader:
            counts.append(len(row) if any(f.strip() for f in row) else 0)
    except csv.Error:
        pass
    return counts


def _preamble(counts: list[int]) -> int:
    """How many lines (titles, blank lines) come before the header: lines with one field or
    none, when the table below has several."""
    skip = 0
    while skip < len(counts) and counts[skip] <= 1:
        skip += 1
    if skip == 0 or skip >= len(counts) or counts[skip] < 2:
        return 0
    return skip


def _quoted_newline(text: str, sep: str) -> bool:
    """Whether the sample has a line break inside a quoted field."""
    if '"' not in text:
        return False
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]
    try:
        for row in csv.reader(io.StringIO("".join(lines), newline=""), delimiter=sep):
            if any("\n" in f or "\r" in f for f in row):
                return True
    except csv.Error:
        return True
    return False


def _transcode(path: Path, encoding: str, gzipped: bool) -> tuple[Path, str]:
    """Copy a non-UTF-8 text file to a temporary UTF-8 file, streaming.

    Returns the copy and the encoding used: a cp1252 guess that meets a byte cp1252 leaves
    undefined falls back to latin-1, which decodes every byte.
    """
    fd, name = tempfile.mkstemp(prefix="toolkit-utf8-", suffix=".csv")
    os.close(fd)
    for enc in dict.fromkeys([encoding, "latin-1"]):
        try:
            with (
                open(name, "w", encoding="utf-8", newline="") as out,
                _open_bytes(path, gzipped) as raw,
            ):
                reader = io.TextIOWrapper(raw, encoding=enc, newline="")  # type: ignore[type-var]
                while chunk := reader.read(1 << 22):
                    out.write(chunk.lstrip("\ufeff") if out.tell() == 0 else chunk)
            return Path(name), enc
        except UnicodeDecodeError:
            continue
        except (OSError, EOFError) as exc:
            Path(name).unlink(missing_ok=True)
            raise InputError(f"{path}: cannot be read ({exc})") from None
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


_sql_str = quote_literal
_q = quote_ident


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a view or table ``name`` if there is one (re-reading on the same connection)."""
    import duckdb

    try:
        con.execute(f"DROP VIEW IF EXISTS {_q(name)}")
    except duckdb.CatalogException:  # it is a table
        con.execute(f"DROP TABLE IF EXISTS {_q(name)}")


@dataclass
class _TextPlan:
    """How a delimited text file is handed to DuckDB (or pandas, for whitespace)."""

    origin: Path
    src: Path
    sep: str
    gzipped: bool
    encoding: str
    skip: int
    header_fields: int
    parallel: bool


def _is_binary(sample: bytes) -> bool:
    return b"\x00" in sample


def _unprintable_share(text: str) -> float:
    """The share of control characters (other than tabs and line ends) in a decoded sample."""
    head = text[:65536]
    bad = sum(1 for ch in head if (ch < " " and ch not in "\t\r\n") or "\x7f" <= ch <= "\x9f")
    return bad / max(len(head), 1)


def _detect_kind(p: Path, magic: bytes) -> str:
    """The format from the first bytes where they are conclusive, else from the extension."""
    by_ext = file_kind(p)
    if magic.startswith(_PARQUET_MAGIC):
        return "parquet"
    if magic.startswith(_OLE_MAGIC):
        raise InputError(
            f"{p}: an Excel 97-2003 workbook (.xls) or another OLE2 document: not supported; "
            "save it as .xlsx or CSV"
        )
    if magic.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            if by_ext == "excel":
                raise InputError(f"{p}: cannot be read as an Excel workbook ({exc})") from None
            raise InputError(f"{p}: a damaged zip archive ({exc})") from None
        if "xl/workbook.xml" in names:
            return "excel"
        raise InputError(
            f"{p}: a zip archive, not a data file: extract it first "
            f"(it holds {', '.join(names[:5])}{' ...' if len(names) > 5 else ''})"
        )
    if by_ext == "excel":
        raise InputError(f"{p}: cannot be read as an Excel workbook (not an .xlsx file)")
    if by_ext == "parquet":
        raise InputError(f"{p}: cannot be read as PARQUET (no Parquet magic bytes 'PAR1')")
    return by_ext


def open_raw(
    con: duckdb.DuckDBPyConnection,
    path: str | os.PathLike[str],
    *,
    sep: str | None = None,
    names: list[str] | None = None,
    view: str = "raw",
    materialise: bool | None = False,
) -> RawSource:
    """Open ``path`` as the DuckDB relation ``view``; text formats come in as VARCHAR columns.

    ``materialise``: ``False`` keeps a view over the file (cheap, for a look at the columns),
    ``True`` loads it into a temporary table, ``None`` loads it when it is small
    (:data:`MATERIALISE_BELOW_BYTES`). Raises InputError for a missing, empty or unreadable
    file, naming it. ``path`` may be an object-storage URL (:mod:`toolkit.io._remote`).
    """
    url = as_url(path)
    if url is not None:
        return _open_url(con, url, sep=sep, names=names, view=view, materialise=materialise)
    p = Path(path)
    files = parquet_files(p)
    if files is not None:
        return _open_parquet_set(con, p, files, names=names, view=view, materialise=materialise)
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    magic = _magic(p)
    gzipped = magic.startswith(_GZIP_MAGIC)
    kind = _detect_kind(p, magic)
    size = p.stat().st_size * _EXPANSION.get("gzip" if gzipped else kind, 1)
    # Parquet is columnar and typed: scanning it again is as cheap as scanning a loaded table
    load = (
        materialise
        if materialise is not None
        else kind != "parquet" and size < MATERIALISE_BELOW_BYTES
    )
    notes: list[str] = []
    cleanup: list[Path] = []
    src_view = f"{view}_src"
    import duckdb

    plan: _TextPlan | None = None
    try:
        if kind == "parquet":
            con.execute(
                f"CREATE OR REPLACE VIEW {src_view} AS "
                f"SELECT * FROM read_parquet({_sql_str(str(p))})"
            )
        elif kind in ("json", "ndjson"):
            _open_json(con, p, kind, gzipped, src_view)
        elif kind == "excel":
            _register_frame(con, _read_excel(p, names), view)
            load = True
        else:
            plan = _plan_text(p, sep, names, gzipped, notes)
            if plan.encoding != "utf-8":
                notes.append(f"read as {plan.encoding} (not UTF-8)")
                _transcode_plan(plan, plan.encoding, cleanup)
            if plan.sep == "whitespace":
                kind = "whitespace"
                _register_frame(con, _read_whitespace(plan, names), view)
                load = True
            else:
                kind = "csv"
                _csv_view(con, plan, names, src_view)
        described = con.execute(f"DESCRIBE {src_view}").fetchall()
        columns = [str(r[0]) for r in described]
        types = {str(r[0]): str(r[1]) for r in described}
        if kind in ("json", "ndjson"):
            if columns == ["json"] and types["json"] == "JSON" and _has_rows(con, src_view):
                # DuckDB's answer when the values are not all objects with named fields
                raise InputError(
                    f"{p}: expected JSON records (objects with named fields, in an array or "
                    "one per line); some values are not objects"
                )
            columns, types = _unnest_records(con, view, columns, types)
        if names and kind in ("parquet", "json", "ndjson") and len(names) != len(columns):
            raise InputError(f"`names` gives {len(names)} names but {p} has {len(columns)} columns")
        select, columns, types = _normalised_select(columns, types, names, kind)
        select = f"SELECT {select} FROM {src_view}"
        _drop(con, view)
        for attempt in range(3):
            try:
                _create(con, view, select, load)
                break
            except duckdb.Error as exc:
                # problems DuckDB only meets past the sample: change the plan, read again
                if attempt == 2 or plan is None or not load:
                    raise
                if not _replan(plan, str(exc), cleanup, notes):
                    raise
                _csv_view(con, plan, names, src_view)
        row = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {view} LIMIT 1)").fetchone()
    except duckdb.Error as exc:
        _remove(cleanup)
        if is_interruption(exc):
            raise  # Ctrl-C / SIGTERM (DuckDB 1.x), not the file's fault
        raise InputError(f"{p}: cannot be read as {kind.upper()} ({_duck_message(exc)})") from None
    except BaseException:
        _remove(cleanup)
        raise
    if load:
        # the table holds the data now: the pandas frame and the UTF-8 copy can go
        if kind in ("excel", "whitespace"):
            con.execute(f"DROP VIEW IF EXISTS {src_view}")
            con.unregister(f"{view}_df")
        _remove(cleanup)
        cleanup = []
    if row is None or row[0] == 0:
        _remove(cleanup)
        what = {
            "json": "holds no records",
            "ndjson": "holds no records",
            "excel": "has no data rows in its first sheet",
        }.get(kind, "has a header but no data rows")
        raise InputError(f"{p}: the file {what}")
    raw = RawSource(p, kind, columns, types, plan.encoding if plan else "utf-8", notes, cleanup)
    raw.materialised = load
    if kind == "csv" and load and plan is not None:
        _note_long_lines(con, raw, view, len(names) if names else plan.header_fields)
    return raw


#: characters that make an input path a glob pattern (``logs/*.parquet``)
_GLOB_CHARS = frozenset("*?[")


def parquet_files(path: str | os.PathLike[str]) -> list[Path] | None:
    """The Parquet files a directory or a glob names, in sorted order; None for one file.

    A directory means every ``*.parquet`` / ``*.pq`` file under it, at any depth (the layout of
    a partitioned data set, ``year=2011/month=09/part-0.parquet``). Raises InputError for a
    missing path, a glob that matches nothing, or a directory without Parquet files.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.parquet").write_bytes(b""), (d / "b.parquet").write_bytes(b"")
    >>> [f.name for f in parquet_files(d / "*.parquet")]
    ['a.parquet', 'b.parquet']
    >>> parquet_files(d / "a.parquet") is None
    True
    """
    p = Path(path)
    text = str(p)
    if not _GLOB_CHARS.intersection(text):
        if not p.exists():
            raise InputError(f"{p}: no such file")
        if not p.is_dir():
            return None
        found = sorted(
            f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (".parquet", ".pq")
        )
        if not found:
            raise InputError(f"{p}: is a directory without Parquet files (*.parquet)")
        return found
    import glob

    found = sorted(Path(f) for f in glob.glob(text, recursive=True) if Path(f).is_file())
    if not found:
        raise InputError(f"{p}: no file matches this pattern")
    bad = [f for f in found if f.suffix.lower() not in (".parquet", ".pq")]
    if bad:
        raise InputError(
            f"{p}: a pattern or directory must name Parquet files only; it matches {bad[0]}"
        )
    return found


def _open_url(
    con: duckdb.DuckDBPyConnection,
    url: str,
    *,
    sep: str | None,
    names: list[str] | None,
    view: str,
    materialise: bool | None,
) -> RawSource:
    """:func:`open_raw` for a URL: Parquet is read in place (the footers now, the columns a
    query needs later); one text, JSON or Excel file is downloaded first (its bytes are sniffed)."""

    remote = list_files(url)
    if remote.parquet:
        register(con, remote.fs)
        return _open_parquet_set(
            con, Path(url), None, names=names, view=view, materialise=materialise, remote=remote
        )
    local = local_copies(remote)[0]
    try:
        raw = open_raw(con, local, sep=sep, names=names, view=view, materialise=materialise)
    except InputError as exc:
        raise InputError(str(exc).replace(str(local), url)) from None
    raw.path, raw.remote = Path(url), remote
    if raw.kind == "parquet":  # Parquet under another extension: read from the copy
        raw.files = [local]
    return raw


def localise(con: duckdb.DuckDBPyConnection, raw: RawSource, view: str = "raw") -> None:
    """From now on, read a URL's Parquet files from local copies (downloaded once per process:
    :func:`toolkit.io._remote.local_copies`) instead of in place; nothing for a local log.

    The embedded engine calls this before its feature queries: it scans the log once per cutoff,
    and one download is cheaper than a fetch of the columns on every scan.
    """
    if raw.remote is None or raw.files is not None or raw.kind != "parquet":
        return

    raw.files = local_copies(raw.remote)
    con.execute(
        f"CREATE OR REPLACE VIEW {view}_src AS SELECT * FROM read_parquet("
        f"{raw.parquet_sql}, union_by_name = true, hive_partitioning = false)"
    )


def _open_parquet_set(
    con: duckdb.DuckDBPyConnection,
    p: Path,
    files: list[Path] | None,
    *,
    names: list[str] | None,
    view: str,
    materialise: bool | None,
    remote: RemoteFiles | None = None,
) -> RawSource:
    """:func:`open_raw` for several Parquet files read as one log (columns matched by name)."""
    import duckdb

    raw = RawSource(p, "parquet", [], {}, files=files, remote=remote)
    shown = remote.url if remote is not None else p
    src_view = f"{view}_src"
    try:
        # hive_partitioning off: a directory layout such as month=09 adds no column of its own,
        # so a log reads the same whichever way its files are laid out
        con.execute(
            f"CREATE OR REPLACE VIEW {src_view} AS SELECT * FROM read_parquet("
            f"{raw.parquet_sql}, union_by_name = true, hive_partitioning = false)"
        )
        described = con.execute(f"DESCRIBE {src_view}").fetchall()
        columns = [str(r[0]) for r in described]
        types = {str(r[0]): str(r[1]) for r in described}
        if names and len(names) != len(columns):
            raise InputError(
                f"`names` gives {len(names)} names but {shown} has {len(columns)} columns"
            )
        select, columns, types = _normalised_select(columns, types, names, "parquet")
        _drop(con, view)
        _create(con, view, f"SELECT {select} FROM {src_view}", bool(materialise))
        row = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {view} LIMIT 1)").fetchone()
    except duckdb.Error as exc:
        if is_interruption(exc):
            raise
        raise InputError(f"{shown}: cannot be read as PARQUET ({_duck_message(exc)})") from None
    if row is None or row[0] == 0:
        raise InputError(f"{shown}: its Parquet files hold no data rows")
    raw.columns, raw.types, raw.materialised = columns, types, bool(materialise)
    return raw


def _remove(paths: list[Path]) -> None:
    for c in paths:
        c.unlink(missing_ok=True)


def _register_frame(con: duckdb.DuckDBPyConnection, df: Any, view: str) -> None:
    con.register(f"{view}_df", df)
    con.execute(f"CREATE OR REPLACE VIEW {view}_src AS SELECT * FROM {view}_df")


def _transcode_plan(plan: _TextPlan, encoding: str, cleanup: list[Path]) -> None:
    plan.src, plan.encoding = _transcode(plan.origin, encoding, plan.gzipped)
    plan.gzipped = False
    cleanup.append(plan.src)


def _replan(plan: _TextPlan, message: str, cleanup: list[Path], notes: list[str]) -> bool:
    """Adjust the reading plan to an error met past the sniffed sample; False if none fits."""
    if "parallel" in message and plan.parallel:
        plan.parallel = False  # quoted line breaks with padded short lines: read serially
        return True
    if "unicode" in message.lower() and plan.encoding == "utf-8":
        _transcode_plan(plan, "cp1252", cleanup)
        notes.append(f"read as {plan.encoding} (not UTF-8 past the first megabyte)")
        return True
    return False


def _duck_message(exc: Exception) -> str:
    """DuckDB's first line, with a hint for the errors users meet most."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    low = text.lower()
    if "sniffing file" in low or "unterminated quote" in low:
        return f"{first.rstrip('. ')}: an unterminated quote, or not delimited text? Try `sep`"
    return first


def _create(con: duckdb.DuckDBPyConnection, name: str, select: str, table: bool) -> None:
    if table:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")
    else:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")


def _plan_text(
    p: Path, sep: str | None, names: list[str] | None, gzipped: bool, notes: list[str]
) -> _TextPlan:
    sample = _head_bytes(p, gzipped)
    encoding = sniff_encoding(sample, complete=len(sample) < _SNIFF_BYTES)
    if encoding != "utf-16" and _is_binary(sample):
        raise InputError(
            f"{p}: looks like a binary file, not text (it holds NUL bytes); expected CSV/TSV, "
            "Parquet, JSON, NDJSON or xlsx"
        )
    text = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    if not text.strip():
        raise InputError(f"{p}: the file is empty")
    if _unprintable_share(text) > 0.1:
        raise InputError(
            f"{p}: does not look like text (many control characters); expected CSV/TSV, "
            "Parquet, JSON, NDJSON or xlsx"
        )
    if sep:
        resolved = SEPARATORS.get(sep.lower() if len(sep) > 1 else sep, sep)
        if resolved != "whitespace" and len(resolved) != 1:
            raise InputError(
                "`sep` must be one character or one of tab, comma, semicolon, pipe, "
                f"whitespace, got {sep!r}"
            )
    else:
        resolved = sniff_separator(text)
    counts = _field_counts(text, resolved)
    skip = 0 if names else _preamble(counts)
    if skip:
        notes.append(f"skipped {skip} line(s) above the header")
    body = [c for c in counts[skip:] if c]
    header_fields = body[0] if body else 0
    if names:
        common = Counter(body).most_common(1)
        width = common[0][0] if common else 0
        if width and len(names) != width:
            raise InputError(
                f"`names` gives {len(names)} names ({', '.join(names)}) but the lines of {p} "
                f"have {width} fields"
            )
    return _TextPlan(
        origin=p,
        src=p,
        sep=resolved,
        gzipped=gzipped,
        encoding=encoding,
        skip=skip,
        header_fields=header_fields,
        parallel=not (resolved != "whitespace" and _quoted_newline(text, resolved)),
    )


def _csv_view(
    con: duckdb.DuckDBPyConnection, plan: _TextPlan, names: list[str] | None, view: str
) -> None:
    opts = [
        f"delim={_sql_str(plan.sep)}",
        "all_varchar=true",
        "quote='\"'",
        "escape='\"'",
        "null_padding=true",
        "strict_mode=false",
        f"compression={_sql_str('gzip' if plan.gzipped else 'none')}",
    ]
    if plan.skip:
        # only when needed: an explicit skip (even 0) turns off the sniffer's tolerance of
        # lines with more fields than the header
        opts.append(f"skip={plan.skip}")
    if not plan.parallel:
        opts.append("parallel=false")
    if names:
        opts += ["header=false", f"names=[{', '.join(_sql_str(n) for n in names)}]"]
    else:
        opts.append("header=true")
    con.execute(
        f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM "
        f"read_csv({_sql_str(str(plan.src))}, {', '.join(opts)})"
    )


def _open_json(
    con: duckdb.DuckDBPyConnection, p: Path, kind: str, gzipped: bool, view: str
) -> None:
    fmt = "newline_delimited" if kind == "ndjson" else "auto"
    head = _head_bytes(p, gzipped, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise InputError(f"{p}: the file is empty")
    if kind == "json":
        _check_json_ends(p, gzipped, head)
    base = view.removesuffix("_src")
    con.execute(
        f"CREATE OR REPLACE VIEW {base}_json AS SELECT * FROM read_json({_sql_str(str(p))}, "
        f"format={_sql_str(fmt)}, sample_size=-1, "
        f"compression={_sql_str('gzip' if gzipped else 'none')})"
    )
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {base}_json")


def _has_rows(con: duckdb.DuckDBPyConnection, view: str) -> bool:
    return bool(con.execute(f"SELECT 1 FROM {view} LIMIT 1").fetchall())


def _check_json_ends(p: Path, gzipped: bool, head: bytes) -> None:
    """A JSON file must hold an array or objects, and end as it began.

    DuckDB's reader accepts an array whose closing ``]`` is missing (a file cut short by a full
    disk or an interrupted export) and reads the records before the cut: the customers after it
    would be silently missing. A bare number or string is not a table either.
    """
    first = head[:1]
    if first not in (b"[", b"{"):
        found = head[:20].decode("utf-8", "replace")
        raise InputError(
            f"{p}: expected a JSON array of records (or one record per line), "
            f"found {found!r} at the start"
        )
    last = _tail_bytes(p, gzipped).rstrip(b" \t\r\n")[-1:]
    closing = b"]" if first == b"[" else b"}"
    if last != closing:
        raise InputError(
            f"{p}: the JSON is not complete: it starts with {first.decode()!r} but ends with "
            f"{last.decode('utf-8', 'replace')!r}, not {closing.decode()!r} "
            "(the file may have been cut short)"
        )


def _tail_bytes(path: Path, gzipped: bool, n: int = 4096) -> bytes:
    """The last ``n`` bytes of the (decompressed) file."""
    try:
        if not gzipped:
            with open(path, "rb") as fh:
                fh.seek(max(0, path.stat().st_size - n))
                return fh.read()
        tail = b""
        with gzip.open(path, "rb") as gz:  # no index into a gzip stream: read it through
            while chunk := gz.read(1 << 20):
                tail = (tail + chunk)[-n:]
        return tail
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None


def _unnest_records(
    con: duckdb.DuckDBPyConnection, view: str, columns: list[str], types: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """``{"data": [{...}, ...]}``: one object holding one array of records -> the records."""
    if len(columns) != 1:
        return columns, types
    ty = types[columns[0]]
    if not (ty.startswith("STRUCT(") and ty.endswith("[]")):
        return columns, types
    con.execute(
        f"CREATE OR REPLACE VIEW {view}_src AS SELECT r.* FROM "
        f"(SELECT unnest({_q(columns[0])}) AS r FROM {view}_json)"
    )
    described = con.execute(f"DESCRIBE {view}_src").fetchall()
    return [str(r[0]) for r in described], {str(r[0]): str(r[1]) for r in described}


def _normalised_select(
    columns: list[str], types: dict[str, str], names: list[str] | None, kind: str
) -> tuple[str, list[str], dict[str, str]]:
    """The SELECT list that renames (``--names`` on self-describing formats) and normalises
    types: JSON values of mixed type become text, zoned timestamps UTC wall time."""
    rename = names if names and kind in ("parquet", "json", "ndjson") else columns
    parts = []
    out_types = {}
    for old, new in zip(columns, rename, strict=True):
        ty = types[old].upper()
        expr = _q(old)
        if ty == "JSON":
            expr, ty = f"({_q(old)} ->> '$')", "VARCHAR"
        elif ty == "TIMESTAMP WITH TIME ZONE":
            expr, ty = f"timezone('UTC', {_q(old)})", "TIMESTAMP"
        elif ty == '"NULL"' or ty == "NULL":
            expr, ty = f"CAST({_q(old)} AS VARCHAR)", "VARCHAR"
        parts.append(f"{expr} AS {_q(new)}")
        out_types[new] = ty if ty != types[old].upper() else types[old]
    return ", ".join(parts), list(rename), out_types


_AUTO_COLUMN = re.compile(r"^column\d+$")


def _note_long_lines(
    con: duckdb.DuckDBPyConnection, raw: RawSource, view: str, header_fields: int
) -> None:
    """Lines with more fields than the header put their extras in auto-named columns."""
    extra = [c for c in raw.columns[header_fields:] if _AUTO_COLUMN.match(c)]
    if not header_fields or not extra:
        return
    cond = " OR ".join(f"{_q(c)} IS NOT NULL" for c in extra)
    row = con.execute(f"SELECT count(*) FROM {view} WHERE {cond}").fetchone()
    n = int(row[0]) if row else 0
    if n:
        raw.notes.append(
            f"{n:,} row(s) have more fields than the header ({header_fields}); the extra values "
            f"are in {', '.join(map(repr, extra))} (unquoted separators inside a field?)"
        )


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
        df = pd.read_excel(path, dtype=object, header=None if names else 0, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a bad workbook
        raise InputError(f"{path}: cannot be read as an Excel workbook ({exc})") from None
    if df.shape[1] == 0:
        raise InputError(f"{path}: the first sheet of the workbook is empty")
    if names:
        if len(names) != df.shape[1]:
            raise InputError(
                f"`names` gives {len(names)} names but the first sheet of {path} has "
                f"{df.shape[1]} columns"
            )
        df.columns = names
    df = df.dropna(how="all")  # formatted but empty rows at the end of a sheet
    df.columns = [str(c) for c in df.columns]
    return _as_text_frame(df.reset_index(drop=True))


def _read_whitespace(plan: _TextPlan, names: list[str] | None) -> Any:
    import pandas as pd

    try:
        df = pd.read_csv(
            plan.src,
            sep=r"\s+",
            dtype=str,
            header=None if names else 0,
            skiprows=plan.skip,
            keep_default_na=False,
            na_values=[""],
            compression="gzip" if plan.gzipped else None,
            encoding="utf-8-sig",
        )
    except Exception as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{plan.origin}: cannot be read as whitespace-separated text ({msg})"
        ) from None
    if names:
        if len(names) != df.shape[1]:
            raise InputError(
                f"`names` gives {len(names)} names but {plan.origin} has {df.shape[1]} "
                "whitespace-separated fields per line"
            )
        df.columns = names
    df.columns = [str(c) for c in df.columns]
    return df.astype("string")
