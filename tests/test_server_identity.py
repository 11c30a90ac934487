"""Device identity on every endpoint (protocol.md 5.2, 6.1, 6.8): pending, approved, blocked, bad SN."""

from __future__ import annotations

from conftest import SN, DeviceClient, LiveServer

from facectl.protocol import multipart, responses
from facectl.store import Store

RECORD = '{"RecordID":7,"RecordType":3,"RecordDate":1718616771,"UserID":"1"}'


def test_unknown_device_is_stored_pending_and_told_not_activated(device: DeviceClient, store: Store) -> None:
    reply = device.keepalive()
    assert reply.status == 200
    assert reply.json == {"Success": 401, "Message": responses.MSG_NOT_ACTIVATED}
    row = store.devices.get(SN)
    assert row["state"] == "pending"
    assert row["remote_addr"] == "127.0.0.1"
    assert row["last_seen"] is not None


def test_pending_device_is_refused_on_every_endpoint_and_nothing_is_applied(
    device: DeviceClient, store: Store
) -> None:
    device.keepalive()
    settings = device.post_json("/Device/UploadWorkSetting", {"DeviceSN": SN, "Volume": 3})
    record = device.post_parts("/Record/UploadIdentifyRecord",
                               [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", RECORD)])
    system = device.post_json("/Record/UploadSystemRecord", RecordType=1,
                              Records=[{"RecordID": 1, "RecordType": 1, "RecordDate": 1}])
    for reply in (settings, record, system):
        assert reply.json["Success"] == 401
    assert store.settings.document(SN) is None
    assert store.records.count(SN) == 0


def test_approved_device_gets_success_1(device: DeviceClient, store: Store) -> None:
    device.keepalive()
    store.devices.set_state(SN, "approved")
    reply = device.keepalive()
    assert reply.json["Success"] == 1


def test_blocked_device_gets_403_and_nothing_is_applied(device: DeviceClient, store: Store) -> None:
    store.devices.add(SN, state="blocked")
    reply = device.post_parts("/Record/UploadIdentifyRecord",
                              [multipart.text_part("SN", SN), multipart.text_part("RecordDetail", RECORD)])
    assert reply.status == 200
    assert reply.json == {"Success": 403, "Message": responses.MSG_BLOCKED}
    assert store.records.count(SN) == 0


def test_sn_breaking_the_rule_gets_400_and_is_not_stored(server: LiveServer, store: Store) -> None:
    client = DeviceClient(server.port, sn="not a serial")
    reply = client.keepalive()
    client.close()
    assert reply.status == 200
    assert reply.json == {"Success": 400, "Message": responses.MSG_BAD_SN}
    assert store.devices.list() == []


def test_missing_sn_gets_400(device: DeviceClient) -> None:
    reply = device.post("/Device/Keepalive", b'{"RelayStatus": 0}')
    assert reply.json["Success"] == 400


def test_open_enrollment_approves_on_first_contact(open_server: LiveServer, store: Store) -> None:
    client = DeviceClient(open_server.port)
    reply = client.keepalive()
    client.close()
    assert reply.json["Success"] == 1
    assert store.devices.get(SN)["state"] == "approved"


def test_sn_is_read_with_surrounding_whitespace(server: LiveServer, store: Store) -> None:
    """protocol.md 3.6: the raw examples send ' FC-8380T12345678' with a leading space."""
    store.devices.add(SN)
    client = DeviceClient(server.port, sn=f"  {SN} ")
    assert client.keepalive().json["Success"] == 1
    client.close()
    assert [d["sn"] for d in store.devices.list()] == [SN]


def test_custom_sn_rule(db_path: str) -> None:
    from conftest import _serve

    gen = _serve(db_path, sn_pattern=r"DEV-\d{4}")
    srv = next(gen)
    try:
        ok = DeviceClient(srv.port, sn="DEV-1234").keepalive().json
        bad = DeviceClient(srv.port, sn=SN).keepalive().json
    finally:
        gen.close()
    assert ok["Success"] == 401
    assert bad["Success"] == 400
