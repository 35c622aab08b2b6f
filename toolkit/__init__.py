"""toolkit: retention analytics from a transaction log.

Importing the package has no side effects and imports no heavy dependency; the public API below
loads its modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from toolkit._version import __version__
from toolkit.errors import DataValidationError, InputError, ToolkitError, UnsafeModelError

# public name -> module that defines it (loaded lazily, PEP 562)
_LAZY = {
    "ColumnMapping": "toolkit.io",
    "read_transactions": "toolkit.io",
    "read_table": "toolkit.io",
    "validate_transactions": "toolkit.io",
    "generate_transactions": "toolkit.datasets",
}

__all__ = [
    "__version__",
    "ToolkitError",
    "InputError",
    "DataValidationError",
    "UnsafeModelError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
