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

from facectl.protocol.endpoints import SUCCESS

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
    """Local wall-clock time with milliseconds (errata 5.9: the operator's time zone)."""
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


def compact(ex: Exchange) -> Text:
    """One line: time, SN, endpoint, status, duration, what was asked, what was answered.

    Print it with `soft_wrap=True`: the line is never cut, the terminal wraps it.
    """
    line = Text()
    line.append(clock(ex.started), style="dim")
    line.append("  ")
    line.append(f"{ex.sn or '-':<16}", style="bold")
    line.append("  ")
    line.append(f"{ex.name:<28}", style="magenta" if ex.endpoint else "yellow")
    line.append(" ")
    line.append_text(status_text(ex))
    line.append(f" {fmt_duration(ex):>7}", style="dim")
    req = _summary(ex, "request")
    resp = _summary(ex, "response") if ex.response is not None else ""
    if ex.request.error:
        req = f"undecodable: {ex.request.error}"
    if ex.response is not None and ex.response.error:
        resp = f"undecodable: {ex.response.error}"
    line.append(f"  {_cut(req, _COMPACT_WIDTH)}")
    if resp:
        line.append(" → ", style="dim")
        line.append(_cut(resp, _COMPACT_WIDTH))
    if ex.gzip:
        line.append(" gz", style="blue")
    if ex.photos:
        line.append(f" photo×{len(ex.photos)}", style="blue")
    line.append_text(counts_text(ex))
    return line


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
