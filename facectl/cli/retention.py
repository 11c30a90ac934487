"""`facectl records prune`: retention the operator runs by hand (store/retention.py says what goes)."""

from __future__ import annotations

import re
import time

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from facectl.protocol.records import RECORD_KINDS

from .common import console, db_option, err_console, fail, json_option, open_store, print_json

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*$")
_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "w": 7.0, "": 1.0}


def parse_age(value: str) -> float:
    """'90d', '12w', '36h' or a bare number of days -> days."""
    m = _AGE.match(value)
    if not m:
        fail(f"--older-than takes an age like 90d, 12w or 36h; got {value!r}", 2)
        raise AssertionError
    return float(m.group(1)) * _UNIT_DAYS[m.group(2)]


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command("prune")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Received longer ago than this: 90d, 12w, 36h (a bare number is days).")
@click.option("--photos-only", is_flag=True, help="Keep the records; drop their photos (and snapshots that old).")
@click.option("--kind", type=click.Choice(RECORD_KINDS), help="Only records of this kind (snapshots and "
              "quarantine are then left alone).")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@json_option
@db_option
def prune(older_than: str, photos_only: bool, kind: str | None, dry_run: bool, as_json: bool, db_path: str) -> None:
    """Delete records (and their photos) received longer ago than AGE.

    Age counts from when the server received a record, not the device's clock. Without
    --kind, snapshots that old and closed quarantine items (replayed or dismissed) that
    old go too; open quarantine items never do. A photo file is deleted only when no other
    record, person, snapshot or queued command uses it. Safe while `facectl serve` runs:
    it works in small batches. `facectl serve --keep-records DAYS` does the same hourly.

    \b
    Examples:
      facectl records prune --older-than 90d --dry-run
      facectl records prune --older-than 90d
      facectl records prune --older-than 30d --photos-only
    """
    from facectl.store.retention import PAUSE, Pruned, Retention, cutoff_days

    days = parse_age(older_than)
    store = open_store(db_path)
    retention = Retention(store.db)
    cut = cutoff_days(days)
    plan = retention.count_records(cut, kind, photos_only)
    if kind is None:
        plan.snapshots = retention.count_snapshots(cut)
        plan.quarantine = 0 if photos_only else retention.count_quarantine(cut)
    if dry_run:
        _report(plan, as_json, days, dry_run=True)
        return
    done = Pruned()
    total = (plan.photos if photos_only else plan.records) + plan.snapshots + plan.quarantine
    progress = Progress(TextColumn("pruning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=as_json)
    with progress:
        task = progress.add_task("prune", total=total)
        steps = [lambda: retention.prune_records(cut, kind, photos_only)]
        if kind is None:
            steps.append(lambda: retention.prune_snapshots(cut))
            if not photos_only:
                steps.append(lambda: retention.prune_quarantine(cut))
        for step in steps:
            while True:
                batch = step()
                done.add(batch)
                moved = (batch.photos if photos_only else batch.records) + batch.snapshots + batch.quarantine
                if not moved:
                    break
                progress.advance(task, moved)
                time.sleep(PAUSE)  # let a running server's writers take the lock between two batches
    retention.incremental_vacuum(1 << 30)
    _report(done, as_json, days, dry_run=False)


def _report(p, as_json: bool, days: float, dry_run: bool) -> None:
    if as_json:
        print_json({"dry_run": dry_run, "older_than_days": days, **p.as_dict()})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb}: {p.records} records, {p.photos} record photos, {p.snapshots} snapshots, "
                  f"{p.quarantine} closed quarantine items; {p.files} files ({human_bytes(p.file_bytes)}) "
                  f"{'would be ' if dry_run else ''}freed")
