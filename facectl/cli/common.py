"""What every command shares: the database option, output modes and one-line errors.

Errors are one line that says what to do next, with a meaningful exit code:
1 = the thing asked for failed or does not exist, 2 = the command was used wrongly
(click's own code), 3 = the database cannot be opened.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement

from .tables import KEEP, Column, FitTable

if TYPE_CHECKING:
    import asyncio

DEFAULT_DB = "facectl.db"
EXIT_FAILED = 1
EXIT_DB = 3


class OutputConsole(Console):
    """A rich Console that wraps text to a terminal's width but never hard-wraps a pipe or a file.

    Whether the output is a terminal is asked at each print (CliRunner, a redirect in a
    script, a journal), not once at import: `soft_wrap` is what `print` uses by default.
    """

    @property  # type: ignore[override]
    def soft_wrap(self) -> bool:
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:  # Console.__init__ assigns it; the property decides
        pass


console = OutputConsole()
err_console = OutputConsole(stderr=True)


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db", "db_path", envvar="FACECTL_DB", default=DEFAULT_DB, show_default=True,
        type=click.Path(dir_okay=False), help="SQLite database file (env FACECTL_DB).",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def open_store(db_path: str):
    """Open an existing store, or stop with one line saying how to get a database.

    Only `facectl serve` and `facectl demo` create a database: a mistyped --db must not
    quietly start a second, empty site that no server reads (people added there reach no
    device).
    """
    from facectl.store import Store, StoreError

    if db_path != ":memory:" and not os.path.exists(db_path):
        fail(f"no database at {db_path}: start `facectl serve --db {db_path}` first (it creates it), "
             "or pass --db / set FACECTL_DB", EXIT_DB)
    try:
        return Store(db_path)
    except StoreError as exc:
        fail(f"cannot open database {db_path}: {exc}", EXIT_DB)


def device_sn(store: Any, sn: str) -> str:
    """The serial as the database spells it: serials typed in another case (or with stray spaces)
    are found, so `door open fc-8190h24052799` reaches FC-8190H24052799. Unknown: returned as typed."""
    typed = sn.strip()
    return store.devices.spelling(typed) or typed


def database_files(db_path: str) -> list[str]:
    """The database and the SQLite side files (WAL, shared memory) that exist next to it."""
    return [p for p in (db_path, f"{db_path}-wal", f"{db_path}-shm", f"{db_path}-journal") if os.path.exists(p)]


def remove_new_database(db_path: str, existed: bool) -> None:
    """After a failed start: remove the database this run created, so a typo or a busy port
    leaves no stray empty site behind. A database that existed before is never touched."""
    if existed:
        return
    for path in database_files(db_path):
        try:
            os.remove(path)
        except OSError:
            pass


def fail(message: str, code: int = EXIT_FAILED) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)


#: Headers of a plain-string table whose cells mean nothing split (a serial, a time, a state):
#: never wrapped, and kept longer than the other columns.
WHOLE_HEADERS = frozenset({"SN", "Device", "State", "Time", "Queued", "Sent / ended", "Requested", "Received",
                           "Reported", "Expires", "ID", "UserID", "Key", "Endpoint"})


def table(title: str | None, columns: Iterable[str | Column], rows: Iterable[Iterable[Any]], *,
          wide: bool = False) -> FitTable:
    """A table fitted to the terminal. Declared `Column`s are taken as they are; for plain header
    strings the first column is kept whole (an SN, an ID, a key), a field/value table keeps both,
    serials, times and states (WHOLE_HEADERS) never wrap, and the other columns wrap at spaces
    and give way, rightmost first, when short of room."""
    names = list(columns)
    cols = [c if isinstance(c, Column)
            else Column(c, KEEP, no_wrap=True) if i == 0
            else Column(c, KEEP) if len(names) <= 2
            else Column(c, 5, no_wrap=True) if c in WHOLE_HEADERS
            else Column(c)
            for i, c in enumerate(names)]
    ctx = click.get_current_context(silent=True)
    has_wide = ctx is not None and any(p.name == "wide" for p in ctx.command.params)
    return FitTable(cols, (tuple(r) for r in rows), title=title, wide=wide,
                    show_all="--wide shows all" if has_wide else "a wider terminal or a pipe shows all")


def wide_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--wide", is_flag=True,
                        help="Show every column (by default the least useful ones give way on a narrow "
                             "terminal; a pipe or a file always gets every column).")(func)


def emit(*renderables: RenderableType, wide: bool = False) -> None:
    """Print to the terminal at its width, or to a pipe or a file at the output's natural width
    (a table is not squeezed to 80 columns in a log, a ticket or `| grep`). `wide` (--wide):
    the natural width on a terminal too, every column whole, as wide as it takes."""
    if console.is_terminal and not wide:
        console.print(*renderables)
        return
    unbounded = console.options.update_width(10 ** 6)
    width = max((Measurement.get(console, unbounded, r).maximum for r in renderables), default=1)
    # A console of exactly that width (print's own width= cannot exceed the console's), keeping
    # colours on a terminal (--wide) and none in a file.
    Console(file=console.file, width=max(width, 1), force_terminal=console.is_terminal,
            color_system=console.color_system, highlight=False).print(*renderables)  # type: ignore[arg-type]


def fmt_time(ts: float | int | None) -> str:
    """Unix seconds in the operator's local time zone (protocol.md 5.9)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _short(number: float) -> str:
    """1 decimal, without a trailing ".0": 0.3, 3.2, 24."""
    return f"{number:.1f}".rstrip("0").rstrip(".")


def fmt_duration(seconds: float | None) -> str:
    """A span of time in one unit, for delays, lifetimes and ages: 0.3s, 45s, 5m, 1.5h, 3d."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{_short(seconds)}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{_short(seconds / 3600)}h"
    return f"{seconds / 86400:.0f}d"


def fmt_age(seconds: float | None) -> str:
    """How long ago: `fmt_duration` of whole seconds, or "never"."""
    if seconds is None:
        return "never"
    return f"{fmt_duration(max(0, round(seconds)))} ago"


def no_device(sn: str) -> str:
    """The one line for a serial the database does not know."""
    return f"no device {sn}; `facectl device list` shows the known ones"


def require_device(store: Any, sn: str) -> dict[str, Any]:
    """The device's row for a serial the operator typed (in any case: `device_sn`), or stop with
    `no_device` (exit 1). Callers use the row's `sn`, the device's own spelling."""
    row = store.devices.get(device_sn(store, sn))
    if row is None:
        fail(no_device(sn))
    return row


@contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by Ctrl-C or SIGTERM while the block runs on the current event loop, so a
    long run (`demo`, `sim`) can end and still report. Where signals cannot be handled (not
    the main thread, as in tests or when embedded), the event is only set by its owner."""
    import asyncio  # only the long-running commands pay for it
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        yield stop
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
