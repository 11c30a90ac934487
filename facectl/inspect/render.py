"""Rich renderables for a decoded exchange: one compact line, or one full table.

The mitmproxy addon and `facectl inspect` print exactly these, so a capture
read offline looks like the live view. `plain()` is the same content as text
for mitmproxy's contentview (mitmweb and the console take plain strings).
Long values (base64 photos, 1000-person lists) are shortened here, never in
the Exchange itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from facectl.protocol.endpoints import KEEPALIVE_FLAGS, MESSAGE, SUCCESS
from facectl.protocol.records import identify_outcome

from .model import SEVERITIES, Exchange, FieldValue, Finding

#: Items of a list shown in full before "… n more".
MAX_ITEMS = 3
#: Longest value shown before it is cut.
MAX_VALUE = 72
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_MARK = {"error": "E", "warning": "W", "info": "I"}
_INDEX = re.compile(r"\[(\d+)\]")
_COMPACT_WIDTH = 64


def clock(ts: float) -> str:
    """Local wall-clock time with milliseconds (protocol.md 5.9: the operator's time zone)."""
    try:
        return datetime.fromtimestamp(ts).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):
        return "??:??:??.???"


def fmt_value(value: Any, limit: int = MAX_VALUE) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)} field{'' if len(value) == 1 else 's'}}}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    if value == "":
        return '""'
    if isinstance(value, str):
        text = value.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
        return text if len(text) <= limit else f"{text[: limit - 20]}… ({len(value)} chars)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fmt_duration(ex: Exchange) -> str:
    if ex.duration is None:
        return "no answer"
    ms = ex.duration * 1000
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ex.duration:.1f} s"


def status_text(ex: Exchange) -> Text:
    if ex.status is None:
        return Text("---", style="bold red")
    return Text(str(ex.status), style="green" if ex.status == 200 else "bold red")


def counts_text(ex: Exchange) -> Text:
    out = Text()
    counts = ex.counts()
    for severity in SEVERITIES:
        if counts[severity]:
            out.append(f" {SEVERITY_MARK[severity]}{counts[severity]}", style=SEVERITY_STYLE[severity])
    return out


# --- compact ---------------------------------------------------------------------------

#: Endpoint names are padded to this width, so the lines of a busy capture line up.
_NAME_WIDTH = 22
#: Below this many columns the line keeps seconds, not milliseconds, and shows durations only when slow.
_NARROW = 120
#: A duration worth showing on a narrow line.
_SLOW_SECONDS = 0.5


def compact(ex: Exchange, width: int | None = None) -> Text:
    """One line: time, SN, endpoint, status, duration, then what an operator looks for first.

    Per endpoint (`_HEADLINES`): a record's time, person, type and whether the door opened; a
    keepalive's door, lock and alarm and the flags answered; a people page's count and who.
    With `width` (a terminal's), the line fits it: the detail is cut, never the marks at the
    end (gzip, photos, findings). Without, nothing is cut (a file, a pipe).
    """
    narrow = width is not None and width < _NARROW
    line = Text()
    stamp = clock(ex.started)
    line.append(stamp[:8] if narrow else stamp, style="dim")
    line.append(" ")
    line.append(f"{ex.sn or '-':<16}", style="bold")
    line.append(" ")
    line.append(ex.name if narrow else f"{ex.name:<{_NAME_WIDTH}}", style="magenta" if ex.endpoint else "yellow")
    if not narrow or ex.status != 200:  # on a narrow line only a status that is not 200 is news
        line.append(" ")
        line.append_text(status_text(ex))
    if not narrow or ex.duration is None or ex.duration >= _SLOW_SECONDS:
        line.append(f" {fmt_duration(ex):>7}", style="dim")
    marks = Text()
    if ex.gzip and not narrow:
        marks.append(" gz", style="blue")
    if ex.photos and not narrow:
        marks.append(f" photo×{len(ex.photos)}", style="blue")
    marks.append_text(counts_text(ex))
    detail = _detail(ex, narrow)
    if width is not None:
        room = width - line.cell_len - marks.cell_len
        if room < 8:
            detail = Text("")
        elif detail.cell_len > room:
            detail.truncate(room, overflow="ellipsis")
    line.append_text(detail)
    line.append_text(marks)
    return line


def _detail(ex: Exchange, narrow: bool = False) -> Text:
    """"  what was asked → what was answered", by the endpoint's headline or the generic summary.
    A narrow line leaves out a plain "ok" answer: only a refusal is news there."""
    req, resp = _HEADLINES.get(ex.name, _generic)(ex)
    if narrow and resp == "ok" and req:
        resp = ""
    elif narrow and resp.startswith("ok: "):
        resp = resp[4:]  # the flags alone
    if ex.request.error:
        req = f"undecodable: {ex.request.error}"
    if ex.response is not None and ex.response.error:
        resp = f"undecodable: {ex.response.error}"
    if ex.response is None:
        resp = ""
    out = Text(f"  {req}" if req else " ")
    if resp:
        out.append(" → ", style="dim")
        out.append(resp)
    return out


def _generic(ex: Exchange) -> tuple[str, str]:
    return _cut(_summary(ex, "request"), _COMPACT_WIDTH), _cut(_answer(ex, generic=True), _COMPACT_WIDTH)


def _field(ex: Exchange, side: str, name: str) -> FieldValue | None:
    """The first value named `name` outside lists (top level, or inside a record's JSON part)."""
    return next((v for v in ex.fields if v.side == side and v.name == name and "[" not in v.path), None)


def _value(ex: Exchange, side: str, name: str) -> Any:
    v = _field(ex, side, name)
    return None if v is None else v.value


def _answer(ex: Exchange, generic: bool = False) -> str:
    """"ok", "ok: AddPeople, Remote", or "Success 0 (failed): message"; with `generic`, then the other fields."""
    success = _field(ex, "response", SUCCESS.name)
    if success is None:
        return _summary(ex, "response") if generic else ""
    flags = [f for f in KEEPALIVE_FLAGS if _value(ex, "response", f) == 1]
    if success.value == 1:
        text = "ok" + (f": {', '.join(flags)}" if flags else "")
    else:
        text = f"Success {success.value}" + (f" ({success.label})" if success.label else "")
        message = _value(ex, "response", MESSAGE.name)
        if message:
            text += f": {fmt_value(message, 60)}"
    if generic:
        rest = ", ".join(item for item in _summary(ex, "response").split(", ")
                         if item and not item.startswith((f"{SUCCESS.name}=", f"{MESSAGE.name}="))
                         and item.split("=")[0] not in flags)
        text += f", {rest}" if rest else ""
    return text


def _who(user_id: Any, name: Any) -> str:
    uid = "" if user_id in (None, "", "0", 0) else str(user_id)
    name = str(name or "")
    return " ".join(p for p in (uid, name) if p) or "nobody known"


def _record_time(value: Any, started: float) -> str:
    """A RecordDate as local time: HH:MM:SS on the capture's day, else with the date."""
    if not isinstance(value, int) or isinstance(value, bool):
        return "time?"
    try:
        moment = datetime.fromtimestamp(value).astimezone()
        same_day = moment.date() == datetime.fromtimestamp(started).astimezone().date()
    except (OverflowError, OSError, ValueError):
        return f"time {value}?"
    return moment.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M")


def _record(ex: Exchange) -> tuple[str, str]:
    """An identify record or an authorization request: time, who, what, granted or refused."""
    kind = _field(ex, "request", "RecordType")
    outcome = identify_outcome(kind.value) if kind is not None else ""
    what = (kind.label or f"RecordType {kind.value}") if kind is not None else "RecordType?"
    # An authorization is asked now, and its outcome is the answer; a record may be old.
    parts = [] if ex.name == AUTHORIZATION else [_record_time(_value(ex, "request", "RecordDate"), ex.started)]
    if outcome and ex.name != AUTHORIZATION:
        parts.append(outcome)
    parts += [_who(_value(ex, "request", "UserID"), _value(ex, "request", "Name")), f"({what})"]
    return " ".join(parts), _answer(ex)


def _keepalive(ex: Exchange) -> tuple[str, str]:
    """The door as the device reports it, its alarms, and the flags the server raised."""
    labels = {name: (v.label or str(v.value)) for name in ("DoorSensorStatus", "LockDoorStatus", "KeepOpenStatus",
                                                           "AlarmStatus")
              if (v := _field(ex, "request", name)) is not None}
    parts = []
    if "DoorSensorStatus" in labels:
        parts.append(f"door {labels['DoorSensorStatus']}")
    if "LockDoorStatus" in labels:
        parts.append(labels["LockDoorStatus"])
    if _value(ex, "request", "KeepOpenStatus") == 1:
        parts.append("held open")
    if _value(ex, "request", "AlarmStatus"):
        parts.append(f"ALARM {labels['AlarmStatus']}")
    return ", ".join(parts), _answer(ex)


def _people_page(ex: Exchange) -> tuple[str, str]:
    """How many people the server handed out, and who (the first few)."""
    people = _value(ex, "response", "PeopleList")
    if not isinstance(people, list):
        return _generic(ex)
    who = [_who(p.get("UserID"), p.get("Name")) for p in people[:MAX_ITEMS] if isinstance(p, dict)]
    more = f", … {len(people) - len(who)} more" if len(people) > len(who) else ""
    answer = _answer(ex)
    page = f"{len(people)} {'person' if len(people) == 1 else 'people'}" + (f": {', '.join(who)}{more}" if who else "")
    return f"Limit {_value(ex, 'request', 'Limit')}", f"{answer}; {page}" if answer != "ok" else page


def _delete_page(ex: Exchange) -> tuple[str, str]:
    ids = _value(ex, "response", "DeleteList")
    if _value(ex, "response", "DeleteAll") == 1:
        return "", "delete everyone (DeleteAll)"
    if not isinstance(ids, list):
        return _generic(ex)
    shown = ", ".join(str(i) for i in ids[:MAX_ITEMS * 2]) + (", …" if len(ids) > MAX_ITEMS * 2 else "")
    return "", f"delete {len(ids)}" + (f": {shown}" if ids else "")


def _people_result(ex: Exchange) -> tuple[str, str]:
    """How many the device took, and who failed why."""
    failed = _value(ex, "request", "FailList")
    why = []
    for i, item in enumerate(failed[:MAX_ITEMS] if isinstance(failed, list) else []):
        code = next((v for v in ex.fields if v.path.endswith(f"[{i}].ErrorCode")), None)
        uid = item.get("UserID") if isinstance(item, dict) else item
        why.append(f"{uid} {code.label or code.value}" if code is not None else str(uid))
    count = len(failed) if isinstance(failed, list) else _value(ex, "request", "FailCount") or 0
    text = f"{_value(ex, 'request', 'SuccessCount') or 0} taken, {count} failed"
    return text + (f": {', '.join(why)}" if why else ""), _answer(ex)


def _pushed_person(ex: Exchange) -> tuple[str, str]:
    kind = _field(ex, "request", "PushType")
    what = (kind.label or str(kind.value)) if kind is not None else "person"
    return f"{what} {_who(_value(ex, 'request', 'UserID'), _value(ex, 'request', 'Name'))}", _answer(ex)


def _system_records(ex: Exchange) -> tuple[str, str]:
    kind = _field(ex, "request", "RecordType")
    events = [v for v in ex.fields if v.side == "request" and v.path.startswith("Records[") and v.name == "RecordType"]
    labels = ", ".join((v.label or str(v.value)) for v in events[:MAX_ITEMS])
    more = f", … {len(events) - MAX_ITEMS} more" if len(events) > MAX_ITEMS else ""
    head = (kind.label if kind is not None and kind.label else "records")
    return f"{head} ×{len(events)}" + (f": {labels}{more}" if labels else ""), _answer(ex)


AUTHORIZATION = "RequestAuthorization"
#: Endpoint name -> (request side, answer side) of its compact line.
_HEADLINES = {
    "Keepalive": _keepalive,
    "UploadIdentifyRecord": _record,
    AUTHORIZATION: _record,
    "DownloadPeopleList": _people_page,
    "DeletePeopleList": _delete_page,
    "DownloadPeopleListResult": _people_result,
    "PushPeople": _pushed_person,
    "UploadSystemRecord": _system_records,
}


def _summary(ex: Exchange, side: str) -> str:
    """The scalar values worth a glance: non-zero, not the SN, with their labels."""
    sn_fields = set(ex.endpoint.sn_fields) if ex.endpoint is not None else set()
    items = []
    seen: set[str] = set()
    for v in ex.fields:
        if v.side != side or v.path.count(".") > 1 or "[" in v.path or v.name in seen:
            continue
        if v.name in sn_fields or (v.spec is not None and v.spec.type == "file"):
            continue
        seen.add(v.name)
        if isinstance(v.value, list):
            items.append(f"{v.name}[{len(v.value)}]")
            continue
        if v.is_container or (v.value in (0, "", None) and v.spec is not SUCCESS):
            continue
        text = f"{v.name}={_cut(fmt_value(v.value, 200), 28)}"
        if v.label:
            text += f" ({v.label})"
        items.append(text)
    return ", ".join(items)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- full ------------------------------------------------------------------------------


def full(ex: Exchange) -> Table:
    """One table: request and response fields with meanings, photos, gzip, findings."""
    title = Text()
    title.append(f"{ex.name}", style="bold magenta")
    title.append(f"  {ex.sn or '(no SN)'}  ", style="bold")
    title.append(f"{ex.method} {ex.path}  ", style="dim")
    title.append_text(status_text(ex))
    title.append(f"  {fmt_duration(ex)}  {clock(ex.started)}", style="dim")
    caption = ex.endpoint.section if ex.endpoint else (ex.v1 or ex.download or None)
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, show_lines=False,
                  title_justify="left", caption_justify="left", expand=True)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("field", overflow="fold", ratio=3)
    table.add_column("value", overflow="fold", ratio=3)
    table.add_column("meaning", style="green", overflow="fold", ratio=2)
    for side in ("request", "response"):
        msg = ex.request if side == "request" else ex.response
        if msg is None:
            table.add_row(side, "", Text(f"no answer{': ' + ex.error if ex.error else ''}",
                                         style="bold red"), "")
            continue
        rows = list(_field_rows(ex, side))
        if msg.error:
            table.add_row(side, "", Text(f"cannot decode: {msg.error}", style="red"), "")
        for i, (path, value, label) in enumerate(rows):
            table.add_row(side if i == 0 else "", path, value, label)
        if not rows and not msg.error:
            table.add_row(side, "", Text(f"{msg.size} bytes", style="dim"), "")
        table.add_section()
    for where in ex.gzip:
        table.add_row("gzip", where, "", "")
    for p in ex.photos:
        dims = f"{p.width}×{p.height} " if p.width else ""
        check = ""
        if p.declared_md5:
            check = "MD5 matches" if p.declared_md5.upper() == p.md5 else "MD5 DIFFERS"
        table.add_row("photo", p.where, f"{p.size} B {dims}{p.kind}", f"MD5 {p.md5} {check}".strip())
    if ex.gzip or ex.photos:
        table.add_section()
    for f in ex.findings:
        table.add_row(Text(f.severity, style=SEVERITY_STYLE[f.severity]), f.rule,
                      f.message, Text(f.section, style="dim"))
    return table


def _field_rows(ex: Exchange, side: str):
    """(path, value, label) rows of one side, with long lists cut after MAX_ITEMS."""
    hidden: dict[str, int] = {}
    for v in ex.fields:
        if v.side != side:
            continue
        cut = _beyond(v)
        if cut is not None:
            hidden[cut] = hidden.get(cut, 0) + 1
            continue
        yield v.path, fmt_value(v.value), v.label or ""
        if isinstance(v.value, list) and len(v.value) > MAX_ITEMS:
            yield "", f"… {len(v.value) - MAX_ITEMS} more items of {v.path} not shown", ""


def _beyond(v: FieldValue) -> str | None:
    """The list path if this value sits past MAX_ITEMS in any list, else None."""
    for m in _INDEX.finditer(v.path):
        if int(m.group(1)) >= MAX_ITEMS:
            return v.path[: m.start()]
    return None


# --- plain text (contentview) ----------------------------------------------------------


def plain(ex: Exchange, side: str = "request") -> str:
    """The decoded view of one side as text, for mitmproxy's contentview."""
    lines = [f"FCARD HTTPv2 · {ex.name} · SN {ex.sn or '-'} · {ex.method} {ex.path}"]
    if ex.endpoint is not None:
        lines.append(f"document: {ex.endpoint.section} — {ex.endpoint.title}")
    elif ex.v1:
        lines.append(f"HTTPv1: {ex.v1}")
    msg = ex.request if side == "request" else ex.response
    if msg is None:
        lines.append("(no answer yet)")
    else:
        if msg.error:
            lines.append(f"cannot decode: {msg.error}")
        rows = list(_field_rows(ex, side))
        width = min(max((len(p) for p, _, _ in rows), default=0), 40)
        lines.append("")
        for path, value, label in rows:
            lines.append(f"  {path:<{width}}  {value}" + (f"    = {label}" if label else ""))
    gz = [g for g in ex.gzip if g.startswith(side)]
    if gz:
        lines.append("")
        lines.extend(f"gzip: {g}" for g in gz)
    photos = [p for p in ex.photos if p.side == side]
    if photos:
        lines.append("")
        for p in photos:
            dims = f" {p.width}x{p.height}" if p.width else ""
            lines.append(f"photo: {p.where}: {p.size} bytes{dims} {p.kind}, MD5 {p.md5}")
    if ex.findings:
        lines.append("")
        lines.extend(_finding_line(f) for f in ex.findings)
    return "\n".join(lines)


def _finding_line(f: Finding) -> str:
    return f"{f.severity.upper():<7} {f.rule}: {f.message}  [{f.section}]"


def finding_lines(ex: Exchange) -> list[Text]:
    """--lint-only: one indented line per finding, to print under `compact(ex)`."""
    out = []
    for f in ex.findings:
        line = Text("    ")
        line.append(f"{f.severity:<7}", style=SEVERITY_STYLE[f.severity])
        line.append(f" {f.rule}: ", style="bold")
        line.append(f.message)
        line.append(f"  [{f.section}]", style="dim")
        out.append(line)
    return out
