"""`facectl quarantine`: what devices sent that could not be used, with the raw bytes, and replaying it."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from pathlib import Path

import click

from facectl.protocol.identity import DEFAULT_SN_PATTERN

from .common import (
    EXIT_FAILED,
    console,
    db_option,
    device_sn,
    emit,
    err_console,
    fail,
    fmt_time,
    json_option,
    open_store,
    print_json,
    table,
)
from .tables import KEEP, Column


@click.group()
def quarantine() -> None:
    """Inspect uploads the server kept but could not use.

    Kept for approved devices only: the device was told Success 1 so its queue
    moves on (other endpoints: the answer it got is kept too); the raw bytes are
    here, up to each device's byte budget (past it only the size and reason).
    Once the cause is fixed, `replay` runs them through the server again.
    What unknown, pending or blocked senders sent is not kept: `senders` lists
    a short sample per source address.

    \b
    Examples:
      facectl quarantine list
      facectl quarantine show 3 --body-to item3.bin
      facectl quarantine replay --all --dry-run
      facectl quarantine dismiss 3 --note "photo too large"
      facectl quarantine senders
    """


#: `quarantine list` columns; the least useful give way first on a narrow terminal.
LIST_COLUMNS = (
    Column("ID", KEEP, no_wrap=True, justify="right"), Column("Received", 6, no_wrap=True),
    Column("SN", 8, no_wrap=True), Column("Endpoint", 7, no_wrap=True), Column("Bytes", 2, justify="right"),
    Column("Reason", 9), Column("Replays", 1, justify="right"),
)


@quarantine.command("list")
@click.option("--sn", help="Only this device.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--all", "include_replayed", is_flag=True, help="Include items already replayed.")
@db_option
@json_option
def list_items(sn: str | None, limit: int, include_replayed: bool, db_path: str, as_json: bool) -> None:
    """Quarantined uploads, newest first.

    Items a replay applied have left the quarantine; --all shows them too.

    \b
    Examples:
      facectl quarantine list
      facectl quarantine list --sn FC-8190H24052799
      facectl quarantine list --all
    """
    store = open_store(db_path)
    sn = device_sn(store, sn) if sn else None
    rows = store.quarantine.list(sn, limit, include_replayed)
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("Quarantine is empty.")
    else:
        emit(table(None, LIST_COLUMNS + ((Column("Replayed", 3),) if include_replayed else ()), [
            (r["id"], fmt_time(r["received_at"]), r["sn"] or "?", r["endpoint"],
             r["size"] if r["bytes_kept"] else f"{r['size']} (not kept: budget full)", r["reason"],
             r["attempts"] or "",
             *([f"{fmt_time(r['replayed_at'])} {r['replay_result']}" if r["replayed_at"] else ""]
               if include_replayed else []))
            for r in rows
        ]))


@quarantine.command("show")
@click.argument("item_id", type=int)
@click.option("--body-to", type=click.Path(dir_okay=False, writable=True), help="Write the raw body here.")
@db_option
@json_option
def show(item_id: int, body_to: str | None, db_path: str, as_json: bool) -> None:
    """One item: why it was kept, its headers, and the start of its body.

    \b
    Example:
      facectl quarantine show 3 --body-to item3.bin
    """
    store = open_store(db_path)
    item = store.quarantine.get(item_id)
    if item is None:
        fail(f"no quarantine item {item_id}; `facectl quarantine list` shows them")
    body: bytes = item.pop("body")
    if body_to:
        Path(body_to).write_bytes(body)
    if as_json:
        item["body_preview"] = body[:2048].decode("utf-8", "replace")
        print_json(item)
        return
    emit(table(f"Quarantine item {item_id}", ["Field", "Value"],
                        [(k, fmt_time(v) if k.endswith("_at") else v) for k, v in item.items()]))
    console.print(body[:2048].decode("utf-8", "replace"), markup=False, highlight=False)
    if body_to:
        console.print(f"raw body ({len(body)} bytes) written to {body_to}")


@quarantine.command("replay")
@click.argument("item_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "replay_all", is_flag=True, help="Every item still in quarantine, oldest first.")
@click.option("--sn", help="With --all: only this device's items.")
@click.option("--dry-run", is_flag=True, help="Run them and report, but write nothing.")
@click.option("--sn-pattern", default=DEFAULT_SN_PATTERN, show_default=True, metavar="REGEX",
              help="The serial rule the server runs with (`facectl serve --sn-pattern`).")
@db_option
@json_option
def replay(item_ids: tuple[int, ...], replay_all: bool, sn: str | None, dry_run: bool, sn_pattern: str,
           db_path: str, as_json: bool) -> None:
    """Run quarantined requests again through the server's own code, once the cause is fixed.

    Each item goes through exactly what a device request goes through (decode, device
    identity, handler), in this process, while the server keeps running. Records are
    stored once: an item whose records are already stored counts as "already stored".
    An item that applies is marked replayed and leaves `quarantine list` (see --all);
    one that fails again stays, with the new reason and its replay count.

    The device must be approved now: a pending or blocked device's items fail again
    until `facectl device approve SN`. Not replayed (skipped, kept as they are):
    authorization requests, answered at the door when they arrived (deciding them
    again would store a decision the door never made), and keepalives or other
    requests that ask something at one moment (the device asks again by itself).

    Exit code 1 when any item failed again.

    \b
    Examples:
      facectl quarantine replay --all --dry-run
      facectl quarantine replay 3 7
      facectl quarantine replay --all --sn FC-8190H24052799 --json
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from facectl.server import replay as replaying
    from facectl.server.config import ServerConfig

    if bool(item_ids) == replay_all:
        fail("give item IDs or --all (`facectl quarantine list` shows them)", 2)
    if sn and not replay_all:
        fail("--sn selects among --all; with IDs, name the items", 2)
    try:
        re.compile(sn_pattern)
    except re.error as exc:
        fail(f"--sn-pattern is not a valid regular expression: {exc}", 2)
    store = open_store(db_path)
    if replay_all:
        sn = device_sn(store, sn) if sn else None
        ids = store.quarantine.open_ids(sn)
    else:
        missing = [i for i in item_ids if store.quarantine.get(i) is None]
        if missing:
            fail(f"no quarantine item {', '.join(map(str, missing))}; `facectl quarantine list --all` shows them")
        ids = list(dict.fromkeys(item_ids))
    config = ServerConfig(db=db_path, sn_pattern=sn_pattern)
    # The server code logs as it would in `facectl serve`; here each reason is in the table instead.
    server_log = logging.getLogger("facectl.server")
    quiet = logging.NullHandler()
    server_log.addHandler(quiet)
    progress = Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), console=err_console,
                        transient=True, disable=as_json or len(ids) < 2)
    try:
        with progress:
            task = progress.add_task("replaying", total=len(ids))
            outcomes = asyncio.run(replaying.replay(store, ids, config, dry_run, lambda _: progress.advance(task)))
    except sqlite3.Error as exc:
        fail(f"database error while replaying: {exc} (items done so far are recorded)")
    finally:
        server_log.removeHandler(quiet)
    counts = {result: sum(o.result == result for o in outcomes) for result in replaying.RESULTS}
    if as_json:
        print_json({"dry_run": dry_run, "summary": counts, "items": [o.as_dict() for o in outcomes]})
    elif not outcomes:
        console.print("Nothing to replay: the quarantine is empty." if not sn else f"Nothing to replay for {sn}.")
    else:
        emit(table("Dry run: nothing written" if dry_run else None,
                            ["ID", "SN", "Endpoint", "Result", "Detail"],
                            [(o.id, o.sn or "?", o.endpoint, o.result, o.detail) for o in outcomes]))
        emit(table(None, [r.capitalize() for r in counts], [list(counts.values())]))
    if counts[replaying.FAILED]:
        raise SystemExit(EXIT_FAILED)


@quarantine.command("dismiss")
@click.argument("item_ids", metavar="ID...", nargs=-1, type=int, required=True)
@click.option("--note", default="by the operator", show_default=True,
              help="Why: kept with the item (`quarantine list --all` shows it).")
@db_option
def dismiss(item_ids: tuple[int, ...], note: str, db_path: str) -> None:
    """Close items that can never apply (a photo over the limit, a test upload).

    The item is kept with its bytes and the note, and leaves `quarantine list`;
    `replay` skips it. Exit 1 when an ID is unknown or already closed.

    \b
    Example:
      facectl quarantine dismiss 3 7 --note "oversized photos, person re-enrolled"
    """
    store = open_store(db_path)
    closed = [i for i in dict.fromkeys(item_ids) if store.quarantine.dismiss(i, note)]
    others = [i for i in item_ids if i not in closed]
    if closed:
        console.print(f"dismissed {', '.join(map(str, closed))}")
    if others:
        fail(f"not open: {', '.join(map(str, others))}; `facectl quarantine list --all` shows every item")


@quarantine.command("senders")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--sample-of", metavar="ADDRESS", help="Print the kept sample of this source address.")
@db_option
@json_option
def senders(limit: int, sample_of: str | None, db_path: str, as_json: bool) -> None:
    """Refused senders: unknown, pending, blocked or unidentifiable, by source address.

    Their bodies are not kept in quarantine; per address the server counts
    requests and bytes and keeps the first 4 KB of the last body it could not
    read, to diagnose a misconfigured terminal or spot a scanner. Exit 1 when
    --sample-of names an address with no sample.

    \b
    Examples:
      facectl quarantine senders
      facectl quarantine senders --sample-of 192.168.1.50
    """
    store = open_store(db_path)
    if sample_of:
        row = store.samples.get(sample_of)
        if row is None:
            fail(f"no sample from {sample_of}; `facectl quarantine senders` lists the addresses")
        sample: bytes = row.pop("sample")
        if as_json:
            print_json({**row, "sample": sample.decode("utf-8", "replace")})
        else:
            console.print(f"{row['size']} bytes to {row['endpoint']} ({row['reason']}); first {len(sample)}:")
            console.print(sample.decode("utf-8", "replace"), markup=False, highlight=False)
        return
    rows = store.samples.list(limit)
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("No refused senders.")
    else:
        console.print(table(None, ["Address", "Last seen", "Requests", "Bytes", "SN", "Endpoint", "Reason"], [
            (r["remote_addr"], fmt_time(r["last_seen"]), r["requests"], r["bytes_received"], r["sn"] or "?",
             r["endpoint"], r["reason"]) for r in rows]))
