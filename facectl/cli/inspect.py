"""`facectl inspect FILE.flows`: read mitmproxy captures offline, decoded and linted.

Same decoder, lint and renderer as the live addon (addons/decode.py), so a
capture sent by a colleague reads exactly like the terminal they watched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from rich.text import Text

from facectl.cli.common import console, emit, fail, fmt_time, json_option, print_json, table
from facectl.cli.tables import KEEP, Column
from facectl.inspect import Exchange, Timeline, render
from facectl.inspect.timeline import summarize
from facectl.protocol.endpoints import ENDPOINTS

#: Pseudo-endpoints accepted by --endpoint besides the catalog's names.
EXTRA_ENDPOINTS = {"v1": "HTTPv1 paths", "download": "files the server handed out"}
#: Keepalive cycles listed per device in --summary before the rest are counted.
MAX_CYCLES = 40


@click.command("inspect")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--sn", "sns", multiple=True, metavar="SN",
              help="Only this device (repeatable).")
@click.option("--endpoint", "endpoints", multiple=True, metavar="NAME",
              help="Only this endpoint, e.g. Keepalive; also v1 or download (repeatable).")
@click.option("--lint-only", is_flag=True, help="Only exchanges with findings, and the findings.")
@click.option("--summary", is_flag=True, help="Per-device timelines and counts of findings.")
@click.option("--full", is_flag=True, help="One full table per exchange instead of one line.")
@json_option
def inspect(files: tuple[str, ...], sns: tuple[str, ...], endpoints: tuple[str, ...],
            lint_only: bool, summary: bool, full: bool, as_json: bool) -> None:
    """Decode device traffic in mitmproxy capture FILES (.flows, or HAR).

    \b
    Examples:
      facectl inspect examples/capture.flows --summary
      facectl inspect site.flows --sn FC-8190H24052799 --lint-only
    Capture with:  mitmdump --mode reverse:http://SERVER:PORT -p 9003 -w site.flows

    Only device traffic is shown: HTTPv2 endpoints, HTTPv1 paths and the
    downloads of files the server handed out.
    """
    try:
        from facectl.inspect.flows import FlowFileError, inspect_files
    except ImportError as exc:  # mitmproxy is the `inspect` extra; `facectl --help` never loads it
        fail(str(exc))
        return

    wanted = _endpoint_filter(endpoints)
    sn_filter = {s.strip().upper() for s in sns if s.strip()}
    timeline = Timeline()
    try:
        exchanges = inspect_files(files, timeline)
    except FlowFileError as exc:
        fail(f"{exc}; record one with `mitmdump ... -w FILE.flows`")
        return
    shown = [ex for ex in exchanges if _keep(ex, sn_filter, wanted)]
    if summary:
        _print_summary(summarize(timeline, shown, len(exchanges), sn_filter or None), as_json)
    elif lint_only:
        _print_lint([ex for ex in shown if ex.findings], as_json)
    else:
        _print_exchanges(shown, full, as_json)
        if not as_json:
            _footer(shown, len(exchanges))


def _endpoint_filter(names: Iterable[str]) -> set[str]:
    known = {n.lower(): n for n in (*ENDPOINTS, *EXTRA_ENDPOINTS)}
    out = set()
    for name in names:
        key = name.strip().lower()
        if key not in known:
            raise click.BadParameter(
                f"unknown endpoint {name!r}; one of: {', '.join(sorted(known.values()))}",
                param_hint="--endpoint")
        out.add(key)
    return out


def _keep(ex: Exchange, sns: set[str], endpoints: set[str]) -> bool:
    if not ex.is_device:
        return False
    if sns and ex.sn.upper() not in sns:
        return False
    if not endpoints:
        return True
    if ex.endpoint is not None:
        return ex.endpoint.name.lower() in endpoints
    return ("v1" in endpoints and ex.v1 is not None) or ("download" in endpoints and ex.download is not None)


def _print_exchanges(exchanges: list[Exchange], full: bool, as_json: bool) -> None:
    if as_json:
        print_json([ex.to_dict() for ex in exchanges])
        return
    width = console.width if console.is_terminal else None  # a file or a pipe: whole lines
    for i, ex in enumerate(exchanges):
        if full:
            if i:
                console.line()  # the table's caption (its document section) is not the next one's title
            console.print(render.full(ex))
        else:
            console.print(render.compact(ex, width), soft_wrap=True)


def _print_lint(exchanges: list[Exchange], as_json: bool) -> None:
    if as_json:
        print_json([{
            "started": ex.started, "sn": ex.sn, "endpoint": ex.name, "path": ex.path,
            "status": ex.status, "findings": [f.to_dict() for f in ex.findings],
        } for ex in exchanges])
        return
    if not exchanges:
        console.print("no findings", style="green")
        return
    width = console.width if console.is_terminal else None
    for ex in exchanges:
        console.print(render.compact(ex, width), soft_wrap=True)
        for line in render.finding_lines(ex):
            console.print(line, soft_wrap=True)


def _footer(shown: list[Exchange], total: int) -> None:
    counts = {"error": 0, "warning": 0, "info": 0}
    for ex in shown:
        for severity, n in ex.counts().items():
            counts[severity] += n
    skipped = total - len(shown)
    text = Text(f"\n{len(shown)} exchange{'' if len(shown) == 1 else 's'} shown", style="dim")
    if skipped:
        text.append(f", {skipped} other flows skipped", style="dim")
    text.append(f"; findings: {counts['error']} error, {counts['warning']} warning, "
                f"{counts['info']} info. ", style="dim")
    text.append("--lint-only lists them, --summary gives per-device timelines.", style="dim")
    console.print(text)


#: `inspect --summary` device columns; the least useful give way first on a narrow terminal.
SUMMARY_COLUMNS = (
    Column("SN", KEEP, no_wrap=True), Column("first seen", 4, no_wrap=True), Column("last seen", 6, no_wrap=True),
    Column("calls", 5, justify="right"), Column("keepalives", 3, justify="right"),
    Column("interval / max gap", 7, no_wrap=True), Column("conns", 1, justify="right"), Column("findings", 8),
)


def _print_summary(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(doc)
        return
    devices = doc["devices"]
    emit(table(
        f"Devices: {doc['device_exchanges']} exchanges shown, {doc['other_exchanges']} other flows",
        SUMMARY_COLUMNS,
        [[d["sn"], fmt_time(d["first_seen"]), fmt_time(d["last_seen"]), d["exchanges"],
          d["keepalives"], f"{_seconds(d['keepalive_interval']) or '?'} / {_seconds(d['max_keepalive_gap'])}",
          d["connections"], _severity_counts(d["findings"])]
         for d in devices],
    ))
    for d in devices:
        console.print(Text(f"\n{d['sn']}: one line per keepalive cycle", style="bold"))
        for line in _cycle_lines(d["cycles"]):
            console.print(line, soft_wrap=True)
    findings = doc["findings"]
    if not findings:
        console.print("\nno findings", style="green")
        return
    console.print(Text("\nFindings (rule ×count, devices; section; an example)", style="bold"))
    for f in findings:
        line = Text("  ")
        line.append(f"{f['severity']:<7}", style=render.SEVERITY_STYLE[f["severity"]])
        line.append(f" {f['rule']} ×{f['count']}", style="bold")
        line.append(f"  {', '.join(f['devices'])}", style="dim")
        line.append(f"  [{f['section']}]\n", style="dim")
        line.append(f"          {f['example']}")
        console.print(line, soft_wrap=True)


def _severity_counts(counts: dict[str, int]) -> str:
    return " ".join(f"{render.SEVERITY_MARK[s]}{n}" for s, n in counts.items() if n) or "-"


def _cycle_lines(cycles: list[dict[str, Any]]) -> list[Text]:
    """Collapse runs of identical quiet cycles (an idle device's keepalives) into one line."""
    lines: list[Text] = []
    previous: tuple[str, ...] | None = None
    repeat = 0
    for i, cycle in enumerate(cycles):
        calls = tuple(c["endpoint"] for c in cycle["calls"])
        quiet = not any(c["worst"] for c in cycle["calls"])
        if quiet and calls == previous and lines:
            repeat += 1
            last = lines[-1]
            base = last.plain.split("  ×", 1)[0]
            lines[-1] = Text(f"{base}  ×{repeat + 1}", style=last.style)
            continue
        previous, repeat = (calls if quiet else None), 0
        if len(lines) >= MAX_CYCLES:
            lines.append(Text(f"  … {len(cycles) - i} more cycles", style="dim"))
            break
        line = Text(f"  {render.clock(cycle['started'])}  ", style="dim")
        for j, call in enumerate(cycle["calls"]):
            if j:
                line.append(" → ", style="dim")
            style = render.SEVERITY_STYLE.get(call["worst"] or "", "")
            line.append(call["endpoint"], style=style)
        lines.append(line)
    return lines


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:g} s"
