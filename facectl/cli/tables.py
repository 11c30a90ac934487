"""Tables that fit the terminal: columns declared once, with a priority and a no-wrap rule.

A command declares its columns (`Column("SN", KEEP, no_wrap=True)`, `Column("Firmware", 1)`)
and gives rows; `FitTable` does the rest when rich renders it, at the width rich offers
(the terminal, a `Live` frame, a panel): it drops the least useful columns, lowest priority
first and rightmost first among equals, until what is left fits without breaking a word or
wrapping a no-wrap cell, and names the dropped ones under the table. Rich's own measuring
and column fitting decide what fits; nothing here counts characters. `wide=True` keeps every
column. A pipe or a file is not a terminal: it gets the table at its natural width (see
`facectl.cli.common.show`), so nothing is dropped there either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

#: Priority of a column that is never dropped (an SN, a time, the thing the table is about).
KEEP = 100


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header, how useful it is (higher is kept longer), and whether it may wrap.

    `no_wrap` is for cells that mean nothing when split (a serial, a time, a state word):
    such a column is as wide as its widest cell or is dropped; other columns wrap at
    spaces, never inside a word.
    """

    header: str
    priority: int = 1
    no_wrap: bool = False
    justify: str = "left"
    style: str | None = None
    max_width: int | None = None


class FitTable:
    """A rich renderable: the declared columns that fit the width it is rendered at."""

    def __init__(self, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                 wide: bool = False, expand: bool = False, show_header: bool = True) -> None:
        self.columns = list(columns)
        self.rows = [tuple(row) for row in rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row has {len(row)} cells for {len(self.columns)} columns")
        self.title = title
        self.wide = wide
        self.expand = expand
        self.show_header = show_header

    def table(self, keep: Sequence[int] | None = None, hidden: Sequence[str] = ()) -> Table:
        """The rich Table of the columns at indexes `keep` (all by default)."""
        keep = range(len(self.columns)) if keep is None else keep
        t = Table(title=self.title, header_style="bold", expand=self.expand, show_header=self.show_header)
        for i in keep:
            c = self.columns[i]
            t.add_column(c.header, no_wrap=c.no_wrap, overflow="ellipsis" if c.no_wrap else "fold",
                         justify=c.justify, style=c.style, max_width=c.max_width)  # type: ignore[arg-type]
        for row in self.rows:
            t.add_row(*(_cell(row[i]) for i in keep))
        if hidden:
            t.caption = f"not shown at this width: {', '.join(hidden)} (--wide shows every column)"
            t.caption_justify = "left"
        return t

    def fitted(self, console: Console, width: int) -> Table:
        """Drop columns, least useful first, until the table's minimum width is within `width`."""
        keep = list(range(len(self.columns)))
        hidden: list[str] = []
        # lowest priority first; among equals the rightmost first
        order = sorted((i for i in keep if self.columns[i].priority < KEEP),
                       key=lambda i: (self.columns[i].priority, -i))
        unbounded = console.options.update_width(10 ** 6)  # Measurement.get clamps to the width it is given
        for victim in [None, *order]:
            if victim is not None:
                keep.remove(victim)
                hidden.append(self.columns[victim].header)
            candidate = self.table(keep)
            if Measurement.get(console, unbounded, candidate).minimum <= width:
                return self.table(keep, hidden) if hidden else candidate
        return self.table(keep, hidden)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table() if self.wide else self.fitted(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (str, Text)) or hasattr(value, "__rich_console__"):
        return value
    return str(value)
