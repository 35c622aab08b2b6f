"""Exceptions raised by toolkit.

Every error the library raises on purpose subclasses :class:`ToolkitError`, so the CLI can turn
it into one line on stderr. :class:`InputError` (and its subclasses) mean the user handed over
something unusable: the CLI exits with code 2. Anything else is a bug and exits with code 1.
"""

from __future__ import annotations

from typing import Any


class ToolkitError(Exception):
    """Base class of every error toolkit raises on purpose."""

    exit_code = 1


class InputError(ToolkitError, ValueError):
    """Bad input or usage: a file, column or option that cannot be used as given (exit code 2)."""

    exit_code = 2


class DataValidationError(InputError):
    """The data cannot be analysed; ``report`` holds everything that was found wrong."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class UnsafeModelError(InputError):
    """A model directory failed its integrity checks (hash mismatch, pickle, unknown file)."""


class NotFittedError(ToolkitError, ValueError, AttributeError):
    """An estimator was used before ``fit``; compatible with scikit-learn's ``check_is_fitted``."""
