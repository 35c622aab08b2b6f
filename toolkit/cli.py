"""The ``toolkit`` command line: a thin typer app over the library.

Each area's commands live in a module of :mod:`toolkit.commands` and register themselves on the
shared app; this module loads them and adds ``--version``. Heavy libraries are imported inside the
commands, so ``toolkit --help`` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Annotated

import typer

from toolkit import commands
from toolkit._process import end_process, exit_on_sigterm, quiet_openmp
from toolkit._version import __version__
from toolkit.commands.common import app

# command modules, in the order their commands appear in --help
_ORDER = [
    "pipeline",
    "data",
    "generate",
    "features",
    "correlate",
    "segment",
    "clv",
    "models",
    "backtest",
]


def _load_commands() -> None:
    found = {m.name for m in pkgutil.iter_modules(commands.__path__)} - {"common"}
    for name in [n for n in _ORDER if n in found] + sorted(found - set(_ORDER)):
        importlib.import_module(f"toolkit.commands.{name}")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Retention analytics: features, segments, churn and CLV models, churn lists."""


_load_commands()


def main() -> None:
    """Console entry point: runs the command, then ends the process with its exit code.

    The process ends at once, without the interpreter's teardown (:func:`end_process`). To run a
    command inside a Python process, call ``app(args, standalone_mode=False)`` instead.
    """
    quiet_openmp()
    exit_on_sigterm()
    try:
        app()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): Python prints it and exits with 1
            print(exc.code, file=sys.stderr)
            code = 1
    end_process(code)


if __name__ == "__main__":
    main()
