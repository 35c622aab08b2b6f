"""Customer tables (toolkit.io.read_table): typed columns, ids kept as written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from toolkit.errors import InputError
from toolkit.io import read_table


def test_mall_customers(shared_data: Path):
    df = read_table(shared_data / "Mall_Customers.csv")  # CRLF line ends
    assert list(df.columns) == [
        "CustomerID",
        "Genre",
        "Age",
        "Annual Income (k$)",
        "Spending Score (1-100)",
    ]
    assert len(df) == 200
    assert df["CustomerID"].tolist()[:3] == ["0001", "0002", "0003"]
    assert str(df["CustomerID"].dtype) == "string"
    assert isinstance(df["Genre"].dtype, pd.CategoricalDtype)
    assert set(df["Genre"].cat.categories) == {"Female", "Male"}
    for col in ("Age", "Annual Income (k$)", "Spending Score (1-100)"):
        assert df[col].dtype == "int64", col
    assert df["Annual Income (k$)"].sum() == 12112


@pytest.mark.parametrize(
    ("name", "columns", "ints"),
    [
        ("cdnow_customers_summary.csv", ["ID", "frequency", "recency", "T"], ["frequency"]),
        (
            "cdnow_customers_summary_with_transactions.csv",
            ["ID", "x", "t_x", "T", "zbar"],
            ["x"],
        ),
    ],
)
def test_cdnow_summaries(shared_data: Path, name, columns, ints):
    df = read_table(shared_data / name)
    assert list(df.columns) == columns and len(df) == 2357
    assert df["ID"].tolist()[:2] == ["1", "2"] and df["ID"].is_unique
    for col in columns[1:]:
        assert df[col].dtype == ("int64" if col in ints else "float64"), col
    first = df.iloc[0]
    assert (first.iloc[1], first.iloc[2], first.iloc[3]) == (2, 30.43, 38.86)


def test_parquet_customer_table_with_float_ids(tmp_path):
    p = tmp_path / "c.parquet"
    pd.DataFrame(
        {
            "CustomerID": [17850.0, 13047.0, float("nan"), 12.5],
            "segment": ["a", "b", "a", "b"],
            "spend": [1.5, 2.0, 3.0, 4.0],
            "orders": pd.array([1, 2, 3, 4], dtype="int64"),
        }
    ).to_parquet(p)
    df = read_table(p)
    assert df["CustomerID"].tolist()[:2] == ["17850", "13047"]
    assert df["CustomerID"].isna().tolist() == [False, False, True, False]
    assert df["CustomerID"].tolist()[3] == "12.5"
    assert df["spend"].dtype == "float64" and df["orders"].dtype == "int64"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json", "tsv"])
def test_typing_rules_in_every_format(fmt, tmp_path):
    src = pd.DataFrame(
        {
            "customer_id": ["0001", "0002", "0003", "0004"],
            "gender": ["F", "M", "F", "M"],
            "age": ["19", "21", "35", "40"],
            "income": ["15.5", "", "20", "21.25"],
            "zip": ["01234", "12345", "02134", "99999"],
            "signup": ["2011-01-02", "2011-02-03", "2011-03-04", "2011-04-05"],
            "note": ["alpha", "beta", "gamma", "delta"],
            "member": ["True", "false", "TRUE", ""],
        }
    )
    p = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        src.to_csv(p, index=False)
    elif fmt == "tsv":
        src.to_csv(p, index=False, sep="\t")
    elif fmt == "xlsx":
        src.to_excel(p, index=False)
    else:
        src.to_json(p, orient="records")
    df = read_table(p)
    assert df["customer_id"].tolist() == ["0001", "0002", "0003", "0004"]
    assert isinstance(df["gender"].dtype, pd.CategoricalDtype)
    assert df["age"].dtype == "int64" and df["age"].tolist() == [19, 21, 35, 40]
    assert df["income"].dtype == "float64" and df["income"].isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert df["zip"].tolist() == ["01234", "12345", "02134", "99999"]  # leading zeros: text
    assert pd.api.types.is_datetime64_any_dtype(df["signup"])
    assert str(df["note"].dtype) == "string"
    # booleans, as a Parquet file's are (correlate and the models use them as 0/1)
    assert str(df["member"].dtype) == "boolean"
    assert df["member"].tolist()[:3] == [True, False, True] and pd.isna(df["member"][3])


def test_decimal_commas_and_awkward_numbers(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("ID;share;big;ratio\n1;0,5;12345678901234567890;inf\n2;1,25;1;2\n")
    df = read_table(p)
    assert df["share"].tolist() == [0.5, 1.25]
    assert df["big"].dtype == "float64"  # too large for an exact int64
    assert df["ratio"].dtype == "float64"


def test_headerless_table_with_names(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(" 0001  19  15\n 0002  21  16\n")
    df = read_table(p, names=["customer_id", "age", "income"])
    assert df["customer_id"].tolist() == ["0001", "0002"] and df["age"].tolist() == [19, 21]


def test_id_column_option(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("member,score\n007,1\n008,2\n")
    assert read_table(p, id_column="member")["member"].tolist() == ["007", "008"]
    with pytest.raises(InputError, match="id column 'nope' is not a column"):
        read_table(p, id_column="nope")


@pytest.mark.parametrize(
    ("content", "match"),
    [("", "the file is empty"), ("CustomerID,Age\n", "no data rows")],
)
def test_empty_tables(content, match, tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(content)
    with pytest.raises(InputError, match=match):
        read_table(p)
