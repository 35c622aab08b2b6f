"""Safe outputs: every CSV the toolkit writes for people neutralises text cells that a
spreadsheet would run as a formula; numbers stay numbers, Parquet / JSON keep values as they
are, and ``--raw-text`` turns it off (issue 14, OWASP "CSV injection")."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from toolkit.datasets import generate_transactions
from toolkit.io import neutralise_formulas, raw_text_outputs, write_frame
from toolkit.io._write import neutralised_query

# ids a till or web shop could hand over, each of which a spreadsheet would run or evaluate
FORMULA_IDS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-5", "\tcmd", "\rcmd"]
SAFE = {i: "'" + i for i in FORMULA_IDS}


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),  # only the first character counts
        ("'=1", "'=1"),  # already neutralised: left alone
        ("", ""),
    ],
)
@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_text_cells_that_start_a_formula_get_a_quote(cell, written, dtype):
    df = pd.DataFrame({"id": pd.Series([cell, "ok"], dtype=dtype), "x": [-1.5, 2.0]})
    out = neutralise_formulas(df)
    assert out["id"].tolist() == [written, "ok"]
    assert out["x"].tolist() == [-1.5, 2.0] and out["x"].dtype == "float64"
    assert df["id"].tolist() == [cell, "ok"]  # the caller's frame is not changed


def test_numbers_dates_booleans_and_missing_values_are_left_alone():
    df = pd.DataFrame(
        {
            "n": [-5, 3],
            "f": [-0.5, float("nan")],
            "b": [True, False],
            "d": pd.to_datetime(["2011-01-02", None]),
            "mixed": ["-5", None],  # text with a missing value
            "objects": [-5, 1.5],  # numbers in an object column are numbers
        }
    ).astype({"objects": object})
    out = neutralise_formulas(df)
    assert out.drop(columns="mixed").equals(df.drop(columns="mixed"))
    assert out["mixed"].tolist()[0] == "'-5" and pd.isna(out["mixed"].tolist()[1])


def test_column_names_that_start_a_formula_get_a_quote():
    out = neutralise_formulas(pd.DataFrame({"=cmd": ["a"], "ok": ["b"], 3: ["c"]}))
    assert list(out.columns) == ["'=cmd", "ok", 3]


def test_csv_is_neutralised_parquet_and_json_are_not(tmp_path):
    df = pd.DataFrame({"customer_id": FORMULA_IDS, "value": range(-3, 3)})
    write_frame(df, tmp_path / "f.csv")
    write_frame(df, tmp_path / "f.parquet")
    write_frame(df, tmp_path / "f.json")
    write_frame(df, tmp_path / "raw.csv", raw_text=True)
    csv = pd.read_csv(tmp_path / "f.csv", dtype={"customer_id": str}, keep_default_na=False)
    assert csv["customer_id"].tolist() == [SAFE[i] for i in FORMULA_IDS]
    assert csv["value"].tolist() == [-3, -2, -1, 0, 1, 2]  # numbers stay numbers
    assert pd.read_parquet(tmp_path / "f.parquet")["customer_id"].tolist() == FORMULA_IDS
    assert [r["customer_id"] for r in json.loads((tmp_path / "f.json").read_text())] == FORMULA_IDS
    raw = pd.read_csv(tmp_path / "raw.csv", dtype={"customer_id": str}, keep_default_na=False)
    assert raw["customer_id"].tolist() == FORMULA_IDS


def test_csv_written_by_duckdb_is_neutralised_the_same_way(tmp_path):
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TYPE kind AS ENUM ('-a', 'b')")
    query = (
        "SELECT * FROM (VALUES ('=1+1', -2.5, '-a'::kind), ('ok', 3.0, 'b'::kind)) "
        't(id, "-value", k)'
    )
    con.execute(f"COPY ({neutralised_query(con, query)}) TO '{tmp_path / 'f.csv'}' (HEADER)")
    df = pd.read_csv(tmp_path / "f.csv")
    assert list(df.columns) == ["id", "'-value", "k"]
    assert df.values.tolist() == [["'=1+1", -2.5, "'-a"], ["ok", 3.0, "b"]]


def test_raw_text_outputs_hold_for_the_block_only(tmp_path):
    df = pd.DataFrame({"customer_id": ["+1+1"]})
    with raw_text_outputs():
        write_frame(df, tmp_path / "inside.csv")
        write_frame(df, tmp_path / "forced.csv", raw_text=False)  # an explicit choice wins
    write_frame(df, tmp_path / "after.csv")
    read = {
        name: (tmp_path / f"{name}.csv").read_text().splitlines()[1]
        for name in ("inside", "forced", "after")
    }
    assert read == {"inside": "+1+1", "forced": "'+1+1", "after": "'+1+1"}


# --- every command that writes CSV for people ---------------------------------------------------


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated log whose first customers have formula ids (as Parquet: the ids
    reach the toolkit exactly as written)."""
    tx, _ = generate_transactions(300, seed=3, start="2022-06-01", end="2023-12-31")
    first = tx["customer_id"].drop_duplicates().tolist()[: len(FORMULA_IDS)]
    tx["customer_id"] = tx["customer_id"].replace(dict(zip(first, FORMULA_IDS, strict=True)))
    path = tmp_path_factory.mktemp("log") / "tx.parquet"
    tx.to_parquet(path, index=False)
    return path


def _ids(path: Path, column: str = "customer_id") -> set[str]:
    df = pd.read_csv(path, dtype={column: str}, keep_default_na=False)
    return set(df[column]) if path.suffix == ".csv" else set()


def _check(path: Path, *, raw: bool, ids: list[str] = FORMULA_IDS) -> None:
    found = _ids(path)
    expected = set(ids) if raw else {SAFE[i] for i in ids}
    # \r inside a quoted CSV field reads back as written
    assert expected <= found, sorted(i for i in found if not i.startswith("C0"))
    other = {SAFE[i] for i in ids} if raw else set(ids)
    assert not other & found


@pytest.mark.parametrize("raw", [False, True], ids=["safe", "raw-text"])
def test_features_csv(cli, log, tmp_path, raw):
    out = tmp_path / "features.csv"
    r = cli("features", log, "--out", out, *(["--raw-text"] if raw else []))
    assert r.exit_code == 0, r.output
    _check(out, raw=raw)
    df = pd.read_csv(out)
    assert pd.api.types.is_float_dtype(df["lifetime_spend"])  # numbers stay numbers


@pytest.mark.parametrize("raw", [False, True], ids=["safe", "raw-text"])
def test_clv_customers_csv(cli, log, tmp_path, raw):
    r = cli("clv", log, "--out", tmp_path / "clv", *(["--raw-text"] if raw else []))
    assert r.exit_code == 0, r.output
    _check(tmp_path / "clv" / "customers.csv", raw=raw)


@pytest.mark.parametrize("raw", [False, True], ids=["safe", "raw-text"])
def test_segments_csv(cli, log, tmp_path, raw):
    features = tmp_path / "features.parquet"
    assert cli("features", log, "--out", features).exit_code == 0
    out = tmp_path / "seg"
    r = cli("segment", features, "--out", out, "--k", "3", *(["--raw-text"] if raw else []))
    assert r.exit_code == 0, r.output
    # (a customer table's ids are read trimmed: the tab and carriage return are gone there)
    _check(out / "segments.csv", raw=raw, ids=FORMULA_IDS[:4])


def test_churn_list_csv_is_neutralised_and_its_parquet_is_not(cli, log, tmp_path):
    model = tmp_path / "model"
    r = cli("train", log, "--out", model, "--horizon", "60", "--models", "linear,tree")
    assert r.exit_code == 0, r.output
    for suffix in (".csv", ".parquet"):
        r = cli("predict", model, log, "--out", tmp_path / f"churn{suffix}")
        assert r.exit_code == 0, r.output
    r = cli("predict", model, log, "--out", tmp_path / "raw.csv", "--raw-text")
    assert r.exit_code == 0, r.output
    _check(tmp_path / "churn.csv", raw=False)
    _check(tmp_path / "raw.csv", raw=True)
    parquet = pd.read_parquet(tmp_path / "churn.parquet")
    assert set(FORMULA_IDS) <= set(parquet["customer_id"])
    csv = pd.read_csv(tmp_path / "churn.csv", dtype={"customer_id": str}, keep_default_na=False)
    assert pd.api.types.is_float_dtype(csv["churn_probability"])


@pytest.mark.parametrize(
    "command", ["features", "segment", "clv", "correlate", "predict", "explain", "run", "demo"]
)
def test_every_command_writing_csv_takes_raw_text(cli, command):
    r = cli(command, "--help")
    assert r.exit_code == 0 and "--raw-text" in r.output


def test_a_command_called_by_another_keeps_its_raw_text(tmp_path):
    # toolkit run calls the other commands as functions, without their --raw-text
    from toolkit.commands.common import with_raw_text

    df = pd.DataFrame({"customer_id": ["@SUM(A1)"]})

    @with_raw_text
    def inner(out: Path) -> None:
        write_frame(df, out)

    @with_raw_text
    def outer(out: Path) -> None:
        inner(out=out)

    outer(out=tmp_path / "raw.csv", raw_text=True)
    outer(out=tmp_path / "safe.csv", raw_text=False)
    assert (tmp_path / "raw.csv").read_text().splitlines()[1] == "@SUM(A1)"
    assert (tmp_path / "safe.csv").read_text().splitlines()[1] == "'@SUM(A1)"
