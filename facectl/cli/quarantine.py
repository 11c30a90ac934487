"""`facectl quarantine`: what devices sent that could not be used, with the raw bytes."""

from __future__ import annotations

from pathlib import Path

import click

from .common import console, db_option, fail, fmt_time, json_option, open_store, print_json, table


@click.group()
def quarantine() -> None:
    """Inspect uploads the server kept but could not use.

    The device was told Success 1 so its queue moves on; the raw bytes are here.

    \b
    Examples:
      facectl quarantine list
      facectl quarantine show 3 --body-to item3.bin
    """


@quarantine.command("list")
@click.option("--sn", help="Only this device.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@db_option
@json_option
def list_items(sn: str | None, limit: int, db_path: str, as_json: bool) -> None:
    """Quarantined uploads, newest first."""
    store = open_store(db_path)
    rows = store.quarantine.list(sn, limit)
    if as_json:
        print_json(rows)
    elif not rows:
        console.print("Quarantine is empty.")
    else:
        console.print(table(None, ["ID", "Received", "SN", "Endpoint", "Bytes", "Reason"], [
            (r["id"], fmt_time(r["received_at"]), r["sn"] or "?", r["endpoint"], r["size"], r["reason"])
            for r in rows
        ]))


@quarantine.command("show")
@click.argument("item_id", type=int)
@click.option("--body-to", type=click.Path(dir_okay=False, writable=True), help="Write the raw body here.")
@db_option
@json_option
def show(item_id: int, body_to: str | None, db_path: str, as_json: bool) -> None:
    """One item: why it was kept, its headers, and the start of its body."""
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
    console.print(table(f"Quarantine item {item_id}", ["Field", "Value"],
                        [(k, fmt_time(v) if k == "received_at" else v) for k, v in item.items()]))
    console.print(body[:2048].decode("utf-8", "replace"), markup=False, highlight=False)
    if body_to:
        console.print(f"raw body ({len(body)} bytes) written to {body_to}")
