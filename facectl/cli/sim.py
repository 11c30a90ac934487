"""`facectl sim`: simulated terminals, one or thousands, and the conformance check."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from facectl.cli.common import EXIT_FAILED, console, emit, fail, print_json, stop_on_signals, table
from facectl.protocol.identity import SnRule
from facectl.protocol.limits import MAX_PEOPLE_PAGE, MAX_PHOTO_BYTES
from facectl.sim.config import (
    DEFAULT_SN_PREFIX,
    DELETE_LIST_NAMES,
    FAULT_NAMES,
    GZIP_MODES,
    RECORD_JSON_PARTS,
    RECORD_PHOTO_PARTS,
    SN_DIGITS,
    Faults,
    SimConfig,
    Variants,
)
from facectl.sim.settings_doc import EXAMPLE_PERSON_CAPACITY, FIRMWARE_925

if TYPE_CHECKING:
    from facectl.sim.fleet import FleetRun

#: Exit code of a run stopped by Ctrl-C before it started (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130

EPILOG = """\b
Examples:
  facectl sim --server http://127.0.0.1:8080 --sn FC-8190H24052799 --duration 120
  facectl sim --server http://127.0.0.1:8080 --devices 2000 --interval 15 \\
      --records-per-min 2 --duration 300 --report fleet.json
  facectl sim --server http://127.0.0.1:8080 --doc-examples --gzip parts \\
      --fault timeout=0.05 --fault duplicate-records=0.1
  facectl sim --server http://127.0.0.1:8080 --state sim-state/ --duration 60   # rerun: same people
  facectl sim --check --server https://backend.example.com
"""


@click.command("sim", epilog=EPILOG)
@click.option("--server", required=True, metavar="URL",
              help="Server base URL, as set in the device's HTTPClient_ServerAddr.")
@click.option("--sn", help="Serial of the single simulated device (default: first fleet serial).")
@click.option("--devices", type=click.IntRange(1, 100000), default=1, show_default=True,
              help="Number of devices (fleet mode when > 1).")
@click.option("--sn-prefix", default=DEFAULT_SN_PREFIX, show_default=True,
              help=f"Fleet serials are PREFIX + {SN_DIGITS} digits.")
@click.option("--interval", type=click.FloatRange(0.2), default=15.0, show_default=True,
              help="Keepalive interval in seconds (HTTPClient_KeepaliveTime).")
@click.option("--records-per-min", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Identify records each device produces per minute.")
@click.option("--photo-bytes", type=click.IntRange(0, MAX_PHOTO_BYTES), default=30 * 1024, show_default=True,
              help="Size of record photos (0: records without photos).")
@click.option("--gzip", "gzip_mode", type=click.Choice(GZIP_MODES), default="none", show_default=True,
              help="none; parts: gzip JSON form parts (protocol.md 3.3); body: gzip whole bodies (3.4).")
@click.option("--duration", type=click.FloatRange(1), default=60.0, show_default=True,
              help="Seconds to run; everything stops by itself.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON report to FILE.")
@click.option("--json-part", type=click.Choice(RECORD_JSON_PARTS), default=RECORD_JSON_PARTS[0],
              show_default=True, help="Record JSON part name (protocol.md 4.1).")
@click.option("--photo-part", type=click.Choice(RECORD_PHOTO_PARTS), default=RECORD_PHOTO_PARTS[0],
              show_default=True, help="Record photo part name (protocol.md 4.2).")
@click.option("--delete-list", type=click.Choice(DELETE_LIST_NAMES), default=DELETE_LIST_NAMES[0],
              show_default=True, help="DeletePeopleListResult list name (protocol.md 4.5).")
@click.option("--json-part-as-file", is_flag=True, help="Send JSON parts as file parts (protocol.md 6.3).")
@click.option("--sn-space", is_flag=True, help="Leading space in SN form values (protocol.md 3.6).")
@click.option("--trailing-comma", is_flag=True, help="Trailing comma in JSON objects (protocol.md 3.1).")
@click.option("--doc-examples", is_flag=True,
              help="Use every spelling of the document's examples (recordJson, pic, DeletList, "
                   "SN with a space, trailing commas).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=P]",
              help=f"Inject a fault with probability P (default 1): {', '.join(FAULT_NAMES)}. Repeatable.")
@click.option("--limit", "people_limit", type=click.IntRange(1, MAX_PEOPLE_PAGE), default=100, show_default=True,
              help="Limit of DownloadPeopleList / DeletePeopleList pages.")
@click.option("--capacity", type=click.IntRange(1), default=EXAMPLE_PERSON_CAPACITY, show_default=True,
              help="People the device can hold.")
@click.option("--seed", type=int, help="Seed for reproducible runs.")
@click.option("--online-auth", is_flag=True,
              help="Online authorization: each identify event first asks the server (RequestAuthorization) "
                   "and the door opens only if it allows.")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep what a terminal keeps across a reboot (people, settings, RecordID counter, "
                   "records not uploaded) in DIR, one file pair per serial; a rerun continues from it "
                   "instead of starting factory-new.")
@click.option("--firmware", type=click.Choice([FIRMWARE_925]),
              help="Upload a settings document shaped like this firmware's (9.25: UTCTimeZone, "
                   "status keys, nulls, hundreds of SIP/IPv6 keys; protocol.md 8.5). Default: the document's example.")
@click.option("--insecure", is_flag=True, help="Do not verify the server's TLS certificate (lab servers).")
@click.option("--check", is_flag=True,
              help="Conformance run: one device goes through every flow and a table says which "
                   "parts of the protocol the server answered correctly.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
def sim(server: str, sn: str | None, devices: int, sn_prefix: str, interval: float,
        records_per_min: float, photo_bytes: int, gzip_mode: str, duration: float,
        report_path: Path | None, json_part: str, photo_part: str, delete_list: str,
        json_part_as_file: bool, sn_space: bool, trailing_comma: bool, doc_examples: bool,
        faults: tuple[str, ...], people_limit: int, capacity: int, seed: int | None, online_auth: bool,
        state_dir: Path | None, firmware: str | None, insecure: bool, check: bool, as_json: bool) -> None:
    """Simulated FCARD terminals that follow the HTTPv2 call flow against a server.

    Each device boots (Keepalive, then UploadWorkSetting), sends a keepalive every
    --interval seconds, does the work the answer flags in the document's priority
    order, then uploads its records, over one keep-alive connection. With
    --devices N it runs a fleet in one process and reports per-endpoint latency,
    missed keepalive deadlines, retries and errors. Ctrl-C ends a run early and
    still prints (and writes) its report, exit 0.
    """
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"--server must be an http(s) URL like http://127.0.0.1:8080, not {server!r}", 2)
    if sn and devices > 1:
        fail("--sn names one device; use --sn-prefix with --devices", 2)
    if sn is not None:
        reason = SnRule().check(sn.strip())
        if reason:
            console.print(f"[yellow]warning:[/yellow] {reason}; a facectl server will answer 400")
    if check:
        _check(server, sn, photo_bytes, as_json, report_path, not insecure)
        return
    from facectl.sim.fleet import render, serials  # aiohttp: only when devices run
    from facectl.sim.state import StateError

    try:
        variants = Variants(
            record_json_part=json_part, record_photo_part=photo_part, delete_list_name=delete_list,
            gzip=gzip_mode, json_part_as_file=json_part_as_file, sn_leading_space=sn_space,
            trailing_comma=trailing_comma)
        if doc_examples:
            variants = Variants.document_examples()
            variants.gzip, variants.json_part_as_file = gzip_mode, json_part_as_file
        fault_config = Faults.parse(list(faults))
    except ValueError as exc:
        fail(str(exc), 2)
    config = SimConfig(server=server, interval=interval, records_per_min=records_per_min,
                       photo_bytes=photo_bytes, people_limit=people_limit, people_capacity=capacity,
                       variants=variants, faults=fault_config, seed=seed, verify_tls=not insecure,
                       online_auth=online_auth, state_dir=str(state_dir) if state_dir else None,
                       firmware=firmware)
    sns = [sn.strip()] if sn else serials(devices, sn_prefix)
    if not as_json:
        console.print(f"[bold]{len(sns)} device{'s' if len(sns) > 1 else ''}[/bold] "
                      f"({sns[0]}{' ... ' + sns[-1] if len(sns) > 1 else ''}) -> {server} "
                      f"for {duration:g} s, keepalive every {interval:g} s"
                      + (f", faults {fault_config.active()}" if fault_config.active() else ""))
    try:
        run, interrupted = asyncio.run(_run_until_interrupted(config, sns, duration))
    except KeyboardInterrupt:  # before the devices started: nothing to report
        fail("interrupted before the simulation started", EXIT_INTERRUPTED)
    except StateError as exc:
        fail(str(exc))
    report = run.report()
    report["interrupted"] = interrupted
    report["config"] = {"server": server, "interval": interval, "records_per_min": records_per_min,
                        "photo_bytes": photo_bytes, "gzip": gzip_mode, "duration": duration,
                        "faults": fault_config.active(), "online_auth": online_auth,
                        "variants": {"json_part": variants.record_json_part,
                                     "photo_part": variants.record_photo_part,
                                     "delete_list": variants.delete_list_name,
                                     "json_part_as_file": variants.json_part_as_file,
                                     "sn_space": variants.sn_leading_space,
                                     "trailing_comma": variants.trailing_comma}}
    if len(sns) == 1:
        device = run.devices[0]
        report["device"] = {"sn": device.ctx.sn, "people": len(device.ctx.people),
                            "door": device.keepalive_doc(), "boots": device.boots}
    _write(report_path, report)
    if as_json:
        print_json(report)
        return
    for t in render(report):
        console.print(t)
    if "device" in report:
        d = report["device"]
        door = ", ".join(f"{k}={v}" for k, v in d["door"].items() if k != "SN")
        console.print(f"device {d['sn']}: {d['people']} people held, {d['boots']} boot(s); {door}")
    if report_path:
        console.print(f"report written to {report_path}")
    if interrupted:
        console.print(f"stopped by Ctrl-C after {report['seconds']:.0f} s; the report covers the run so far",
                      highlight=False)


async def _run_until_interrupted(config: SimConfig, sns: list[str], duration: float) -> tuple[FleetRun, bool]:
    """Run the fleet; Ctrl-C (or SIGTERM) ends it early and the run so far is still reported."""
    from facectl.sim.fleet import run_fleet

    with stop_on_signals() as stop:
        run = await run_fleet(config, sns, duration, stop=stop)
    return run, stop.is_set()


def _check(server: str, sn: str | None, photo_bytes: int, as_json: bool, report_path: Path | None,
           verify_tls: bool) -> None:
    from facectl.sim.check import DEFAULT_CHECK_SN, run_check

    try:
        report = asyncio.run(run_check(server, (sn or DEFAULT_CHECK_SN).strip(),
                                       # the record table: Photo "50KB"
                                       photo_bytes=min(photo_bytes, 50 * 1024), verify_tls=verify_tls))
    except KeyboardInterrupt:
        fail("interrupted: the conformance check did not finish", EXIT_INTERRUPTED)
    data = report.as_dict()
    _write(report_path, data)
    if as_json:
        print_json(data)
    else:
        rows = []
        for c in report.checks:
            mark = {"pass": "[green]pass[/green]", "FAIL": "[red]FAIL[/red]", "skip": "[dim]skip[/dim]"}
            rows.append((mark[c.as_dict()["result"]], c.level, c.name, c.section, c.detail))
        emit(table(f"Conformance of {server} (device {report.sn})",
                            ("result", "level", "check", "document section", "detail"), rows))
        console.print(f"{data['passed']} passed, {data['failed']} failed "
                      f"({data['must_failed']} required by the document), {data['skipped']} skipped")
    if report.must_failures:
        raise SystemExit(EXIT_FAILED)


def _write(path: Path | None, data: dict) -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write report {path}: {exc}")
