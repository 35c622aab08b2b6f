"""Reading, mapping, validating and writing data.

``read_transactions`` turns any supported transaction file into a validated log (DuckDB views
``purchases`` / ``returns``); ``read_table`` reads a customer table; ``write_frame`` and
``write_atomic`` write outputs atomically (CSV text cells neutralised against spreadsheet
formulas: ``neutralise_formulas``, ``raw_text_outputs``).
"""

from toolkit.io._columns import ColumnMapping, find_id_column, normalise, resolve_mapping
from toolkit.io._read import sniff_encoding, sniff_separator
from toolkit.io._report import Problem, ValidationReport, check_usable
from toolkit.io._table import read_table
from toolkit.io._transactions import Transactions, connect, read_transactions
from toolkit.io._write import (
    neutralise_formulas,
    output_format,
    raw_text_outputs,
    staged_outputs,
    write_atomic,
    write_frame,
)

__all__ = [
    "ColumnMapping",
    "Problem",
    "Transactions",
    "ValidationReport",
    "check_usable",
    "connect",
    "find_id_column",
    "neutralise_formulas",
    "normalise",
    "output_format",
    "raw_text_outputs",
    "read_table",
    "read_transactions",
    "resolve_mapping",
    "sniff_encoding",
    "sniff_separator",
    "staged_outputs",
    "write_atomic",
    "write_frame",
]
