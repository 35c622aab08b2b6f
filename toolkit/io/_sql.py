"""SQL quoting, written once: every identifier and string literal the toolkit puts into a DuckDB
query goes through these (column names and paths come from users' files)."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A column or table name as a quoted SQL identifier.

    Examples
    --------
    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def escape_literal(text: str) -> str:
    """The inside of a single-quoted SQL string (for a literal built in an f-string).

    Examples
    --------
    >>> escape_literal("O'Brien")
    "O''Brien"
    """
    return text.replace("'", "''")


def quote_literal(text: str) -> str:
    """A string as a single-quoted SQL literal.

    Examples
    --------
    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + escape_literal(text) + "'"
