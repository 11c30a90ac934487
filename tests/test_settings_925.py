"""Firmware 9.25's settings upload (protocol.md 8.5): stored as sent, never echoed back read-only or null.

The upload is the captured shape (`firmware_925_settings`): UTCTimeZone text
instead of TimeZone, status / version keys the document lacks, misspelt nested
keys, nulls, hundreds of SIP / VideoCall / IPv6 keys and non-ASCII in a password,
sent as the terminal's cJSON bytes with a port-less Host.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SN, DeviceClient, LiveServer, TerminalSocket
from test_sim_e2e import drive, make_device, powered, run_async

from facectl.cli.main import cli
from facectl.protocol.settings import READ_ONLY_SETTINGS, downloadable, is_read_only
from facectl.sim.settings_doc import FIRMWARE_925, FIRMWARE_925_STATUS, default_settings, firmware_925_settings
from facectl.store import Store

DOC = firmware_925_settings(SN, server_url="http://192.168.1.125:4610", now=1_780_000_000)


def nulls(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return [path] if value is None else []


def test_the_925_document_has_the_captured_shape() -> None:
    assert len(DOC) > 300
    assert DOC["UTCTimeZone"] == "UTC+08:00" and "TimeZone" not in DOC
    assert "TimeGreoup" in DOC["FunctionList"] and "Pasword" in DOC["PeopleStorageInfo"]
    assert nulls(DOC) and not DOC["WIFIAPPassword"].isascii()


@pytest.mark.parametrize("key", [
    *sorted(READ_ONLY_SETTINGS), *FIRMWARE_925_STATUS, "PalmveinVerson",
    "IrisVersion", "CameraVerson", "LoRaClientStatus", "CloudStorageInfo",  # keys of a firmware yet to come
])
def test_read_only_by_list_or_by_name(key: str) -> None:
    assert is_read_only(key)


@pytest.mark.parametrize("key", ["UTCTimeZone", "TimeZone", "Volume", "SIP1_Server", "WIFIAPPassword",
                                 "DoorSensorAlarmTimegroup", "HTTPClient_ServerAddr", "DeviceName"])
def test_settings_are_not_read_only(key: str) -> None:
    assert not is_read_only(key)


def test_download_body_has_no_read_only_key_and_no_null() -> None:
    body = downloadable(DOC, {"Volume": 3})
    assert [k for k in body if is_read_only(k)] == []
    assert nulls(body) == []
    assert body["Volume"] == 3 and body["UTCTimeZone"] == "UTC+08:00"
    assert body["WIFIAPPassword"] == DOC["WIFIAPPassword"]  # unknown and non-ASCII keys kept as uploaded
    assert {k for k in DOC if k.startswith(("SIP", "VideoCall", "STUN", "TURN", "WiredIPv6"))
            and DOC[k] is not None} <= set(body)
    assert "ShortMessage" not in body  # uploaded as null


def test_download_body_of_the_document_example_is_unchanged() -> None:
    """The document's own example: exactly its response example's rule (protocol.md 5.4)."""
    doc = default_settings(SN)
    assert set(downloadable(doc, {})) == set(doc) - READ_ONLY_SETTINGS


def facectl(db_path: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", db_path], catch_exceptions=False)
    return result


def test_925_upload_and_download_over_raw_bytes(approved: DeviceClient, server: LiveServer, store: Store,
                                                db_path: str) -> None:
    term = TerminalSocket(server.port)
    try:
        reply = term.post_json("/Device/UploadWorkSetting", DOC)
        assert reply.status == 200 and reply.json["Success"] == 1
        # stored as sent (nulls, misspellings, non-ASCII); the quoted-empty AlarmStatus read as "" (protocol.md 3.7)
        assert store.settings.document(SN) == {**DOC, "AlarmStatus": ""}
        assert facectl(db_path, "device", "set", SN, "Volume=2").exit_code == 0
        refused = facectl(db_path, "device", "set", SN, "HTTPClientStatus=0")
        assert refused.exit_code == 1 and "read-only" in refused.output
        reply = term.post_json("/Device/DownloadWorkSetting", {"SN": SN})
        answer = reply.json
    finally:
        term.close()
    assert reply.headers["content-encoding"] == "gzip"  # the terminal said Accept-Encoding: gzip (8.1, 3.4)
    assert answer["Success"] == 1 and answer["Volume"] == 2 and answer["DeviceSN"] == SN
    assert [k for k in answer if is_read_only(k)] == []
    assert nulls(answer) == []
    assert answer["WIFIAPPassword"] == DOC["WIFIAPPassword"] and answer["UTCTimeZone"] == "UTC+08:00"
    shown = json.loads(facectl(db_path, "device", "show", SN, "--json").output)
    assert shown["timezone"] == "UTC+08:00" and shown["firmware"] == "9.25"


def test_a_simulated_925_terminal_takes_a_change_and_reports_no_read_only_echo(server: LiveServer,
                                                                              store: Store) -> None:
    """`facectl sim --firmware 9.25`: its upload is stored as sent, its zone read from UTCTimeZone,
    and the change comes back without read-only keys or nulls (the simulator counts any it gets)."""
    dev = make_device(server.url, SN, firmware=FIRMWARE_925)
    store.devices.add(SN)

    def applied() -> bool:
        return any(c["state"] == "applied" for c in store.settings.changes(SN))

    async def main() -> None:
        async with powered(dev):
            await drive([dev], lambda: store.settings.document(SN) is not None, "settings uploaded")
            store.settings.request_change(SN, {"Volume": 2})
            await drive([dev], applied, "Volume applied", describe=lambda: store.settings.changes(SN))

    run_async(main)
    assert dev.ctx.settings["Volume"] == 2 and dev.ctx.settings["UTCTimeZone"] == "UTC+08:00"
    assert store.devices.get(SN)["timezone"] == "UTC+08:00"
    assert not [e for e in dev.ctx.stats.events if "sent by server" in e], dev.ctx.stats.events
