"""What `init` guesses from a table of text values."""

from __future__ import annotations

import pandas as pd

from container.preparation.rules import schema_from_dict
from orchestration.schema_inference import guess_schema


def _table() -> pd.DataFrame:
    rows = 40
    return pd.DataFrame(
        {
            "Customer ID": [f"C{i:03d}" for i in range(rows)],
            "age": [str(20 + i) for i in range(rows)],
            "income (k$)": [
                f"{10 + i * 1.5:.1f}" if i % 10 else None for i in range(rows)
            ],
            "plan": ["basic", "pro"] * (rows // 2),
            "grade": [str(i % 3) for i in range(rows)],
            "signed_up": [f"2024-01-{1 + i % 28:02d}" for i in range(rows)],
            "notes": [f"note {i}" for i in range(rows)],
            "spend": [f"{i * 3.25:.2f}" for i in range(rows)],
        }
    )


def test_types_ranges_categories_and_missing_values():
    guess = guess_schema(_table(), "spend")
    age = guess.column("age")
    assert (age.type, age.min, age.max, age.nullable) == ("integer", 16, 63, False)
    income = guess.column("income_k")
    assert income.name == "income (k$)" and income.type == "float"
    assert income.nullable  # every tenth value is missing
    assert income.min <= 11.5 and income.max >= 68.5
    assert guess.column("plan").allowed == ("basic", "pro")
    assert guess.column("grade").allowed == ("0", "1", "2")  # few whole numbers: codes
    assert guess.column("signed_up").type == "date"
    assert guess.column("notes").type == "string" and not guess.column("notes").allowed


def test_a_range_never_below_zero_keeps_its_floor():
    guess = guess_schema(_table(), "age")
    assert guess.column("spend").min == 0.0


def test_the_id_column_dates_and_free_text_are_not_features():
    guess = guess_schema(_table(), "spend")
    assert guess.id_column == "Customer ID"
    assert guess.features == ("age", "income_k", "plan", "grade")
    assert set(guess.left_out) == {"Customer ID", "signed_up", "notes"}
    assert "time_column" in guess.left_out["signed_up"]


def test_without_an_identifying_column_the_row_number_is_the_id():
    table = _table().drop(columns=["Customer ID", "notes"])
    declaration = guess_schema(table, "spend").declaration()
    assert declaration["id"] == {"name": "record_id", "row_number": True}


def test_the_problem_type_comes_from_the_target():
    assert guess_schema(_table(), "spend").problem_type == "regression"
    assert guess_schema(_table(), "plan").problem_type == "classification"


def test_the_declaration_is_a_schema_prepare_reads():
    guess = guess_schema(_table(), "spend")
    schema = schema_from_dict(guess.declaration(), "guessed")
    assert schema.target == "spend" and schema.id_from == ("Customer ID",)
    assert "income_k" in schema.features
