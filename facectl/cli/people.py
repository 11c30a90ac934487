"""`facectl people`: the people devices should hold, and how far each device has got.

Every command changes *desired state* only; devices pick the work up at their next
keepalive (AddPeople / DeletePeople) and delivery converges by itself.

Decisions:
- The CSV format (import and export) uses the long option names as columns, so
  `--id-card` is the column `id_card`. A column left out of the file leaves that field
  unchanged for existing people; an empty cell clears a text field and resets a number to
  its default; an empty `photo` / `face_feature` cell leaves the file unchanged; `devices`
  is a list of SNs, empty or `*` for every approved device.
- `photo` and `face_feature` cells are paths relative to `--photos DIR` (default: the
  directory of the CSV file). Export writes photos and feature files into
  `<csv dir>/photos/` (or `--photos DIR`) and names them in the cells, so an export can be
  imported again as it is.
- Import checks every row first and reports each bad row with its line number and
  reason, then imports the good rows in chunks (a running server is never held up for
  long); it exits 1 when any row was bad.
- `sync` with no SN and no --all is refused for --full and --wipe (they are heavy);
  plain `sync` without SNs reconciles every approved device.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import click

from facectl.protocol import commands as command_rules
from facectl.protocol import people as people_rules
from facectl.protocol.codes import ACCESS_TYPES, PUSH_TYPES
from facectl.store.people import ALL, PeopleError, PersonInput

from .commands import Duration, queue, ttl_option, wait
from .common import (
    console,
    db_option,
    device_sn,
    emit,
    err_console,
    fail,
    fmt_duration,
    fmt_time,
    json_option,
    open_store,
    print_json,
    require_device,
    table,
    wide_option,
)
from .tables import KEEP, Column

#: CSV column / option name -> wire field. The CLI's options are these with dashes.
OPTION_FIELDS: dict[str, str] = {
    "name": "Name",
    "code": "Code",
    "job": "Job",
    "department": "Department",
    "id_card": "IdentityCard",
    "attachment": "Attachment",
    "card": "CardNum",
    "password": "Password",
    "qrcode": "QRCode",
    "access": "AccessType",
    "expires": "ExpirationDate",
    "open_times": "OpenTimes",
    "timegroup": "Timegroup",
    "holidays": "Holidays",
    "elevators": "Elevators",
    "keep_open": "KeepOpen",
}
FILE_COLUMNS = ("photo", "face_feature")
CSV_COLUMNS: tuple[str, ...] = ("user_id", *OPTION_FIELDS, *FILE_COLUMNS, "devices")
#: People per chunk written by import (one short transaction each).
IMPORT_CHUNK = 200


@click.group()
def people() -> None:
    """Add, change and remove people; follow their delivery to devices.

    \b
    Examples:
      facectl people add 1001 --name "张三" --card 12345678 --photo zhang.jpg
      facectl people update 1001 --expires 2026-12-31 --device FC-8190H24052799
      facectl people import staff.csv --photos ./photos
      facectl people status
      facectl people sync --all --dry-run

    People go to every approved device unless given --device; devices fetch them at
    their next keepalive.
    """


# --- add / update ------------------------------------------------------------------------

def _person_options(update: bool):  # noqa: ANN202 - click decorator factory
    def decorate(func: Any) -> Any:
        opts = [
            click.option("--name", help="Name (at most 63 UTF-8 bytes: 21 CJK characters)."),
            click.option("--code", help="Staff number (at most 63 bytes)."),
            click.option("--job", help="Job title (at most 63 bytes)."),
            click.option("--department", help="Department (at most 63 bytes)."),
            click.option("--id-card", help="Identity card number (at most 63 bytes)."),
            click.option("--attachment", help="Other information (at most 199 bytes)."),
            click.option("--card", help="Card number (digits, up to 18446744073709551615). A QR code "
                                        "is matched against the card number too."),
            click.option("--password", help="PIN: 4 to 8 digits."),
            click.option("--qrcode", help="QR code content (at most 127 bytes)."),
            click.option("--photo", type=click.Path(exists=True, dir_okay=False), help="JPEG photo, at most 400 KB."),
            click.option("--face-feature", type=click.Path(exists=True, dir_okay=False),
                         help="Face feature file (base64 text, or binary to be encoded)."),
            click.option("--access", type=click.Choice([c.en for c in ACCESS_TYPES]), help="Role."),
            click.option("--expires", metavar="DATE",
                         help="Access ends: 2026-12-31 (end of that day, local time), 2026-12-31T18:00, "
                              "unix seconds, or never. Latest 2099-12-31."),
            click.option("--open-times", type=int, metavar="N", help="Entries allowed: 0-65535 (65535 = no limit)."),
            click.option("--timegroup", type=int, metavar="N", help="Time group 1-64 (0 = restricted)."),
            click.option("--holidays", metavar="LIST", help="Holiday numbers that apply, e.g. 1,2,3; * for all."),
            click.option("--elevators", metavar="LIST", help="Elevator ports allowed, e.g. 1,2,3."),
            click.option("--keep-open/--no-keep-open", default=None, help="Card that holds the door open."),
            click.option("--device", "devices", multiple=True, metavar="SN",
                         help="Only these devices (repeatable). Default: every approved device."),
        ]
        if update:
            opts += [
                click.option("--all-devices", is_flag=True, help="Back to every approved device."),
                click.option("--no-photo", is_flag=True, help="Remove the photo."),
                click.option("--no-face-feature", is_flag=True, help="Remove the face feature."),
            ]
        for opt in reversed(opts):
            func = opt(func)
        return func
    return decorate


def _user_id(text: str) -> int:
    try:
        return people_rules.check_user_id(text)
    except people_rules.PersonError as exc:
        fail(str(exc), 2)
        raise


def _read(path: str | Path, what: str, shown: str | None = None) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PeopleError(f"cannot read {what} {shown or path}: {exc.strerror or exc}") from None


def _item_from_options(user_id: int, opts: dict[str, Any]) -> PersonInput:
    values: dict[str, Any] = {}
    for option, wire in OPTION_FIELDS.items():
        value = opts.get(option)
        if value is None:
            continue
        if option == "keep_open":
            value = int(value)
        values[wire] = value
    item = PersonInput(user_id, values)
    if opts.get("photo"):
        item.photo = _read(opts["photo"], "photo")
    elif opts.get("no_photo"):
        item.photo = None
    if opts.get("face_feature"):
        item.face_feature = _read(opts["face_feature"], "face feature")
    elif opts.get("no_face_feature"):
        item.face_feature = None
    if opts.get("all_devices"):
        if opts.get("devices"):
            fail("--all-devices and --device exclude each other", 2)
        item.scope = ALL
    elif opts.get("devices"):
        item.scope = list(opts["devices"])
    return item


def _save(store: Any, item: PersonInput, mode: str) -> Any:
    _known_serials(store, item)
    if expired := _expired_on_arrival(item):
        err_console.print(f"[yellow]warning:[/] {item.user_id}: {expired}; saved anyway, but no door opens for them "
                          "until --expires changes",
                          highlight=False)
    try:
        return store.people.save_many([item], mode=mode)[0]
    except (people_rules.PersonError, PeopleError) as exc:
        fail(str(exc))


def _where_it_goes(store: Any, user_id: int) -> str:
    rows = [r for r in store.people.deliveries(user_id) if r["want"] is not None]
    if not rows:
        return "no device wants this person yet (no approved device in scope)"
    return f"goes to {len(rows)} device(s) at their next keepalive: {', '.join(r['sn'] for r in rows)}"


@people.command("add")
@click.argument("user_id")
@_person_options(update=False)
@db_option
def add(user_id: str, db_path: str, **opts: Any) -> None:
    """Add a person (USER_ID: 1-4294967295). Unset fields get the device defaults.

    \b
    Examples:
      facectl people add 1001 --name "张三" --card 3801234567 --photo examples/photos/1001.jpg
      facectl people add 1006 --name Visitor --expires 2026-12-31 --device FC-8190H24052799
    """
    store = open_store(db_path)
    uid = _user_id(user_id)
    try:
        item = _item_from_options(uid, opts)
    except PeopleError as exc:
        fail(str(exc))
    _save(store, item, "add")
    person = store.people.get(uid)
    note = f" (photo taken from {person['photo_source']}'s report)" if person["photo_source"] not in (None,
                                                                                                   "operator") else ""
    console.print(f"{uid}: added{note}; {_where_it_goes(store, uid)}")


@people.command("update")
@click.argument("user_id")
@_person_options(update=True)
@db_option
def update(user_id: str, db_path: str, **opts: Any) -> None:
    """Change a person: only the options given change. Biometrics enrolled at devices are kept.

    \b
    Examples:
      facectl people update 1001 --department 研发部 --photo new.jpg
      facectl people update 1003 --all-devices
    """
    store = open_store(db_path)
    uid = _user_id(user_id)
    try:
        item = _item_from_options(uid, opts)
    except PeopleError as exc:
        fail(str(exc))
    result = _save(store, item, "update")
    if not result.changed and item.scope is None:
        console.print(f"{uid}: unchanged")
        return
    console.print(f"{uid}: updated; {_where_it_goes(store, uid)}")


@people.command("rm")
@click.argument("user_ids", nargs=-1, metavar="USER_ID...")
@click.option("--all", "everyone", is_flag=True, help="Remove every person.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation with --all.")
@db_option
def rm(user_ids: tuple[str, ...], everyone: bool, yes: bool, db_path: str) -> None:
    """Remove people; devices delete them at their next keepalive.

    A USER_ID the server does not know but a device reported holding (see `people diff`)
    is deleted from those devices.

    \b
    Examples:
      facectl people rm 1004 1005
      facectl people rm --all --yes
    """
    store = open_store(db_path)
    if everyone:
        if user_ids:
            fail("give USER_IDs or --all, not both", 2)
        ids = store.people.all_ids()
        if not yes:
            click.confirm(f"Remove all {len(ids)} people from the server and every device?", abort=True)
    elif not user_ids:
        fail("give the USER_IDs to remove (or --all)", 2)
    else:
        ids = [_user_id(u) for u in user_ids]
    removed, scheduled, unknown = store.people.remove(ids)
    if removed:
        console.print(f"removed {len(removed)} " + ("people" if len(removed) != 1 else f"person ({removed[0]})")
                      + "; devices delete them at their next keepalive")
    for uid in scheduled:
        console.print(f"{uid}: not a known person; deleted from the devices that reported holding it")
    if unknown:
        fail(f"no person {', '.join(map(str, unknown))}; `facectl people list` shows who is known")


# --- list / show ---------------------------------------------------------------------------

def _expires(value: int | None) -> str:
    return fmt_time(value) if value else ""


def _scope(scope: Any) -> str:
    return "all" if scope == ALL else ", ".join(scope)


@people.command("list")
@click.option("--search", metavar="TEXT", help="Match name, code, card, department or user id.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0), help="0 = everyone.")
@click.option("--offset", default=0, type=click.IntRange(0))
@db_option
@json_option
def list_people(search: str | None, limit: int, offset: int, db_path: str, as_json: bool) -> None:
    """People with their delivery: devices holding the current version / wanting it.

    \b
    Examples:
      facectl people list --search 张
      facectl people list --limit 0 --json > people.json
    """
    store = open_store(db_path)
    rows = store.people.list(search, limit, offset)
    if as_json:
        print_json(rows)
        return
    total = store.people.count()
    if not rows:
        console.print("No people match." if total else "No people yet: `facectl people add USER_ID --name ...` "
                      "or `facectl people import FILE.csv`.")
        return
    emit(table(None, ["UserID", "Name", "Code", "Department", "Card", "Access", "Expires", "Photo",
                               "Devices", "Delivered", "Failed"], [
        (r["user_id"], r["fields"]["Name"], r["fields"]["Code"], r["fields"]["Department"],
         r["fields"]["CardNum"], ACCESS_TYPES.label(r["fields"]["AccessType"] or 0),
         _expires(r["fields"]["ExpirationDate"]), "yes" if r["photo"] else "", _scope(r["scope"]),
         f"{r['delivery']['delivered']}/{r['delivery']['wanted']}", r["delivery"]["failed"] or "")
        for r in rows
    ]))
    if len(rows) < total and (limit and len(rows) == limit):
        console.print(f"showing {offset + 1}-{offset + len(rows)} of {total}; --limit 0 shows everyone")


@people.command("show")
@click.argument("user_id")
@db_option
@json_option
def show(user_id: str, db_path: str, as_json: bool) -> None:
    """One person: fields, photo, biometrics, scope, and the delivery state on each device.

    \b
    Example:
      facectl people show 1001
    """
    store = open_store(db_path)
    uid = _user_id(user_id)
    person = store.people.get(uid)
    deliveries = store.people.deliveries(uid)
    enrolments = store.people.enrolment_results(user_id=uid, limit=20)
    if person is None and not deliveries and not enrolments:
        fail(f"no person {uid}; `facectl people list` shows who is known")
    if as_json:
        print_json({"person": person, "deliveries": deliveries, "enrolments": enrolments,
                    "reports": store.people.reports(user_id=uid)})
        return
    if person is None:
        console.print(f"{uid} is not a known person, but devices reported it (see `facectl people diff SN`).")
    else:
        facts: list[tuple[str, Any]] = [("UserID", uid), ("Version", person["version"]),
                                        ("Devices", _scope(person["scope"]))]
        for wire, value in person["fields"].items():
            if value in (None, ""):
                continue
            if wire == "AccessType":
                value = ACCESS_TYPES.label(value)
            elif wire == "ExpirationDate":
                value = _expires(value) or "never"
            facts.append((wire, value))
        if person["photo"]:
            p = person["photo"]
            facts.append(("Photo", f"{p['size']} bytes, MD5 {p['md5']}"
                                   + (f", from {person['photo_source']}" if person["photo_source"] != "operator"
                                      else "")))
        for b in person["biometrics"]:
            facts.append((f"{b['kind']} {b['num']}", f"MD5 {b['md5']}, from {b['source_sn'] or 'operator'} "
                                                     f"{fmt_time(b['at'])}"))
        facts.append(("Updated", fmt_time(person["updated_at"])))
        emit(table(f"Person {uid}", ["Field", "Value"], facts))
    if deliveries:
        emit(table("Delivery", ["Device", "State", "Wanted", "Confirmed", "Failure",
                                             "Device reports"], [
            (d["sn"], d["state"], d["want"] if d["want"] is not None else "-",
             {None: "-", 0: "unknown version"}.get(d["have"], d["have"]),
             _failure(d), _reported(d)) for d in deliveries
        ]))
    if enrolments:
        emit(table("Enrolments", ["Time", "Device", "Result", "Command"], [
            (fmt_time(e["received_at"]), e["sn"], e["result_label"] or "", e["command_id"] or "")
            for e in enrolments
        ]))


def _failure(d: dict[str, Any]) -> str:
    if d.get("fail_code") is None and not d.get("fail_message"):
        return ""
    text = d.get("fail_label") or "no error code"
    if d.get("fail_code") is not None:
        text = f"{d['fail_code']} {text}"
    if d.get("fail_repeat"):
        text += f" (same as user {d['fail_repeat']})"
    if d.get("fail_message"):
        text += f": {d['fail_message']}"
    return text if d["state"] == "failed" else f"last: {text}"


def _reported(d: dict[str, Any]) -> str:
    if d.get("reported_present") is None:
        return ""
    what = "holds" if d["reported_present"] else "does not hold"
    return f"{what} ({PUSH_TYPES.label(d['reported_type'])}, {fmt_time(d['reported_at'])})"


# --- import / export --------------------------------------------------------------------------

class _Row:
    __slots__ = ("line", "item")

    def __init__(self, line: int, item: PersonInput) -> None:
        self.line = line
        self.item = item


def _row_item(cells: dict[str, str], base: Path, header: list[str]) -> PersonInput:
    uid = people_rules.check_user_id(cells.get("user_id", ""))
    values = {OPTION_FIELDS[c]: (cells.get(c) or "").strip() for c in header if c in OPTION_FIELDS}
    item = PersonInput(uid, values)
    photo = (cells.get("photo") or "").strip()
    if photo:
        item.photo = _read(base / photo, "photo", photo)
    feature = (cells.get("face_feature") or "").strip()
    if feature:
        item.face_feature = _read(base / feature, "face feature", feature)
    if "devices" in header:
        text = (cells.get("devices") or "").strip()
        sns = [s for s in text.replace(";", ",").replace(" ", ",").split(",") if s]
        item.scope = ALL if not sns or sns == ["*"] else sns
    return item


@people.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--photos", "photos_dir", type=click.Path(exists=True, file_okay=False),
              help="Directory the photo / face_feature cells are relative to (default: the CSV's directory).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@db_option
@json_option
def import_(csv_file: str, photos_dir: str | None, dry_run: bool, db_path: str, as_json: bool) -> None:
    """Add or update people from a CSV file (format: examples/people.csv, docs/people.md).

    Bad rows are reported with their line and reason; good rows are imported.

    \b
    Examples:
      facectl people import examples/people.csv --dry-run
      facectl people import staff.csv --photos ./photos
    """
    store = open_store(db_path)
    base = Path(photos_dir) if photos_dir else Path(csv_file).resolve().parent
    try:
        with open(csv_file, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            lines = []
            last = reader.line_num
            for cells in reader:
                lines.append((last + 1, cells))
                last = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {csv_file}: {exc}")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if "user_id" not in header or unknown:
        fail(f"{csv_file}: " + (f"unknown column(s) {', '.join(unknown)}; " if unknown else "no user_id column; ")
             + f"columns are {', '.join(CSV_COLUMNS)}")
    good: list[_Row] = []
    bad: list[tuple[int, str]] = []
    warnings: list[tuple[int, str]] = []
    first_line: dict[int, int] = {}
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=as_json)
    with progress:
        task = progress.add_task("checking", total=len(lines))
        for line, cells in lines:
            progress.advance(task)
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                bad.append((line, f"{len(cells)} cells, but the header has {len(header)}"))
                continue
            try:
                item = _row_item(dict(zip(header, cells, strict=True)), base, header)
                if item.user_id in first_line:
                    raise PeopleError(f"user {item.user_id} already appears on line {first_line[item.user_id]}")
                store.people.check(item)
            except (people_rules.PersonError, PeopleError) as exc:
                bad.append((line, str(exc)))
                continue
            first_line[item.user_id] = line
            _known_serials(store, item)
            if expired := _expired_on_arrival(item):
                warnings.append((line, f"user {item.user_id}: {expired}; imported anyway"))
            good.append(_Row(line, item))
        created = changed = unchanged = 0
        if not dry_run and good:
            task = progress.add_task("importing", total=len(good))
            for start in range(0, len(good), IMPORT_CHUNK):
                chunk = good[start:start + IMPORT_CHUNK]
                for _row, result in _save_chunk(store, chunk, bad):
                    created += result.created
                    changed += result.changed and not result.created
                    unchanged += not result.changed
                progress.advance(task, len(chunk))
    bad.sort()
    summary = {"rows": len(good) + len(bad), "good": len(good), "bad": len(bad), "created": created,
               "updated": changed, "unchanged": unchanged, "dry_run": dry_run,
               "errors": [{"line": line, "reason": reason} for line, reason in bad],
               "warnings": [{"line": line, "warning": text} for line, text in warnings]}
    if as_json:
        print_json(summary)
    else:
        for line, text in warnings:
            err_console.print(f"[yellow]warning:[/] {csv_file}:{line}: {text}", highlight=False)
        for line, reason in bad:
            err_console.print(f"{csv_file}:{line}: {reason}", highlight=False, soft_wrap=True)
        if dry_run:
            console.print(f"dry run: {len(good)} good row(s), {len(bad)} bad; nothing written")
        else:
            console.print(f"imported {created + changed + unchanged} of {len(good) + len(bad)} rows: {created} added, "
                          f"{changed} updated, {unchanged} unchanged; {len(bad)} bad")
    if bad:
        raise SystemExit(1)


def _expired_on_arrival(item: PersonInput, now: float | None = None) -> str:
    """Why a row's person could not open a door the moment it arrives (its expiry is past), or ""."""
    raw = item.values.get("ExpirationDate")
    if raw in (None, ""):
        return ""
    try:
        expiry = people_rules.parse_expiry(str(raw))
    except people_rules.PersonError:
        return ""  # the save says what is wrong with it
    if expiry and expiry < (now or time.time()):
        return f"expired on arrival (expires {fmt_time(expiry)})"
    return ""


def _known_serials(store: Any, item: PersonInput) -> None:
    """A scope's serials as the database spells them (typed in any case)."""
    if isinstance(item.scope, list):
        item.scope = [device_sn(store, sn) for sn in item.scope]


def _save_chunk(store: Any, chunk: list[_Row], bad: list[tuple[int, str]]) -> list[tuple[_Row, Any]]:
    """Save a chunk in one transaction; if something changed since the check, one by one."""
    try:
        return list(zip(chunk, store.people.save_many([r.item for r in chunk]), strict=True))
    except (people_rules.PersonError, PeopleError):
        out = []
        for row in chunk:
            try:
                out.append((row, store.people.save_many([row.item])[0]))
            except (people_rules.PersonError, PeopleError) as exc:
                bad.append((row.line, str(exc)))
        return out


def _export_value(option: str, value: Any) -> str:
    if value is None:
        return ""
    if option == "access":
        return ACCESS_TYPES.label(value)
    if option == "expires":
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value)) if value else ""
    return str(value)


@people.command("export")
@click.argument("csv_file", type=click.Path(dir_okay=False, writable=True))
@click.option("--photos", "photos_dir", type=click.Path(file_okay=False),
              help="Write photos and face features here (default: photos/ beside the CSV).")
@db_option
def export(csv_file: str, photos_dir: str | None, db_path: str) -> None:
    """Write everyone to a CSV file in the import format, photos and face features beside it.

    \b
    Example:
      facectl people export backup/people.csv
    """
    store = open_store(db_path)
    target = Path(csv_file)
    if photos_dir:
        files_dir, prefix = Path(photos_dir), ""
    else:
        files_dir, prefix = target.resolve().parent / "photos", "photos/"
    count = 0
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for person in store.people.iter_all():
            uid = person["user_id"]
            row = [str(uid)] + [_export_value(o, person["fields"][w]) for o, w in OPTION_FIELDS.items()]
            for data, ext in ((person["photo_data"], ".jpg"), (person["face_feature_data"], ".dat")):
                if data is None:
                    row.append("")
                    continue
                files_dir.mkdir(parents=True, exist_ok=True)
                (files_dir / f"{uid}{ext}").write_bytes(data)
                row.append(f"{prefix}{uid}{ext}")
            row.append("" if person["scope"] == ALL else " ".join(person["scope"]))
            writer.writerow(row)
            count += 1
    console.print(f"wrote {count} people to {csv_file}" + (f", files in {files_dir}" if count else ""))


# --- sync / status / diff -------------------------------------------------------------------

@people.command("sync")
@click.argument("sns", nargs=-1, metavar="[SN...]")
@click.option("--all", "all_devices", is_flag=True, help="Every approved device.")
@click.option("--full", is_flag=True, help="Re-send everyone, even people the device confirmed.")
@click.option("--wipe", is_flag=True,
              help="First clear the device (DeleteAll), also removing people the server does not know, "
                   "then send everyone it should hold.")
@click.option("--files", type=click.Choice(["url", "inline"]),
              help="How these devices get photos and features from now on: signed URLs (default) or "
                   "base64 inside the list (for devices that cannot reach the server's URLs).")
@click.option("--dry-run", is_flag=True, help="Show the plan; change nothing.")
@db_option
@json_option
def sync(sns: tuple[str, ...], all_devices: bool, full: bool, wipe: bool, files: str | None, dry_run: bool,
         db_path: str, as_json: bool) -> None:
    """Reconcile devices with the server: schedule what each lacks and what it must drop.

    Failed deliveries are tried again. Devices act at their next keepalive.

    \b
    Examples:
      facectl people sync
      facectl people sync --all --dry-run
      facectl people sync FC-8190H24052799 --full
    """
    store = open_store(db_path)
    if sns and all_devices:
        fail("give SNs or --all, not both", 2)
    if not sns:
        if (full or wipe or files) and not all_devices:
            fail("name the devices (SN ...) or give --all", 2)
        sns = tuple(store.devices.approved_sns())
        if not sns:
            fail("no approved devices; `facectl device list` shows who connected")
    sns = tuple(device_sn(store, sn) for sn in sns)
    known = {d["sn"] for d in store.devices.list()}
    missing = [sn for sn in sns if sn not in known]
    if missing:
        fail(f"unknown device(s) {', '.join(missing)}; `facectl device list` shows the known ones")
    if files and not dry_run:
        store.people.set_file_mode(sns, files == "inline")
    plans = store.people.sync(sns, full=full, wipe=wipe, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "plans": plans})
        return
    title = "Plan (dry run: nothing changed)" if dry_run else "Scheduled"
    emit(table(title, ["Device", "Wipe first", "Add", "Update", "Delete", "Retry failed",
                                    "In sync"], [
        (p["sn"], "DeleteAll" if p["wipe"] else "", p["add"], p["update"], p["delete"], p["retry_failed"],
         p["in_sync"]) for p in plans
    ]))
    if not dry_run:
        console.print("Devices pick this up at their next keepalive; `facectl people status` follows it.")


#: `people status` columns; the least useful give way first on a narrow terminal.
STATUS_COLUMNS = (
    Column("Device", KEEP, no_wrap=True), Column("Wanted", 5, justify="right"), Column("Done", 8, justify="right"),
    Column("Pending", 7, justify="right"), Column("In flight", 4, justify="right"),
    Column("Failed", 8, justify="right"), Column("Delete", 6), Column("Unknown", 3, justify="right"),
    Column("Last page", 2, no_wrap=True),
)


@people.command("status")
@click.argument("sn", required=False)
@db_option
@wide_option
@json_option
def status(sn: str | None, db_path: str, wide: bool, as_json: bool) -> None:
    """Per device: delivered, pending, in flight, failed (with reasons), to delete.

    \b
    Examples:
      facectl people status
      facectl people status FC-8190H24052799 --json
    """
    store = open_store(db_path)
    if sn:
        sn = require_device(store, sn)["sn"]
    rows = store.people.status(sn)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No devices with people yet.")
        return
    emit(table(None, STATUS_COLUMNS, [
        (r["sn"] + ("" if r["device_state"] == "approved" else f" ({r['device_state']})"), r["wanted"],
         r["delivered"], r["pending"], r["in_flight"], r["failed"],
         f"{r['to_delete']}{' + DeleteAll' if r['wipe_requested'] else ''}", r["unknown_reported"] or "",
         fmt_time(r["last_page_at"]))
        for r in rows
    ], wide=wide), wide=wide)
    for r in rows:
        for f in r["failures"]:
            code = f"{f['code']} " if f["code"] is not None else ""
            example = f" (e.g. {f['example']})" if f["example"] else ""
            retrying = f"; {f['retrying']} retried by the server" if f.get("retrying") else ""
            console.print(f"{r['sn']}: {f['count']} failed: {code}{f['label']}{example}{retrying}")
        if r.get("retrying"):
            console.print(f"{r['sn']}: next automatic retry {fmt_time(r['next_retry_at'])}")
        if r["failed"] > r.get("retrying", 0):
            console.print(f"{r['sn']}: other failed people are not retried until they change or "
                          f"`facectl people sync {r['sn']}`")
        if r["unknown_reported"]:
            console.print(f"{r['sn']}: holds {r['unknown_reported']} people the server does not know: "
                          f"`facectl people diff {r['sn']}`")


@people.command("diff")
@click.argument("sn")
@db_option
@json_option
def diff(sn: str, db_path: str, as_json: bool) -> None:
    """Where the device's own reports (PushPeople) and the server disagree.

    \b
    Example:
      facectl people diff FC-8190H24052799
    """
    store = open_store(db_path)
    sn = require_device(store, sn)["sn"]
    d = store.people.diff(sn)
    if as_json:
        print_json(d)
        return
    if not d["reported"]:
        console.print(f"{sn} has not reported any people yet. Ask it: `facectl people push {sn}` "
                      "(the device uploads everyone it holds).")
        return
    sections = [
        ("unknown", "On the device, unknown to the server (adopt: `facectl people add USER_ID ...`; "
                    "remove: `facectl people rm USER_ID`)"),
        ("must_not_hold", "On the device but not wanted there (being deleted)"),
        ("missing", "Wanted, reported not held (sent again at the next keepalive)"),
    ]
    agree = True
    for key, title in sections:
        if d[key]:
            agree = False
            emit(table(title, ["UserID", "Name", "Reported"], [
                (x["user_id"], x["name"] or "", fmt_time(x["reported_at"])) for x in d[key]]))
    if d["differs"]:
        agree = False
        rows = []
        for x in d["differs"]:
            for wire, v in x["fields"].items():
                rows.append((x["user_id"], wire, _show(v["server"]), _show(v["device"]),
                             "older than last delivery" if x["report_older_than_delivery"] else ""))
        emit(table("Fields that differ", ["UserID", "Field", "Server", "Device", "Note"], rows))
    if d["not_held"]:
        ids = ", ".join(str(x["user_id"]) for x in d["not_held"])
        console.print(f"{sn} reports not holding {ids} (PushPeople without Detail, or deleted at the device); "
                      "the server does not want it there either.", highlight=False)
    if agree:
        console.print(f"{sn}: the device's {d['reported']} reports agree with the server.")
    if d["held_without_report"]:
        console.print(f"{d['held_without_report']} people delivered to {sn} have no report from it; "
                      f"`facectl people push {sn}` asks the device for its list.")



@people.command("push")
@click.argument("sn")
@click.argument("user_ids", nargs=-1, metavar="[USER_ID...]")
@ttl_option("24h")
@click.option("--wait", "wait_s", type=Duration(), default=None, metavar="DURATION",
              help="Wait up to this long (30s, 5m) for the device's answers and show, per user, "
                   "whether it holds them.")
@db_option
def push(sn: str, user_ids: tuple[str, ...], ttl: float | None, wait_s: float | None, db_path: str) -> None:
    """Ask a device to upload people: these USER_IDs (QueryPeople), or everyone it holds (PushAllPeople).

    The device answers with PushPeople calls, which are linked to this command. A
    PushPeople without a Detail means the device does not hold that user: nothing is
    recorded as held, and a person it should hold is sent again.

    \b
    Examples:
      facectl people push FC-8190H24052799 1001 1002 --wait 60s
      facectl people push FC-8190H24052799
    """
    store = open_store(db_path)
    if user_ids:
        try:
            ids = command_rules.parse_user_ids(user_ids)
        except command_rules.CommandError as exc:
            fail(str(exc), 2)
        row = queue(store, sn, command_rules.QUERY_PEOPLE, ids, ttl)
    else:
        row = queue(store, sn, command_rules.PUSH_ALL_PEOPLE, 1, ttl)
    if wait_s is None:
        console.print(f"The device answers after its next keepalive; `facectl commands show {row['id']}` "
                      f"or `facectl people diff {sn}` shows what it said.", highlight=False)
        return
    final = wait(store, [row["id"]], timeout=wait_s, until=lambda r: r["state"] == "done")[row["id"]]
    answers = {f["detail"].get("UserID"): f["detail"] for f in store.commands.followups(row["id"])
               if f["endpoint"] == "PushPeople"}
    asked = list(row["value"]) if isinstance(row["value"], list) else sorted(answers)
    if asked:
        emit(table(f"{sn} answered", ["UserID", "Device"], [
            (uid, _held(answers.get(uid))) for uid in asked]))
    if not isinstance(row["value"], list) and final["state"] == "done":
        console.print(f"The device goes on pushing everyone it holds; `facectl people diff {sn}` compares them.",
                      highlight=False)
    if final["state"] != "done":
        fail(f"#{row['id']} is {final['state']} after {fmt_duration(wait_s)}: "
             f"{'no answer' if not answers else 'not every user answered'} yet; "
             f"`facectl commands show {row['id']}` follows it")


def _held(answer: dict[str, Any] | None) -> str:
    """One PushPeople reply in words; protocol.md 8.7: no Detail = the device does not hold the user."""
    if answer is None:
        return "no answer yet"
    if answer.get("present"):
        return "holds" + ("" if answer.get("known") else " (unknown to the server: `facectl people diff`)")
    return "does not hold (no Detail sent)" + (", sent again" if answer.get("wanted") else "")


def _show(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value

