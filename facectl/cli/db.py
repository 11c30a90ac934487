"""`facectl db` (check, vacuum) and `facectl backup`: keeping the database healthy for years."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import asdict
from datetime import datetime

import click

from .common import (
    EXIT_FAILED,
    console,
    db_option,
    emit,
    err_console,
    fail,
    fmt_time,
    json_option,
    open_store,
    print_json,
    table,
)
from .retention import human_bytes


@click.group()
def db() -> None:
    """Check the database and hand freed space back to the file system.

    \b
    Examples:
      facectl db check
      facectl db check --json
      facectl db vacuum            # once, server stopped, when `db check` advises it
    """


@db.command("check")
@click.option("--quick", is_flag=True, help="PRAGMA quick_check instead of the full integrity check (faster on "
              "large files).")
@json_option
@db_option
def check(quick: bool, as_json: bool, db_path: str) -> None:
    """Schema version, integrity, size per table, photo bytes, record dates, retention, and what to do.

    Exit code 1 when the integrity check fails. The retention shown is what the last
    `facectl serve` started with (--keep-records, --keep-photos).

    \b
    Examples:
      facectl db check
      facectl db check --quick --json | jq .problems
    """
    from facectl.server.maintenance import RETENTION_KEY
    from facectl.store.health import check as run_check

    store = open_store(db_path)
    with err_console.status("checking the database…", spinner="dots") if not as_json else nullcontext():
        h = run_check(store.db, db_path, quick, store.meta.get_json(RETENTION_KEY))
    if as_json:
        print_json({**h.facts, "tables": h.tables, "problems": [asdict(p) for p in h.problems], "ok": h.ok})
    else:
        _show(h)
    if not h.ok:
        raise SystemExit(EXIT_FAILED)


def _show(h) -> None:
    f = h.facts
    if f["integrity"] != "ok":
        emit(table(None, ["", ""], [("Database", f["path"]), ("Schema version", f["schema_version"]),
                                             ("Integrity", "DAMAGED: " + "; ".join(f["integrity"][:3]))]))
        for p in h.problems:
            console.print(f"[red]{p.severity}:[/] {p.what}: {p.action}", highlight=False)
        return
    ret = f["retention"]
    if ret and (ret.get("keep_records_days") or ret.get("keep_photos_days")):
        retention = (f"records {ret.get('keep_records_days') or 'kept'} days, photos "
                     f"{ret.get('keep_photos_days') or 'kept'} days (serve started {fmt_time(ret.get('since'))})")
    else:
        retention = "none: everything is kept" + ("" if ret else " (no `facectl serve` has run on it yet)")
    rows = [
        ("Database", f["path"]),
        ("Schema version", f"{f['schema_version']} (this facectl: {f['code_schema_version']})"),
        ("Integrity", "ok" if f["integrity"] == "ok" else "DAMAGED: " + "; ".join(f["integrity"][:3])),
        ("File size", f"{human_bytes(f['file_bytes'])} (free inside: {human_bytes(f['free_bytes'])}, "
                      f"WAL {human_bytes(f['wal_bytes'])})"),
        ("Auto-vacuum", f["auto_vacuum"]),
        ("Files", f"{f['files']} ({human_bytes(f['file_blob_bytes'])}; photos {human_bytes(f['photo_bytes'])}; "
                  f"unused {f['orphan_files']})"),
        ("Records", f"{f['records']} ({f['records_with_photo']} with a photo)"),
        ("Oldest / newest", f"{fmt_time(f['oldest_received'])} / {fmt_time(f['newest_received'])} (received)"),
        ("Retention", retention),
    ]
    emit(table(None, ["", ""], rows))
    exact = "" if f["table_sizes_exact"] else " (estimated: this SQLite has no dbstat)"
    emit(table(f"Size per table{exact}", ["Table", "Rows", "Size"],
                        [(t["table"], t["rows"], human_bytes(t["bytes"]))
                         for t in h.tables if t["rows"] or t["bytes"]]))
    if not h.problems:
        console.print("[green]No problems found.[/]")
    for p in h.problems:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"[{colour}]{p.severity}:[/] {p.what}: {p.action}", highlight=False)


@db.command("vacuum")
@json_option
@db_option
def vacuum(as_json: bool, db_path: str) -> None:
    """Free unused files and hand the free space back to the file system.

    On a database made before incremental vacuum existed, the first run converts it
    (a full VACUUM: it rewrites the file, needs free disk as large as the database, and
    blocks writers meanwhile, so stop `facectl serve` first). After that it is quick and
    `facectl serve` does the same every hour by itself.

    \b
    Examples:
      facectl db vacuum
      facectl db vacuum --json
    """
    from facectl.store.retention import Retention

    store = open_store(db_path)
    r = Retention(store.db)
    before = os.path.getsize(db_path)
    start = time.monotonic()
    done = r.purge_removed_people()
    after: str | None = ""
    while after is not None:
        after, freed = r.sweep_files(after)
        done.add(freed)
    converted = store.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2
    with err_console.status("vacuuming…", spinner="dots") if not as_json else nullcontext():
        if converted:
            store.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            try:
                store.db.execute("VACUUM")
            except Exception as exc:  # busy (the server is writing) or the disk is full
                fail(f"VACUUM failed: {exc}; stop `facectl serve` and make sure the disk has free space as large "
                     "as the database, then run it again")
        else:
            r.incremental_vacuum(1 << 30)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = os.path.getsize(db_path)
    report = {**done.as_dict(), "converted": converted, "bytes_before": before, "bytes_after": size,
              "seconds": round(time.monotonic() - start, 3)}
    if as_json:
        print_json(report)
        return
    console.print(f"{'converted to incremental auto-vacuum; ' if converted else ''}freed {done.files} unused files; "
                  f"file {human_bytes(before)} -> {human_bytes(size)} in {report['seconds']} s")


@click.command("backup")
@click.argument("dest", type=click.Path())
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@json_option
@db_option
def backup(dest: str, force: bool, as_json: bool, db_path: str) -> None:
    """Copy the database to DEST while the server runs, check the copy, print its size and time.

    DEST may be a directory: the copy is then named facectl-YYYYMMDD-HHMMSS.db in it. To
    restore, stop `facectl serve`, copy the backup over the database file (removing any
    -wal/-shm beside it) and start the server again; devices resend what came after it.

    \b
    Examples:
      facectl backup /var/backups/facectl/
      facectl backup site-2026-12-04.db --json
    """
    from facectl.store import StoreError
    from facectl.store.backup import backup as run_backup

    open_store(db_path).close()  # a clear error for a missing or newer database; migrates an old one
    if os.path.isdir(dest):
        dest = os.path.join(dest, datetime.now().strftime("facectl-%Y%m%d-%H%M%S.db"))
    if os.path.exists(dest) and not force:
        fail(f"{dest} exists: choose another name, or --force to replace it")
    try:
        with err_console.status(f"copying {db_path}…", spinner="dots") if not as_json else nullcontext():
            result = run_backup(db_path, dest)
    except (StoreError, OSError) as exc:
        fail(f"{exc}; check the destination's free space and permissions")
        return
    if as_json:
        print_json(asdict(result))
        return
    console.print(f"backup {result.path}: {human_bytes(result.bytes)} in {result.seconds:.1f} s, integrity ok, "
                  f"schema version {result.schema_version}, {result.records} records")
