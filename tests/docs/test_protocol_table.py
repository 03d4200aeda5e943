"""docs/protocol.md: the table of every protocol point has no empty cell, and names every recipe."""

from pathlib import Path

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def table_after(heading: str) -> list[list[str]]:
    lines = PROTOCOL.read_text().split(heading, 1)[1].splitlines()
    rows = [line for line in lines[lines.index(next(l for l in lines if l.startswith("|"))):]]
    rows = rows[:next((i for i, line in enumerate(rows) if not line.startswith("|")), len(rows))]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def test_every_protocol_point_is_filled_in():
    rows = table_after("## Every protocol point")
    points = {row[0] for row in rows}
    assert {"splits, Vaihingen", "DSM scaling", "batch", "iterations", "schedule", "optimiser", "accumulation",
            "precision", "selection", "metrics and class set", "windows and stride, Vaihingen"} <= points
    for row in rows:
        assert len(row) == 5 and all(row), row


def test_every_official_recipe_has_a_row():
    from ms2mnet.models import get_model, shipped_models

    rows = table_after("### The `official` recipes")
    labels = {row[0] for row in rows}
    assert {get_model(name).label for name in shipped_models()} <= labels
    assert all(len(row) == 7 and all(row) for row in rows)
