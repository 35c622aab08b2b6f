"""Inputs in object storage: ``s3://``, ``gs://``, ``az://`` / ``abfs://`` and any other fsspec URL.

A URL names one file, a prefix ("directory": every ``*.parquet`` under it, at any depth) or a
glob (``s3://bucket/logs/2011-*.parquet``), as a local path does. The files are reached through
fsspec and the backend the protocol needs (s3fs, gcsfs, adlfs: optional installs, imported only
here, inside the functions); credentials come from the backend's usual places (environment
variables such as ``AWS_ACCESS_KEY_ID`` / ``AWS_ENDPOINT_URL``, ``~/.aws``,
``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_CONNECTION_STRING``).

What is fetched where (DuckDB's own ``httpfs`` extension is not used: it is downloaded from
DuckDB's repository at run time, which many clusters cannot reach):

* **Parquet** is opened in place: the fsspec file system is registered on the DuckDB connection,
  so describing the log reads only the files' footers (schema, row counts), and a query reads
  the column chunks it needs. The Dask engine's client never downloads the log; each split task
  fetches its own file to the worker's temporary directory and deletes it when read
  (:func:`fetch_to`). The embedded engine, which scans the log once per cutoff, downloads the
  files once (:func:`local_copies`) and reads the copies.
* **Text, JSON, Excel** (one file) are downloaded at once: the reader sniffs their bytes.

Downloads for the embedded engine go to one temporary directory per process, reused while the
remote file is unchanged (same size and ETag / modification time) and removed at exit.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    import duckdb

# ``scheme://rest``; pathlib collapses the double slash (``Path("s3://b/k")`` is ``s3:/b/k``), so
# one slash is accepted too. Two letters at least: ``C:/data`` is a Windows drive, not a URL.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):/+(.*)$")
_GLOB_CHARS = frozenset("*?[")
_PARQUET_SUFFIXES = (".parquet", ".pq")

#: the package each common protocol needs (pip names); others: fsspec's own hint
BACKENDS = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "adl": "adlfs",
    "http": "aiohttp",
    "https": "aiohttp",
}


def as_url(path: str | os.PathLike[str]) -> str | None:
    """``path`` as a URL (``scheme://rest``) when it names one, else None.

    Examples
    --------
    >>> as_url("s3://bucket/logs/"), as_url(Path("gs://b/x.parquet"))
    ('s3://bucket/logs/', 'gs://b/x.parquet')
    >>> as_url("logs/x.parquet"), as_url("C:/data/x.csv")
    (None, None)
    """
    match = _URL.match(os.fspath(path))
    if match is None or match[1].lower() == "file":
        return None
    return f"{match[1].lower()}://{match[2]}"


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an object-storage (fsspec) URL rather than a local path.

    Examples
    --------
    >>> is_url("s3://bucket/key.parquet"), is_url("data/key.parquet")
    (True, False)
    """
    return as_url(path) is not None


def display(path: str | os.PathLike[str]) -> str:
    """``path`` as the user wrote it: a URL with its double slash back, else the path.

    Examples
    --------
    >>> display(Path("s3://bucket/k.csv")), display(Path("data/k.csv"))
    ('s3://bucket/k.csv', 'data/k.csv')
    """
    return as_url(path) or os.fspath(path)


def install_hint(protocol: str) -> str:
    """The ``pip install`` line for a protocol's fsspec backend.

    Examples
    --------
    >>> install_hint("s3")
    'pip install s3fs (or the extra: pip install "toolkit[s3]")'
    """
    package = BACKENDS.get(protocol)
    if package is None:
        return (
            f"pip install the fsspec backend for {protocol}:// (fsspec's list of implementations)"
        )
    extra = {"s3fs": "s3", "gcsfs": "gcs", "adlfs": "azure"}.get(package)
    return f"pip install {package}" + (
        f' (or the extra: pip install "toolkit[{extra}]")' if extra else ""
    )


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path inside it; InputError naming the URL and
    the install line when fsspec or the protocol's backend is missing."""
    protocol = url.split("://", 1)[0]
    try:
        import fsspec
    except ImportError:
        raise InputError(
            f"{url}: reading object storage needs fsspec and {BACKENDS.get(protocol, 'a backend')}"
            f", which are not installed; install them with: {install_hint(protocol)}"
        ) from None
    try:
        fs, inner = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise InputError(
            f"{url}: the {protocol}:// protocol needs {BACKENDS.get(protocol, 'its backend')}, "
            f"which is not installed ({exc}); install it with: {install_hint(protocol)}"
        ) from None
    except ValueError as exc:
        raise InputError(f"{url}: not a URL fsspec can open ({exc})") from None
    return fs, str(inner)


@dataclass
class RemoteFiles:
    """The files a URL names: their URLs, sizes and versions (ETag or modification time)."""

    url: str
    fs: Any
    paths: list[str]  # inside the file system (no protocol)
    sizes: list[int]
    versions: list[str]

    @property
    def urls(self) -> list[str]:
        return [self.fs.unstrip_protocol(p) for p in self.paths]

    @property
    def parquet(self) -> bool:
        return all(p.lower().endswith(_PARQUET_SUFFIXES) for p in self.paths)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def fingerprint(self) -> list[tuple[str, int, str]]:
        """What identifies the files' contents without reading them."""
        return list(zip(self.urls, self.sizes, self.versions, strict=True))


def _version(info: dict[str, Any]) -> str:
    for key in ("ETag", "etag", "md5Hash", "LastModified", "last_modified", "mtime", "updated"):
        if info.get(key) is not None:
            return str(info[key])
    return ""


def _failure(url: str, exc: BaseException, doing: str) -> InputError:
    """One line for an error of the backend (no traceback): missing, denied, or its own words."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{url}: no such file, prefix or bucket ({text})")
    if isinstance(exc, PermissionError):
        return InputError(
            f"{url}: access denied ({text}); check the credentials the backend uses (for S3: "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE, ~/.aws)"
        )
    return InputError(f"{url}: cannot {doing} ({type(exc).__name__}: {text})")


def _guard(exc: BaseException) -> None:
    """Let interruptions through: Ctrl-C is not the URL's fault."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc


def list_files(url: str) -> RemoteFiles:
    """The files ``url`` names, in sorted order: one file, every Parquet file under a prefix,
    or every file a glob matches (Parquet only, as for local paths).

    Raises InputError, naming the URL, for a missing bucket, file or prefix, a glob that
    matches nothing, a prefix without Parquet files, denied access or a missing backend.
    """
    fs, path = filesystem(url)
    try:
        if _GLOB_CHARS.intersection(path):
            found = {p: i for p, i in fs.glob(path, detail=True).items() if i.get("type") == "file"}
            if not found:
                bucket = path.split("/", 1)[0]
                if bucket and not fs.exists(bucket):
                    raise InputError(
                        f"{url}: the bucket {bucket!r} does not exist (or these credentials "
                        "cannot see it)"
                    )
                raise InputError(f"{url}: no file matches this pattern")
            bad = [p for p in found if not p.lower().endswith(_PARQUET_SUFFIXES)]
            if bad:
                raise InputError(
                    f"{url}: a pattern or prefix must name Parquet files only; it matches "
                    f"{fs.unstrip_protocol(bad[0])}"
                )
        else:
            info = fs.info(path)
            if info.get("type") == "directory":
                found = {
                    p: i
                    for p, i in fs.find(path, detail=True).items()
                    if i.get("type") == "file" and p.lower().endswith(_PARQUET_SUFFIXES)
                }
                if not found:
                    raise InputError(f"{url}: is a prefix without Parquet files (*.parquet)")
            else:
                found = {path: info}
    except InputError:
        raise
    except BaseException as exc:
        _guard(exc)
        raise _failure(url, exc, "list it") from None
    names = sorted(found)
    return RemoteFiles(
        url,
        fs,
        names,
        [int(found[p].get("size") or 0) for p in names],
        [_version(found[p]) for p in names],
    )


def remote_fingerprint(url: str | os.PathLike[str]) -> str:
    """A SHA-256 of the names, sizes and versions of the files a URL names (nothing is read):
    what ``toolkit run`` keys its reuse of earlier outputs on."""
    import hashlib
    import json

    files = list_files(display(url))
    return hashlib.sha256(json.dumps(files.fingerprint()).encode()).hexdigest()


def fetch_to(fs: Any, path: str, dest: Path, url: str | None = None) -> Path:
    """Download one file to ``dest`` (a local path); InputError naming the URL on failure."""
    try:
        fs.get_file(path, str(dest))
    except BaseException as exc:
        _guard(exc)
        dest.unlink(missing_ok=True)
        raise _failure(url or fs.unstrip_protocol(path), exc, "download it") from None
    return dest


def fetch_url(url: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Download the file ``url`` names into ``directory`` (default: the system temporary
    directory), under a fresh name that keeps its extensions; the caller deletes it."""
    fs, path = filesystem(url)
    name = path.rstrip("/").rsplit("/", 1)[-1]
    fd, local = tempfile.mkstemp(prefix="toolkit-fetch-", suffix=f"-{name}", dir=directory)
    os.close(fd)
    return fetch_to(fs, path, Path(local), url)


# --- the process's downloads (the embedded engine, text files) ------------------------------------

_CACHE: dict[tuple[str, int, str], Path] = {}
_CACHE_DIR: list[Path] = []


def _cache_dir() -> Path:
    if not _CACHE_DIR:
        d = Path(tempfile.mkdtemp(prefix="toolkit-remote-"))
        atexit.register(shutil.rmtree, d, True)
        _CACHE_DIR.append(d)
    return _CACHE_DIR[0]


def local_copies(remote: RemoteFiles, *, say: bool = True) -> list[Path]:
    """Local copies of every file of ``remote``, downloaded once per process (again only when
    a file's size or version changed); removed when the process ends.

    ``say``: write one line on stderr before downloading ("downloading N files, X MB").
    """
    keys = remote.fingerprint()
    missing = [i for i, k in enumerate(keys) if not (k in _CACHE and _CACHE[k].exists())]
    if missing and say:
        mb = sum(remote.sizes[i] for i in missing) / 1e6
        print(
            f"downloading {len(missing)} file(s), {mb:,.1f} MB, from {remote.url} to a "
            "temporary directory (removed at exit)",
            file=sys.stderr,
            flush=True,
        )
    for i in missing:
        d = Path(tempfile.mkdtemp(prefix="f-", dir=_cache_dir()))
        name = remote.paths[i].rstrip("/").rsplit("/", 1)[-1]
        _CACHE[keys[i]] = fetch_to(remote.fs, remote.paths[i], d / name, keys[i][0])
    return [_CACHE[k] for k in keys]


def register(con: duckdb.DuckDBPyConnection, fs: Any) -> None:
    """Let DuckDB read the URLs of ``fs`` through fsspec (once per connection)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    if not any(con.filesystem_is_registered(p) for p in protocols):
        con.register_filesystem(fs)
