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
                 wide: bool = False, expand: bool = False, show_header: bool = True,
                 show_all: str = "--wide shows all", caption: str | None = None) -> None:
        self.columns = list(columns)
        self.rows = [tuple(row) for row in rows]
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row has {len(row)} cells for {len(self.columns)} columns")
        self.title = title
        self.wide = wide
        self.expand = expand
        self.show_header = show_header
        #: How to see the hidden columns, said under a table that hides some.
        self.show_all = show_all
        #: A note under the table (what a mark in the rows means), before any hidden-columns note.
        self.caption = caption

    def table(self, keep: Sequence[int] | None = None, hidden: Sequence[str] = (),
              widths: Sequence[int] | None = None) -> Table:
        """The rich Table of the columns at indexes `keep` (all by default), at `widths` if given."""
        keep = list(range(len(self.columns))) if keep is None else list(keep)
        t = Table(title=self.title, header_style="bold", expand=self.expand, show_header=self.show_header)
        for n, i in enumerate(keep):
            c = self.columns[i]
            t.add_column(c.header, no_wrap=c.no_wrap, overflow="ellipsis" if c.no_wrap else "fold",
                         justify=c.justify, style=c.style,  # type: ignore[arg-type]
                         max_width=c.max_width, width=widths[n] if widths is not None else None)
        for row in self.rows:
            t.add_row(*(_cell(row[i]) for i in keep))
        notes = [self.caption] if self.caption else []
        if hidden:
            notes.append(f"hidden to fit: {', '.join(hidden)} ({self.show_all})")
        if notes:
            t.caption = "\n".join(notes)
            t.caption_justify = "left"
        return t

    def fitted(self, console: Console, width: int) -> Table:
        """The most useful columns that fit `width` whole, each at a width that breaks no word.

        A column needs its widest cell when it must not wrap, else its longest word; columns
        are dropped, least useful first, until the needs fit. What is left over goes to the
        wrapping columns, fairly, up to their natural width.
        """
        unbounded = console.options.update_width(10 ** 6)
        need, natural = [], []
        for i, c in enumerate(self.columns):
            sizes = [Measurement.get(console, unbounded, _cell(v)) for v in (c.header, *(r[i] for r in self.rows))]
            natural.append(min(max(m.maximum for m in sizes), c.max_width or 10 ** 6))
            need.append(natural[-1] if c.no_wrap else min(max(m.minimum for m in sizes), natural[-1]))
        keep = list(range(len(self.columns)))
        hidden: list[str] = []
        # empty columns first, then the lowest priority, rightmost first among equals
        order = sorted((i for i in keep if self.columns[i].priority < KEEP),
                       key=lambda i: (not self._empty(i), self.columns[i].priority, -i))
        while True:
            room = width - self._frame_width(console, len(keep))
            if sum(need[i] for i in keep) <= room or not order:
                break
            victim = order.pop(0)
            keep.remove(victim)
            hidden.append(self.columns[victim].header)
        widths = _share(room, [need[i] for i in keep], [natural[i] for i in keep])
        hidden.sort(key=[c.header for c in self.columns].index)  # in the table's order
        return self.table(keep, hidden, widths)

    def _empty(self, index: int) -> bool:
        return all((c.plain if isinstance(c, Text) else c) == "" for c in (_cell(row[index]) for row in self.rows))

    def _frame_width(self, console: Console, columns: int) -> int:
        """Borders and cell padding of a table of `columns` columns, as rich draws it."""
        probe = Table(header_style="bold")
        for _ in range(columns):
            probe.add_column(width=1)
        return Measurement.get(console, console.options.update_width(10 ** 6), probe).maximum - columns

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table() if self.wide else self.fitted(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table())


def _share(room: int, need: list[int], natural: list[int]) -> list[int]:
    """Widths: each column its need, then the room left shared fairly up to each natural width."""
    widths = list(need)
    spare = room - sum(need)
    wanting = sorted((i for i in range(len(need)) if natural[i] > need[i]), key=lambda i: natural[i] - need[i])
    for n, i in enumerate(wanting):
        if spare <= 0:
            break
        give = min(natural[i] - need[i], spare // (len(wanting) - n))
        widths[i] += give
        spare -= give
    return widths


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (str, Text)) or hasattr(value, "__rich_console__"):
        return value
    return str(value)
