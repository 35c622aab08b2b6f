"""SQL typing, written once: each column of a raw file becomes text ids, numbers or a timestamp
in one pass (the rules of :mod:`toolkit.io._transactions`' docstring), and a cancellation is
recognised by its invoice."""

from __future__ import annotations

from toolkit.io._sql import quote_ident, quote_literal

_q = quote_ident
_lit = quote_literal
# Amounts beyond this are excluded as outlying: a double holds up to 1.8e308, so a sum of up to
# a hundred million such amounts (per customer or in all) still fits, and no total is infinite
HUGE_AMOUNT = 1e300
# an invoice number that marks a cancellation: 'C' and a digit (Online Retail's C536379)
CANCELLATION = "^[Cc][0-9]"


def is_text(dtype: str) -> bool:
    return dtype.upper().startswith("VARCHAR") or dtype.upper() in ("STRING", "TEXT", "JSON")


def _is_temporal(dtype: str) -> bool:
    return dtype.upper().startswith(("TIMESTAMP", "DATE"))


def _id_expr(col: str, dtype: str, *, null_words: bool = True) -> str:
    """Ids as text exactly as written; a float-formatted integer (17850.0) loses its '.0'.

    ``null_words``: also read 'nan', 'null', 'none', 'na', 'n/a' (any case) as missing.
    """
    c = _q(col)
    if is_text(dtype):
        # Written for speed: this runs on every row of files with 100M+ rows, so the costly
        # checks (lower, regexp) only run on the few values that can need them.
        v = f"trim({c})"
        cleaned = f"regexp_replace({v}, '^(-?[0-9]+)[.,]0+$', '\\1')"
        # an OR chain, not IN (...): DuckDB plans IN as a join that runs on every row
        words = " OR ".join(f"lower({v}) = '{w}'" for w in ("nan", "null", "none", "na", "n/a"))
        null_rule = f"WHEN strlen({c}) <= 6 AND ({words}) THEN NULL " if null_words else ""
        full = (
            f"CASE WHEN {c} IS NULL THEN NULL {null_rule}"
            f"WHEN contains({c}, '.') OR contains({c}, ',') THEN {cleaned} "
            f"ELSE NULLIF({v}, '') END"
        )
        # Most values need nothing: only those that could change (spaces at either end, a
        # whole number with zero decimals, which ends in '0' and holds a '.' or ',', short
        # enough to be a null word) go through the allocating string functions. The cheap
        # one-byte tests come first: the scans for '.' and ',' only run on values ending in '0'.
        suspect = (
            (f"strlen({c}) <= 4 OR " if null_words else "")
            + f"prefix({c}, ' ') OR suffix({c}, ' ') "
            f"OR (suffix({c}, '0') AND (contains({c}, '.') OR contains({c}, ',')))"
        )
        return (
            f"CASE WHEN {c} IS NULL OR {c} = '' THEN NULL WHEN {suspect} THEN {full} ELSE {c} END"
        )
    if _is_float(dtype):
        return (
            f"CASE WHEN {c} IS NULL OR NOT isfinite({c}::DOUBLE) THEN NULL "
            f"WHEN {c} = floor({c}) THEN CAST(CAST({c} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({c} AS VARCHAR) END"
        )
    return f"CAST({c} AS VARCHAR)"


def _num_expr(col: str, dtype: str) -> str:
    """A number column as DOUBLE. Text is read leniently when a plain cast fails: a decimal
    comma (29,33), thousands separators with decimals or several groups (1,234.50; 1.234,50;
    1,234,567) and a currency sign ($, EUR, GBP, JPY signs) before or after the number."""
    c = _q(col)
    if not is_text(dtype):
        return f"CAST({c} AS DOUBLE)"
    v = f"trim({c})"
    w = f"regexp_replace({v}, '^([-+]?)\\s*[$€£¥]\\s*|\\s*[$€£¥]$', '\\1')"
    return (
        f"COALESCE(TRY_CAST({v} AS DOUBLE), CASE "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]+,[0-9]+$') "
        f"THEN TRY_CAST(replace({w}, ',', '.') AS DOUBLE) "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?$') "
        f"THEN TRY_CAST(replace({w}, ',', '') AS DOUBLE) "
        f"WHEN regexp_matches({w}, '^[-+]?[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]+)?$') "
        f"THEN TRY_CAST(replace(replace({w}, '.', ''), ',', '.') AS DOUBLE) "
        f"ELSE TRY_CAST({w} AS DOUBLE) END)"
    )


def _is_float(dtype: str) -> bool:
    return dtype.upper() in ("DOUBLE", "FLOAT", "REAL") or dtype.upper().startswith("DECIMAL")


def _cancellation(col: str) -> str:
    """SQL for 'the invoice marks a cancellation': 'C' or 'c' followed by a digit.

    The same rule as :data:`CANCELLATION`, written as byte ranges ('C0' <= v < 'C:' holds exactly
    the texts that begin with 'C' and a digit): a comparison, not a regular expression, on every
    row.
    """
    return f"({col} >= 'C0' AND {col} < 'C:' OR {col} >= 'c0' AND {col} < 'c:')"
