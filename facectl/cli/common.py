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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

DEFAULT_DB = "facectl.db"
EXIT_FAILED = 1
EXIT_DB = 3

console = Console()
err_console = Console(stderr=True)


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db", "db_path", envvar="FACECTL_DB", default=DEFAULT_DB, show_default=True,
        type=click.Path(dir_okay=False), help="SQLite database file (env FACECTL_DB).",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def open_store(db_path: str, must_exist: bool = True):
    """Open the store, or stop with one line saying how to get a database."""
    from facectl.store import Store, StoreError

    if must_exist and db_path != ":memory:" and not os.path.exists(db_path):
        fail(f"no database at {db_path}: start `facectl serve --db {db_path}` first, "
             "or pass --db / set FACECTL_DB", EXIT_DB)
    try:
        return Store(db_path)
    except StoreError as exc:
        fail(f"cannot open database {db_path}: {exc}", EXIT_DB)


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


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    t = Table(title=title, header_style="bold", show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


def fmt_time(ts: float | int | None) -> str:
    """Unix seconds in the operator's local time zone (errata 5.9)."""
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
    """The device's row, or stop with `no_device` (exit 1)."""
    row = store.devices.get(sn)
    if row is None:
        fail(no_device(sn))
    return row
