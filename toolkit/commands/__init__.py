"""CLI commands, one module per area (see :mod:`toolkit.cli`)."""
