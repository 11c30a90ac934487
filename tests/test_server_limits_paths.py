"""Bounds on outside input, HTTPv1 and odd paths (protocol.md 2.1-2.3, 3.5), TLS 1.2+."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
from pathlib import Path

import pytest
from conftest import SN, DeviceClient, LiveServer, _serve

from facectl.protocol import multipart
from facectl.protocol.limits import MAX_BODY_BYTES, MAX_INFLATED_BYTES, MAX_PARTS
from facectl.store import Store


def test_body_over_the_limit_gets_413_with_a_message(approved: DeviceClient) -> None:
    reply = approved.post("/Device/Keepalive", b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}")
    assert reply.status == 413
    assert reply.json["Success"] == 0 and "larger than" in reply.json["Message"]


def test_gzip_bomb_body_gets_413(approved: DeviceClient) -> None:
    bomb = gzip.compress(b'{"SN":"' + SN.encode() + b'","x":"' + b"0" * (MAX_INFLATED_BYTES + 1) + b'"}')
    assert len(bomb) < MAX_BODY_BYTES
    reply = approved.post("/Device/UploadWorkSetting", bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413
    assert "limit" in reply.json["Message"]


def test_gzip_bomb_part_in_a_record_is_quarantined_not_inflated(approved: DeviceClient, store: Store) -> None:
    bomb = gzip.compress(b" " * (MAX_INFLATED_BYTES + 1))
    parts = [multipart.text_part("SN", SN),
             multipart.Part([("Content-Disposition", 'form-data; name="RecordDetail"'),
                             ("Content-Encoding", "gzip")], bomb, "RecordDetail", None)]
    reply = approved.post_parts("/Record/UploadIdentifyRecord", parts)
    assert reply.json["Success"] == 1
    item = store.quarantine.list(SN)[0]
    assert "limit" in item["reason"] and item["size"] < MAX_BODY_BYTES


def test_too_many_parts_is_refused_clearly(approved: DeviceClient, store: Store) -> None:
    parts = [multipart.text_part("SN", SN)] + [multipart.text_part(f"x{i}", "y") for i in range(MAX_PARTS + 1)]
    reply = approved.post_parts("/Device/UploadSnapshoot", parts)
    assert reply.status == 200
    assert reply.json["Success"] == 1  # acknowledged and quarantined: the device must not wedge
    assert "more than" in store.quarantine.list()[0]["reason"]


def test_broken_json_on_keepalive_is_a_clear_error_not_a_500(approved: DeviceClient) -> None:
    for body in (b"\xff\xfe garbage", b'{"SN": ', b"[1,2,3]", b""):
        reply = approved.post("/Device/Keepalive", body)
        assert reply.status == 200, body
        assert reply.json["Success"] in (0, 400) and reply.json["Message"], body


def test_multipart_without_boundary_is_a_clear_error(approved: DeviceClient, store: Store) -> None:
    reply = approved.post("/Device/RequestAuthorization", b"--x\r\n", "multipart/form-data")
    # No SN can be read, so the sender is unidentified: 400 (not an allow), with the reason.
    assert reply.status == 200 and reply.json["Success"] == 400
    assert "boundary" in reply.json["Message"] and "no SN" in reply.json["Message"]
    assert store.quarantine.count() == 0


@pytest.mark.parametrize("path", ["/device/keepalive", "/DEVICE/KEEPALIVE/", "/Device//Keepalive",
                                  "/Device/Keepalive?x=1"])
def test_paths_match_case_insensitively_with_or_without_slash(approved: DeviceClient, path: str) -> None:
    assert approved.post(path, json.dumps({"SN": SN}).encode()).json["Success"] == 1


def test_unknown_path_is_404_json(approved: DeviceClient) -> None:
    reply = approved.post("/Device/Nothing", b"{}")
    assert reply.status == 404
    assert "unknown endpoint" in reply.json["Message"]


def test_get_on_a_device_endpoint_is_405_json(approved: DeviceClient) -> None:
    reply = approved.get("/Device/Keepalive")
    assert reply.status == 405 and reply.json["Success"] == 0


@pytest.mark.parametrize("path", ["/devicePass/selectPassInfo", "/device/selectRestart", "/note/insertNoteFace"])
def test_httpv1_paths_get_a_clear_error_and_mark_the_device(approved: DeviceClient, store: Store, path: str) -> None:
    """protocol.md 2.1: never a v2 answer on a v1 path; the operator is told to switch to 200."""
    reply = approved.post(path, json.dumps({"DeviceID": SN}).encode())
    assert reply.status == 400
    assert "HTTPClient_ProtocolType to 200" in reply.json["Msg"]
    row = store.devices.get(SN)
    assert row["protocol"] == "v1" and row["v1_path"] == path
    approved.keepalive()
    assert store.devices.get(SN)["protocol"] == "v2"


def test_malformed_http_does_not_kill_the_server(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /Device/Keepalive HTTP/1.1\r\nContent-Length: zzz\r\n\r\n")
        assert sock.recv(100).split(b"\r\n")[0].endswith(b" 400 Bad Request")
    client = DeviceClient(server.port)
    assert client.keepalive().json["Success"] == 401
    client.close()


def _self_signed(tmp: Path) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_serves_1_2_and_refuses_older(tmp_path: Path, db_path: str) -> None:
    cert, key = _self_signed(tmp_path)
    gen = _serve(db_path, tls_cert=cert, tls_key=key)
    srv = next(gen)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", srv.port)) as raw, ctx.wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.2"
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            pytest.skip("this OpenSSL cannot even offer TLS 1.1 as a client")
        with socket.create_connection(("127.0.0.1", srv.port)) as raw, pytest.raises(ssl.SSLError):
            old.wrap_socket(raw)
    finally:
        gen.close()
