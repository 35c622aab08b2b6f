"""What every CLI command shares: the typer app, error handling, column options, progress.

Commands live in the sibling modules, one module per area, and register themselves on :data:`app`.
They parse options and call the library; nothing here imports a heavy dependency.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from toolkit.errors import InputError, ToolkitError


class _Commands(TyperGroup):
    """The command group, listing each command with its whole first sentence (click cuts it at
    45 characters with "...", which hid what half the commands do)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


app = typer.Typer(
    cls=_Commands,
    name="toolkit",
    help="Retention analytics: features, segments, churn and CLV models, churn lists.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
out_console = Console(highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def info(message: str) -> None:
    """A progress or decision message for the user (stderr, so stdout stays parseable); the
    library's notes name its parameters, said here as the CLI's options."""
    err_console.print(in_cli_words(message), markup=False)


#: the library names its parameters in `backticks`; the CLI says the option instead, here only
OPTION_OF_PARAMETER = {
    "cutoff": "--cutoff",
    "horizon": "--horizon",
    "time_unit": "--time-unit",
    "models": "--models",
    "n_origins": "--origins",
    "target": "--target",
    "positive": "--positive",
    "value_column": "--value-col",
    "columns": "--columns",
    "sort": "--sort",
    "engine": "--engine",
    "scheduler": "--scheduler",
    "customers": "--customers-table",
    "segmenter": "--segmenter",
    "churn_list": "--churn-list",
    "out": "--out",
    "names": "--names",
    "sep": "--sep",
    "date_format": "--date-format",
    "mapping.customer": "--customer-col",
    "mapping.timestamp": "--date-col",
    "mapping.amount": "--amount-col",
    "mapping.quantity": "--quantity-col",
    "mapping.price": "--price-col",
    "mapping.invoice": "--invoice-col",
    "mapping.product": "--product-col",
    "k": "--k",
    "discount_rate": "--discount-rate",
    "cutoffs": "--cutoffs",
    "last_cutoff": "--last-cutoff",
}
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?)`")


def in_cli_words(message: str) -> str:
    """A library message with each `parameter` it names replaced by the CLI option.

    Examples
    --------
    >>> in_cli_words("`time_unit` must be 'days' or 'weeks', got 'months'")
    "--time-unit must be 'days' or 'weeks', got 'months'"
    >>> in_cli_words("`mapping.customer` 'Cust' is not a column of t.csv")
    "--customer-col 'Cust' is not a column of t.csv"
    >>> in_cli_words("use `toolkit clv`")
    'use `toolkit clv`'
    """
    return _PARAMETER.sub(lambda m: OPTION_OF_PARAMETER.get(m[1], m[0]), message)


def handle_errors(func: F) -> F:
    """Turn toolkit's errors into one line on stderr and the CLI's exit codes.

    ``InputError`` -> exit 2, other ``ToolkitError`` -> exit 1, anything unexpected -> exit 1 with
    a short message (set ``TOOLKIT_DEBUG=1`` to see the traceback).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from toolkit.io._write import protect_inputs

        try:
            _check_seed(kwargs.get("seed"))
            _refuse_url_output(kwargs)
            _refuse_output_onto_input(kwargs)
            _refuse_output_into_saved_model(kwargs, replaces_model=func.__name__ == "train")
            # and no output of the command, whatever its name, replaces an input file
            with protect_inputs(path for _, path in _input_paths(kwargs)):
                return func(*args, **kwargs)
        except typer.Exit:
            raise
        except InputError as exc:
            err_console.print(f"error: {in_cli_words(str(exc))}", markup=False)
            raise typer.Exit(2) from None
        except ToolkitError as exc:
            err_console.print(f"error: {in_cli_words(str(exc))}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _interrupted()
        except SystemExit:
            from toolkit._process import terminated

            if terminated():  # SIGTERM outside a query
                _interrupted()
            raise
        except Exception as exc:
            from toolkit._process import is_interruption

            if is_interruption(exc):
                _interrupted()
            if os.environ.get("TOOLKIT_DEBUG"):
                raise
            if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in _USERS_OS):
                # a path that cannot be made or written (under a file, no permission), a full
                # disk: the user's to fix, not a bug
                err_console.print(f"error: {_os_error_message(exc)}", markup=False)
                raise typer.Exit(2) from None
            err_console.print(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set TOOLKIT_DEBUG=1 for the traceback; please report it)",
                markup=False,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


#: OS errors that are the machine's or the user's state, even without a file name
_USERS_OS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def _os_error_message(exc: OSError) -> str:
    """``cannot use 'out/x.csv': Not a directory`` from an OSError (with its path if known)."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"cannot write the output: {exc.strerror or exc}"
    if isinstance(exc, FileExistsError) and len(paths) == 1:  # mkdir where a file is
        return f"cannot make the directory {paths[0]!r}: a file of that name is in the way"
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, NotADirectoryError):
        reason += " (a file is in the way)"
    return f"cannot use {' -> '.join(map(repr, paths))}: {reason}"


def _interrupted() -> NoReturn:
    """Ctrl-C (exit 130) or SIGTERM (exit 143): one line, and the command's cleanup has run."""
    from toolkit._process import TERMINATED, terminated

    if terminated():
        err_console.print("terminated", markup=False)
        raise typer.Exit(TERMINATED)
    err_console.print("interrupted", markup=False)
    raise typer.Exit(130)


def _check_seed(seed: object) -> None:
    """Every command's --seed seeds numpy and scikit-learn, which want a number >= 0 (and
    would fail deep inside with their own wording)."""
    if isinstance(seed, int) and seed < 0:
        raise InputError(f"--seed must be a non-negative whole number, got {seed}")


#: the commands' positional arguments, as their usage line names them
_POSITIONAL = {"data": "DATA", "features": "FEATURES", "model_dir": "MODEL_DIR"}


def option_name(param: str) -> str:
    """How the CLI spells a command's parameter: ``DATA`` or ``--customers-table``."""
    return _POSITIONAL.get(param) or "--" + param.replace("_", "-")


def _input_paths(params: dict[str, Any]) -> list[tuple[str, Path]]:
    """The command's input files among its parameters (its outputs are named ``out``, or
    ``*_out`` as generate's --customers-out)."""
    return [
        (name, value)
        for name, value in params.items()
        if isinstance(value, Path)
        and name != "out"
        and not name.endswith("_out")
        and value.is_file()
    ]


def _refuse_url_output(params: dict[str, Any]) -> None:
    """Outputs are local paths: an object-storage URL as ``--out`` would become a local
    directory named ``s3:`` (inputs may be URLs: toolkit.io._remote)."""
    from toolkit.io._remote import as_url

    for name, value in params.items():
        if (name == "out" or name.endswith("_out")) and isinstance(value, str | os.PathLike):
            url = as_url(value)
            if url is not None:
                raise InputError(
                    f"{option_name(name)} {url!r}: outputs go to a local path (or a mounted "
                    "file system), not to a URL; write locally, then copy (aws s3 cp, gsutil cp)"
                )


def _refuse_output_onto_input(params: dict[str, Any]) -> None:
    """An ``--out`` that is one of the command's input files (under any spelling or link) would
    replace the user's data with the result: refuse it before any work is done."""
    out = params.get("out")
    if not isinstance(out, Path) or not out.exists():
        return
    for name, value in _input_paths(params):
        try:
            same = os.path.samefile(out, value)
        except OSError:
            continue
        if same:
            what = option_name(name)
            raise InputError(
                f"--out {str(out)!r} is the input {what} ({str(value)!r}): writing there would "
                "replace it; choose another output path"
            )


def count(n: int, noun: str) -> str:
    """``1 row``, ``1,204 rows``: a number and its noun, singular or plural.

    Examples
    --------
    >>> count(1, "pair"), count(1204, "row")
    ('1 pair', '1,204 rows')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def announce_reading(tx: Any) -> None:
    """Say how a transaction log was read: the columns found by name, the reading notes
    (encoding, date format, ambiguous dates, ragged lines) and the rows left out.

    Rows left out are counted where that is cheap (a log loaded into memory); ``toolkit
    validate`` counts them for any log, with examples.
    """
    from toolkit.io._report import PROBLEMS

    for role, col in tx.report.columns.items():
        if tx.report.detected.get(role) == "detected":
            info(f"using column {col!r} as {role}")
    for note in tx.notes:
        info(f"note: {note}")
    excluded = tx.excluded_rows()
    if excluded:
        total = sum(excluded.values())
        # "rows without a customer id" -> "3 without a customer id"
        parts = "; ".join(
            f"{n:,} {PROBLEMS[code][0].removeprefix('rows ')}" for code, n in excluded.items()
        )
        info(
            f"left out {count(total, 'row')} of {tx.source}: {parts} "
            f"(toolkit validate {tx.source} shows examples)"
        )


def _refuse_output_into_saved_model(params: dict[str, Any], *, replaces_model: bool) -> None:
    """An ``--out`` inside a saved model (a model directory, a segmenter) would add or replace
    files its manifest vouches for, and the model would be refused from then on. ``train`` may
    replace a model directory as a whole (``replaces_model``)."""
    out = params.get("out")
    if not isinstance(out, Path):
        return
    target = out.resolve()
    for folder in [target, *target.parents]:
        if not folder.is_dir() or not _is_saved_model(folder):
            continue
        if replaces_model and folder == target:
            return
        raise InputError(
            f"--out {str(out)!r} is inside the saved model {str(folder)!r}, whose files its "
            "manifest checks: writing there would make the model unusable; choose a path "
            "outside it"
        )


def _is_saved_model(folder: Path) -> bool:
    """A model directory of ``toolkit train`` or a segmenter of ``toolkit segment``."""
    # segmenter.json and manifest.json are the MANIFEST names of toolkit.segments._persist and
    # toolkit.models._persist; those modules import numpy, too slow for every command's start,
    # so they are imported only when a manifest is there to be read
    if (folder / "segmenter.json").is_file():
        return True
    if not (folder / "manifest.json").is_file():
        return False
    import json

    from toolkit.models._persist import FORMAT

    try:
        text = (folder / "manifest.json").read_text(encoding="utf-8")
        return bool(json.loads(text).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def announce_table(table: Any) -> None:
    """The reading notes of a customer table (:func:`toolkit.io.read_table`), one line each."""
    for note in getattr(table, "attrs", {}).get("notes", []):
        info(f"note: {note}")


@contextmanager
def progress(description: str) -> Iterator[Callable[[str], None]]:
    """A spinner with a status line on a terminal; silent when stderr is not a terminal.

    Yields a function that updates the status text.
    """
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield lambda _text: None
        return
    with err_console.status(description) as status:
        yield lambda text: status.update(f"{description}: {text}")


# --- column options, shared by every command that reads transactions ----------------------------


@dataclass
class ReadOptions:
    """The column options of the CLI, gathered into one object (see :func:`with_read_options`)."""

    customer_col: str | None = None
    date_col: str | None = None
    amount_col: str | None = None
    quantity_col: str | None = None
    price_col: str | None = None
    invoice_col: str | None = None
    product_col: str | None = None
    date_format: str | None = None
    sep: str | None = None
    names: str | None = None

    def mapping(self) -> Any:
        """The :class:`toolkit.io.ColumnMapping` these options describe."""
        from toolkit.io import ColumnMapping

        return ColumnMapping(
            customer=self.customer_col,
            timestamp=self.date_col,
            amount=self.amount_col,
            quantity=self.quantity_col,
            price=self.price_col,
            invoice=self.invoice_col,
            product=self.product_col,
        )

    def read_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`toolkit.io.read_transactions` / ``read_table``."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_col") and value is not None and not value.strip():
                raise InputError(f"{option_name(f.name)} must name a column, got {value!r}")
        names = [n.strip() for n in self.names.split(",")] if self.names else None
        if names:
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated or "" in names:
                raise InputError(
                    f"--names must give each column a different, non-empty name, got "
                    f"{self.names!r}"
                    + (f" ({', '.join(map(repr, repeated))} repeated)" if repeated else "")
                )
        return {
            "mapping": self.mapping(),
            "date_format": self.date_format,
            "sep": self.sep,
            "names": names,
        }


_READ_HELP = {
    "customer_col": "Column with the customer id (found from common spellings if omitted).",
    "date_col": "Column with the purchase date or timestamp.",
    "amount_col": "Column with the line or order amount (or give --quantity-col and --price-col).",
    "quantity_col": "Column with the quantity; amount = quantity x price.",
    "price_col": "Column with the unit price; amount = quantity x price.",
    "invoice_col": "Column with the invoice / order number (cancellations start with 'C').",
    "product_col": "Column with the product / stock code.",
    "date_format": (
        "strftime format of the dates (e.g. %Y%m%d, %m/%d/%Y %I:%M %p), or epoch, epoch_ms, "
        "epoch_us, excel for numbers (guessed if omitted)."
    ),
    "sep": "Field separator: ',', ';', 'tab', 'whitespace', ... (sniffed if omitted).",
    "names": "Comma-separated column names for a file without a header row.",
}


def with_read_options(func: F) -> F:
    """Add the column options of DESIGN.md to a command; they reach it as ``read: ReadOptions``.

    Written once here so that every command that reads transactions accepts exactly the same
    options with the same help.
    """
    sig = inspect.signature(func)
    # resolve string annotations (from __future__ import annotations) in the command's module
    hints = typing.get_type_hints(func, include_extras=True)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in sig.parameters.values()
        if p.name != "read"
    ]
    extra = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    "--" + f.name.replace("_", "-"),
                    help=_READ_HELP[f.name],
                    rich_help_panel="Columns",
                ),
            ],
        )
        for f in fields(ReadOptions)
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        read = ReadOptions(**{f.name: kwargs.pop(f.name, None) for f in fields(ReadOptions)})
        return func(*args, read=read, **kwargs)

    # keyword-only extras must come after every positional-or-keyword parameter
    ordered = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params] + extra
    wrapper.__signature__ = sig.replace(parameters=ordered)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in ordered}
    return wrapper  # type: ignore[return-value]


# --- --raw-text, shared by every command that writes CSV for people -----------------------------

_RAW_TEXT_HELP = (
    "Write text cells of CSV outputs exactly as they are, for programs. By default a text cell "
    "starting with =, +, -, @, tab or carriage return gets a leading ' so that a spreadsheet "
    "shows it instead of running it as a formula; numbers, Parquet and JSON are never changed."
)


def with_raw_text(func: F) -> F:
    """Add ``--raw-text`` to a command: while it runs, its CSV outputs keep text as it is
    (:func:`toolkit.io.raw_text_outputs`); without it, cells that a spreadsheet would run as a
    formula are neutralised.

    Written once here and put above a command's other decorators, so that the command's own
    code and the library functions it calls need no parameter for it.
    """
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func, include_extras=True)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in sig.parameters.values()
    ]
    option = inspect.Parameter(
        "raw_text",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--raw-text", help=_RAW_TEXT_HELP)],
    )

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from toolkit.io._write import raw_text_outputs

        raw = kwargs.pop("raw_text", None)
        if raw is None:  # called from another command (toolkit run): its setting holds
            return func(*args, **kwargs)
        with raw_text_outputs(bool(raw)):
            return func(*args, **kwargs)

    ordered = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params] + [option]
    wrapper.__signature__ = sig.replace(parameters=ordered)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in ordered}
    return wrapper  # type: ignore[return-value]


# --- small shared option types ------------------------------------------------------------------

InputFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Input data file (CSV/Parquet/JSON/xlsx)."
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed; the same seed, same result.")]


class TimeUnit(StrEnum):
    """``--time-unit``: the unit of the BTYD columns recency and T."""

    days = "days"
    weeks = "weeks"


def parse_models(value: str) -> list[str]:
    """``--models``: a non-empty comma-separated list of the model names."""
    from toolkit.models.training._train import MODEL_CHOICES

    chosen = parse_option_list(value, "--models", set(MODEL_CHOICES))
    if not chosen:
        raise InputError(f"--models is empty; choose from {list(MODEL_CHOICES)}")
    return chosen


def parse_option_list(value: str | None, option: str, allowed: set[str] | None = None) -> list[str]:
    """Split a comma-separated option value, checking each item against ``allowed``."""
    if not value:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise InputError(
                f"{option} must be a comma-separated list of {sorted(allowed)}, got {bad!r}"
            )
    return items


# --- engines (toolkit.engines) ------------------------------------------------------------------


class Engine(StrEnum):
    embedded = "embedded"
    dask = "dask"


EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="Where the features are computed: embedded (DuckDB in this process) or dask "
        "(hash partitions by customer on a Dask cluster; needs the 'dask' extra).",
        rich_help_panel="Engine",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="With --engine dask: the address of a running Dask scheduler (tcp://host:8786). "
        "Default: a local cluster sized to this machine, started and closed by the command.",
        rich_help_panel="Engine",
    ),
]
DataInput = Annotated[
    Path,
    typer.Argument(
        help="Input data: a file (CSV/Parquet/JSON/xlsx), a directory of Parquet files, or a "
        "quoted glob of them ('logs/*.parquet').",
    ),
]
