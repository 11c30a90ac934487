"""Remote commands under `facectl device`: restart, factory reset, snapshot, records, enrolment, firmware, screen.

They join the `device` group of cli/devices.py on import; the entry point loads the group from here. Each queues one
RemoteCommand field for the device's next poll; these live 24 h unless `--ttl`
says otherwise. Firmware and screen images are stored in the database by
content and offered to the device as absolute, signed URLs with their
upper-case MD5 (protocol.md 5.6, 5.7) when the command is sent.
"""

from __future__ import annotations

from pathlib import Path

import click

from facectl.protocol import commands as command_rules

from . import devices
from .commands import Duration, outcome, queue, queue_and_report, ttl_option, wait
from .common import console, db_option, fail, fmt_duration, open_store

#: Screen image types the devices show; anything else is refused before it is queued.
_IMAGE_MAGIC = {b"\xff\xd8\xff": (".jpg", "image/jpeg"), b"\x89PNG\r\n\x1a\n": (".png", "image/png"),
                b"BM": (".bmp", "image/bmp")}


def _simple(name: str, field: str, help_text: str, confirm: str | None = None) -> click.Command:
    example = f"facectl device {name} FC-8190H24052799" + (" --yes" if confirm else " --wait")
    @click.command(name, help=f"{help_text} Expires after 24 h by default.\n\n\b\nExample:\n  {example}")
    @click.argument("sn")
    @ttl_option("24h")
    @click.option("--wait", is_flag=True, help="Block until the device has taken the command or it expired.")
    @click.option("--yes", is_flag=True, hidden=confirm is None, help="Do not ask for confirmation.")
    @db_option
    def command(sn: str, ttl: float | None, wait: bool, yes: bool, db_path: str) -> None:
        store = open_store(db_path)
        if confirm and not yes:
            click.confirm(confirm.format(sn=sn), abort=True)
        queue_and_report(store, (sn,), field, 1, ttl, wait)

    return command


restart = _simple("restart", command_rules.RESTART, "Restart the device (Restart).")
factory_reset = _simple(
    "factory-reset", command_rules.RECOVER,
    "Reset the device to factory settings (Recover): it forgets its settings, people and records; "
    "the server then sends it its people again and asks for its (factory) settings.",
    confirm="Factory-reset {sn}? It loses its settings, people and records, and must be set up again")
clear_records = _simple(
    "clear-records", command_rules.CLEAR_RECORD,
    "Delete every record stored on the device (ClearRecord); records already uploaded stay here.",
    confirm="Delete all records stored on {sn}? Records not yet uploaded are lost")
repost_records = _simple(
    "repost-records", command_rules.REPOST_RECORD,
    "Make the device upload all its records again (RepostRecord); duplicates are stored once.")


@click.command("snapshot")
@click.argument("sn")
@ttl_option("24h")
@click.option("--wait", "wait_for", is_flag=True, help="Wait for the picture (UploadSnapshoot).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="With --wait: write the JPEG here.")
@click.option("--timeout", type=Duration(), default=60.0, show_default="60s",
              help="With --wait: how long to wait for the picture.")
@db_option
def snapshot(sn: str, ttl: float | None, wait_for: bool, output: str | None, timeout: float, db_path: str) -> None:
    """Take a camera snapshot (Snapshoot); the device uploads it with UploadSnapshoot.

    \b
    Example:
      facectl device snapshot FC-8190H24052799 --wait -o door.jpg
    """
    if output and not wait_for:
        fail("-o/--output needs --wait", 2)
    store = open_store(db_path)
    row = queue(store, sn, command_rules.SNAPSHOT, 1, ttl)
    if not wait_for:
        console.print(f"The picture arrives after the device's next keepalive; `facectl commands show {row['id']}`.")
        return
    final = wait(store, [row["id"]], timeout=timeout, until=lambda r: r["state"] in ("done", "failed"))[row["id"]]
    if final["state"] != "done":
        _, line = outcome(final)
        if final["state"] in ("queued", "sent"):
            line = (f"#{row['id']} is {final['state']}: no picture within {fmt_duration(timeout)}; "
                    f"`facectl commands show {row['id']}` follows it")
        fail(f"{sn}: {line}")
    photo = next((f["detail"].get("photo") for f in store.commands.followups(row["id"])), None)
    found = store.files.get(photo) if photo else None
    if found is None:
        fail(f"{sn}: the snapshot of #{row['id']} is missing from the database")
    delay = fmt_duration(final["finished_at"] - final["created_at"])
    if output:
        Path(output).write_bytes(found[1])
        console.print(f"{sn}: snapshot after {delay}, {len(found[1])} bytes written to {output}")
    else:
        console.print(f"{sn}: snapshot after {delay} ({len(found[1])} bytes); add -o FILE to save it")


@click.command("enroll")
@click.argument("sn")
@click.argument("user_id")
@click.option("--credential", required=True, type=click.Choice(list(command_rules.CREDENTIALS)),
              help="What to enrol at the device.")
@click.option("--index", type=int, help="Fingerprint slot 0-9, or palm vein slot 1-2.")
@ttl_option("24h")
@db_option
def enroll(sn: str, user_id: str, credential: str, index: int | None, ttl: float | None, db_path: str) -> None:
    """Open the device's enrolment screen for USER_ID (RegisterIdentifyTicket).

    The person presents the credential at the device, which reports the result
    (RegisterIdentifyTicketResult, linked to this command) and pushes the
    updated person. The user must already be on the device.

    \b
    Examples:
      facectl device enroll FC-8190H24052799 1001 --credential face
      facectl device enroll FC-8190H24052799 1001 --credential fingerprint --index 0
    """
    try:
        field, value = command_rules.register_ticket(credential, user_id, index)
    except command_rules.CommandError as exc:
        fail(str(exc), 2)
    queue(open_store(db_path), sn, field, value, ttl)


@click.command("upgrade")
@click.argument("sn")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--version", "version", required=True, help="The firmware version the file holds (SoftwareVer).")
@ttl_option("24h")
@db_option
def upgrade(sn: str, file: str, version: str, ttl: float | None, db_path: str) -> None:
    """Offer FILE as new firmware (PushSoftware); the device downloads, checks the MD5, and restarts.

    \b
    Example:
      facectl device upgrade FC-8190H24052799 fw-8.47.bin --version 8.47
    """
    data = Path(file).read_bytes()
    if not data:
        fail(f"{file} is empty")
    store = open_store(db_path)
    stored = store.files.put(data, "application/octet-stream")
    field, value = command_rules.push_software(stored.sha256, version, Path(file).suffix or ".bin")
    queue(store, sn, field, value, ttl)
    console.print(f"{file}: {stored.size} bytes, MD5 {stored.md5}")


@click.command("screen")
@click.argument("sn")
@click.option("--standby", type=click.Path(exists=True, dir_okay=False, readable=True),
              help="Image for a standby slot (with --index 1-8).")
@click.option("--index", type=click.IntRange(1, 8), help="Standby slot for --standby.")
@click.option("--boot", type=click.Path(exists=True, dir_okay=False, readable=True), help="The boot image.")
@click.option("--delete", "delete", type=click.IntRange(1, 8), metavar="INDEX", help="Remove a standby image.")
@ttl_option("24h")
@db_option
def screen(sn: str, standby: str | None, index: int | None, boot: str | None, delete: int | None,
           ttl: float | None, db_path: str) -> None:
    """Set or remove the device's standby images (8 slots) or its boot image (PushSystemFile).

    \b
    Examples:
      facectl device screen FC-8190H24052799 --standby lobby.jpg --index 1
      facectl device screen FC-8190H24052799 --boot logo.jpg
      facectl device screen FC-8190H24052799 --delete 1
    """
    chosen = [name for name, given in (("--standby", standby), ("--boot", boot), ("--delete", delete))
              if given is not None]
    if len(chosen) != 1:
        fail("give exactly one of --standby FILE --index N, --boot FILE, --delete INDEX", 2)
    if (standby is None) != (index is None):
        fail("--standby and --index go together", 2)
    store = open_store(db_path)
    if delete is not None:
        field, value = command_rules.system_file(command_rules.FILE_TYPE_STANDBY, delete, None)
    else:
        path = Path(standby or boot or "")
        data = path.read_bytes()
        kind = next((v for magic, v in _IMAGE_MAGIC.items() if data.startswith(magic)), None)
        if kind is None:
            fail(f"{path} is not a JPEG, PNG or BMP image")
        stored = store.files.put(data, kind[1])
        file_type, slot = ((command_rules.FILE_TYPE_STANDBY, index) if standby else (command_rules.FILE_TYPE_BOOT,
                                                                             command_rules.BOOT_IMAGE_INDEX))
        field, value = command_rules.system_file(file_type, slot, stored.sha256, kind[0])
    queue(store, sn, field, value, ttl)


#: The whole `facectl device` group (cli/devices.py plus these): what the entry point loads.
device = devices.device
for _command in (restart, factory_reset, snapshot, clear_records, repost_records, enroll, upgrade, screen):
    device.add_command(_command)
