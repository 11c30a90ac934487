"""The table helper every command uses: declared columns fitted to the width rich renders at."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from facectl.cli.tables import KEEP, Column, FitTable

COLUMNS = (Column("Time", KEEP, no_wrap=True), Column("SN", 9, no_wrap=True), Column("Event", 7),
           Column("Decision", 5), Column("Photo", 1, no_wrap=True), Column("Empty", 8))
ROWS = [("2026-12-04 14:08:03", "FC-8190H24052799", "face verification",
         "deny: unknown person; the device clock is 900 days 4 hours behind the server clock", "yes", ""),
        ("2026-12-04 14:08:09", "FC-8190H25061293", "door sensor: open", "", "", "")]


def render(table: FitTable, width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_cells_stay_whole_and_lines_fit(width: int) -> None:
    out = render(FitTable(COLUMNS, ROWS), width)
    text = "\n".join(out)
    assert all(cell_len(line) <= width for line in out), text
    for whole in ("2026-12-04 14:08:03", "FC-8190H24052799", "FC-8190H25061293"):
        assert whole in text, text
    words = {w for row in ROWS for cell in row for w in cell.split()}
    body = [line for line in out if line.startswith("│")]
    shown = {w for line in body for cell in line.strip("│").split("│") for w in cell.split()}
    assert shown <= words, shown - words  # every word shown is a whole word of the data


def test_columns_give_way_empty_first_then_least_useful_rightmost_first() -> None:
    def hidden(width: int) -> list[str]:
        caption = next((line for line in render(FitTable(COLUMNS, ROWS), width) if "hidden to fit" in line), "")
        return caption.split("hidden to fit: ", 1)[1].split(" (", 1)[0].split(", ") if caption else []

    assert hidden(160) == []
    assert hidden(80) == ["Empty"]  # an empty column goes first, whatever its priority
    assert hidden(70) == ["Photo", "Empty"]
    assert hidden(60) == ["Decision", "Photo", "Empty"]
    assert "Time" not in hidden(20) and "SN" in hidden(20)  # KEEP columns stay, however narrow


def test_wide_keeps_every_column_and_measures_at_natural_width() -> None:
    table = FitTable(COLUMNS, ROWS, wide=True)
    out = "\n".join(render(table, 400))
    assert "hidden" not in out and "Empty" in out and "Photo" in out
    console = Console(width=400, file=io.StringIO())
    natural = console.measure(FitTable(COLUMNS, ROWS)).maximum
    assert natural > 120 and max(cell_len(line) for line in out.splitlines()) == natural


def test_rows_must_match_the_columns() -> None:
    with pytest.raises(ValueError, match="2 cells for 6 columns"):
        FitTable(COLUMNS, [("a", "b")])
