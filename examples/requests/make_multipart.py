#!/usr/bin/env python3
"""Generate the binary example requests of this folder (stdlib only).

Writes, next to this script:

* ``*.body`` + ``*.content-type``: raw multipart/form-data request bodies, shaped like the
  raw examples of the vendor document (httpv2-protocol.zh.md), and the Content-Type header
  value to send with each;
* ``UploadWorkSetting.json.gz``: ``UploadWorkSetting.json`` gzip-compressed as a whole, to be
  sent with ``Content-Encoding: gzip`` (protocol.md 3.4 / 6.2);
* ``photo.jpg``: the tiny JPEG used as the photo part of every body.

The output is deterministic (gzip mtime 0, fixed content), so the generated files are kept
in the repository and this script only needs to run again after it is changed.

    python3 make_multipart.py           # (re)write the files
    python3 make_multipart.py --check   # verify the files on disk, write nothing
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SN = "FC-8190H24052799"
# The boundary of the document's raw examples. On the wire every delimiter line is
# "--" + BOUNDARY, hence the 28 dashes seen in the document.
BOUNDARY = "--------------------------506873351428002157394455"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CRLF = b"\r\n"

# --------------------------------------------------------------------------------------
# A tiny but complete baseline JPEG: 8x8 pixels, one grey channel, uniform grey (128).
#
# Every quantisation value is 1 and each Huffman table holds a single one-bit code ("0"),
# DC table: category 0 (DC difference 0), AC table: EOB. The only block is therefore coded
# as the two bits "0" "0", padded with ones to the byte 0x3F.
# --------------------------------------------------------------------------------------
JPEG = b"".join(
    [
        b"\xff\xd8",  # SOI
        b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",  # APP0 JFIF 1.1
        b"\xff\xdb\x00\x43\x00" + b"\x01" * 64,  # DQT: table 0, 8-bit, all ones
        b"\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00",  # SOF0 8x8, 1 comp
        b"\xff\xc4\x00\x14\x00\x01" + b"\x00" * 15 + b"\x00",  # DHT DC0: 1 code -> 0x00
        b"\xff\xc4\x00\x14\x10\x01" + b"\x00" * 15 + b"\x00",  # DHT AC0: 1 code -> EOB
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",  # SOS: comp 1, tables 0/0, 0..63
        b"\x3f",  # entropy-coded data: DC "0", EOB "0", padding "111111"
        b"\xff\xd9",  # EOI
    ]
)
JPEG_MD5 = hashlib.md5(JPEG).hexdigest().upper()


def gz(data: bytes) -> bytes:
    """gzip with a fixed header (mtime 0, no file name) so the output is reproducible."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def device_json(obj: object) -> bytes:
    """JSON laid out the way the devices' cJSON prints it: tab indents, ':<TAB>'."""
    text = json.dumps(obj, ensure_ascii=False, indent="\t", separators=(",", ":\t"))
    return text.encode("utf-8")


# --------------------------------------------------------------------------------------
# multipart/form-data
# --------------------------------------------------------------------------------------
def text_part(name: str, value: str | bytes, headers: tuple[str, ...] = ()) -> tuple:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return (f'form-data; name="{name}"', headers, data)


def file_part(name: str, filename: str, data: bytes, headers: tuple[str, ...]) -> tuple:
    return (f'form-data; name="{name}"; filename="{filename}"', headers, data)


def multipart(parts: list[tuple]) -> bytes:
    delimiter = b"--" + BOUNDARY.encode("ascii")
    out = bytearray()
    for disposition, headers, data in parts:
        out += delimiter + CRLF
        out += f"Content-Disposition: {disposition}".encode("ascii") + CRLF
        for header in headers:
            out += header.encode("ascii") + CRLF
        out += CRLF + data + CRLF
    out += delimiter + b"--" + CRLF
    return bytes(out)


GZIP_PART = ("Content-Encoding: gzip", "Content-Type: application/octet-stream")
JPEG_PART = ("Content-Type: image/jpeg",)


# --------------------------------------------------------------------------------------
# The document's JSON payloads, with its artifacts (comments, "...", unquoted keys) removed
# --------------------------------------------------------------------------------------
def record_detail(record_id: int, record_date: int) -> bytes:
    """The one-line RecordDetail of the raw examples, byte for byte, except RecordID,
    RecordDate and PhotoLen (set to the size of the photo part actually attached)."""
    return (
        f'{{ "RecordID":{record_id},"RecordType":3,"RecordDate":{record_date}, '
        '"UserID":"1","Name":"1","IdentityCard":"","Job":"","Department":"",'
        f'"CardNum":"0","QRCode":"","IsEntry":1,"BodyTemp":0,"PhotoLen":{len(JPEG)}}}'
    ).encode()


def template(kind: str, num: int) -> dict:
    """A fingerprint / palm-vein object with real base64 data instead of 'abc ... ==',
    and the upper-case MD5 (protocol.md 5.6) of that base64 text."""
    data = base64.b64encode(f"example {kind} template {num}".encode("ascii")).decode("ascii")
    return {"Num": num, "Data": data, "MD5": hashlib.md5(data.encode("ascii")).hexdigest().upper()}


def person(user_id: str) -> dict:
    """The person of the document's PushPeople / RegisterIdentifyTicketResult examples.
    PhotoMD5 and PhotoLen describe the photo part actually attached."""
    return {
        "UserID": user_id,
        "Name": "888888",
        "Job": "开发",
        "Department": "销售部",
        "IdentityCard": "",
        "Attachment": "",
        "Photo": "http://abc.com/photo/1.jpg",
        "PhotoMD5": JPEG_MD5,
        "PhotoLen": len(JPEG),
        "Password": "2222",
        "CardNum": "6666",
        "AccessType": 0,
        "ExpirationDate": 0,
        "OpenTimes": 65535,
        "KeepOpen": 1,
        "Timegroup": 6,
        "Holidays": "1,3,9,10,11,17,21,25,27,30",
        "Elevators": "1,2,3,4,5",
        "FaceFeature": "http://abc.com/face/1.dat",
        "FaceFeatureMD5": "613D870CA99EDF074BEE4387BAB09070",
        "Fingerprints": [template("fingerprint", 1)],
        "Palmveins": [template("palmvein", 1)],
    }


# --------------------------------------------------------------------------------------
# The requests
# --------------------------------------------------------------------------------------
def bodies() -> dict[str, bytes]:
    """name -> multipart body. Each gets a matching NAME.content-type file."""
    sn = " " + SN  # the raw examples' SN value carries a leading space (protocol.md 3.6)
    return {
        # 上传打卡记录 raw example: recordJson gzip part + pic part (protocol.md 3.3, 4.1, 4.2)
        "UploadIdentifyRecord": multipart(
            [
                text_part("SN", sn),
                text_part("recordJson", gz(record_detail(120, 1718616771)), GZIP_PART),
                file_part("pic", "Postman_file.jpg", JPEG, JPEG_PART),
            ]
        ),
        # 上传打卡记录 field table: RecordDetail uncompressed + Photo part; another RecordID,
        # so that the server stores it instead of taking it for a retry of record 120 (5.1)
        "UploadIdentifyRecord-RecordDetail": multipart(
            [
                text_part("SN", sn),
                text_part("RecordDetail", record_detail(121, 1718616772)),
                file_part("Photo", "Photo.jpg", JPEG, JPEG_PART),
            ]
        ),
        # 请求服务器鉴权 raw example: RecordDetail gzip part + pic part; the RecordID of the
        # section's RecordDetail 参数示例 (13 digits, beyond 32 bits)
        "RequestAuthorization": multipart(
            [
                text_part("SN", sn),
                text_part("RecordDetail", gz(record_detail(1718616771001, 1718616771)), GZIP_PART),
                file_part("pic", "Postman_file.jpg", JPEG, JPEG_PART),
            ]
        ),
        # 上传设备摄像头快照: form fields SN + Photo (no raw example in the document)
        "UploadSnapshoot": multipart(
            [
                text_part("SN", sn),
                file_part("Photo", "Photo.jpg", JPEG, JPEG_PART),
            ]
        ),
        # 反馈人员注册凭证的结果, "成功注册返回": face registered for user 1 (the user of the
        # RemoteCommand example), with the person's latest detail and photo
        "RegisterIdentifyTicketResult": multipart(
            [
                text_part(
                    "ResultJson",
                    device_json({"SN": SN, "UserID": 1, "Result": 1, "UserDetail": person("1")}),
                ),
                file_part("Photo", "Photo.jpg", JPEG, JPEG_PART),
            ]
        ),
        # 反馈人员注册凭证的结果, "重复注册返回": Result 2 as the example shows (protocol.md 4.8)
        "RegisterIdentifyTicketResult-duplicate": multipart(
            [
                text_part(
                    "ResultJson",
                    device_json({"SN": SN, "UserID": 1, "Result": 2, "RepetitionUserID": 2}),
                ),
            ]
        ),
        # 推送人员信息: SN (no leading space in this raw example), PushType, UserID as text
        # fields, Detail as a gzipped *file* part (protocol.md 6.3, 6.4), then the Photo part
        "PushPeople": multipart(
            [
                text_part("SN", SN),
                text_part("PushType", "1"),
                text_part("UserID", "3"),
                file_part("Detail", "Detail", gz(device_json(person("3"))), GZIP_PART),
                file_part("Photo", "Photo.jpg", JPEG, JPEG_PART),
            ]
        ),
    }


def outputs() -> dict[str, bytes]:
    files: dict[str, bytes] = {"photo.jpg": JPEG}
    for name, body in bodies().items():
        files[f"{name}.body"] = body
        files[f"{name}.content-type"] = CONTENT_TYPE.encode("ascii")
    files["UploadWorkSetting.json.gz"] = gz((HERE / "UploadWorkSetting.json").read_bytes())
    return files


# --------------------------------------------------------------------------------------
# --check
# --------------------------------------------------------------------------------------
# JSON files that must NOT parse strictly, and the one quirk that is allowed to stop them.
QUIRKY = {"Keepalive.json": ("trailing comma", '"",\n}', '""\n}')}


def check_json(problems: list[str]) -> None:
    for path in sorted(HERE.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        for artifact in re.findall(r"(?<!:)//|/\*|\.\.\.|^\s*[A-Za-z_]\w*\s*:", text, re.M):
            problems.append(f"{path.name}: documentation artifact {artifact.strip()!r}")
        quirk = QUIRKY.get(path.name)
        try:
            json.loads(text)
            if quirk:
                problems.append(f"{path.name}: parses strictly, the {quirk[0]} quirk is lost")
        except json.JSONDecodeError as exc:
            if not quirk:
                problems.append(f"{path.name}: not strict JSON: {exc}")
                continue
            if text.count(quirk[1]) != 1:
                problems.append(f"{path.name}: {quirk[0]} quirk not found")
                continue
            try:  # without the quirk it must be strict JSON
                json.loads(text.replace(quirk[1], quirk[2]))
            except json.JSONDecodeError as exc2:
                problems.append(f"{path.name}: fails for more than the {quirk[0]}: {exc2}")
        doc = json.loads(
            text.replace(quirk[1], quirk[2]) if quirk else text,
            object_pairs_hook=lambda pairs: pairs,
        )
        sn = dict(doc).get("SN") or dict(doc).get("DeviceSN")
        if sn != SN:
            problems.append(f"{path.name}: SN/DeviceSN is {sn!r}, not {SN}")
    # UploadWorkSetting's quirks are valid JSON syntax: check them semantically
    pairs = json.loads(
        (HERE / "UploadWorkSetting.json").read_text(encoding="utf-8"),
        object_pairs_hook=lambda pairs: pairs,
    )
    sns = [v for k, v in pairs if k == "DeviceSN"]
    if sns != ["FC-8200H12345675", SN]:
        problems.append(f"UploadWorkSetting.json: DeviceSN occurrences {sns}")
    if dict(pairs).get("AlarmStatus") != '""':
        problems.append("UploadWorkSetting.json: AlarmStatus is not the two-quote string")
    if "SN" in dict(pairs):
        problems.append("UploadWorkSetting.json: has an SN field (the document's has none)")


def split_multipart(body: bytes) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + BOUNDARY.encode("ascii")
    chunks = body.split(CRLF + delimiter)
    assert chunks[0].startswith(delimiter + CRLF), "body must start with the delimiter"
    chunks[0] = chunks[0][len(delimiter) :]
    assert chunks[-1] == b"--" + CRLF, "body must end with the close delimiter"
    parts = []
    for chunk in chunks[:-1]:
        assert chunk.startswith(CRLF)
        head, _, data = chunk[2:].partition(CRLF + CRLF)
        headers = {}
        for line in head.decode("ascii").split("\r\n"):
            key, _, value = line.partition(": ")
            headers[key.lower()] = value
        parts.append((headers, data))
    return parts


def check_bodies(files: dict[str, bytes], problems: list[str]) -> None:
    for name in bodies():
        for headers, data in split_multipart(files[f"{name}.body"]):
            disposition = headers["content-disposition"]
            if headers.get("content-encoding") == "gzip":
                if not data.startswith(b"\x1f\x8b"):
                    problems.append(f"{name}: {disposition}: gzip header but no gzip magic")
                data = gzip.decompress(data)
            if headers.get("content-type") == "image/jpeg":
                if data != JPEG:
                    problems.append(f"{name}: {disposition}: photo differs")
            elif data.lstrip().startswith(b"{"):
                try:
                    detail = json.loads(data)
                except ValueError as exc:
                    problems.append(f"{name}: {disposition}: bad JSON: {exc}")
                    continue
                if "PhotoLen" in detail and detail["PhotoLen"] != len(JPEG):
                    problems.append(f"{name}: {disposition}: PhotoLen != photo size")


def check_jpeg(problems: list[str]) -> None:
    if not (JPEG.startswith(b"\xff\xd8\xff") and JPEG.endswith(b"\xff\xd9")):
        problems.append("photo.jpg: no SOI/EOI markers")
    try:
        from PIL import Image  # optional: only when Pillow happens to be installed
    except ImportError:
        print("Pillow not installed: photo.jpg checked for its SOI/EOI markers only")
        return
    import io

    with Image.open(io.BytesIO(JPEG)) as image:
        image.load()
        if (image.format, image.mode, image.size) != ("JPEG", "L", (8, 8)):
            problems.append(f"photo.jpg: decodes as {image.format} {image.mode} {image.size}")
        elif image.getextrema() != (128, 128):
            problems.append(f"photo.jpg: not uniform grey 128: {image.getextrema()}")
    print("photo.jpg decodes with Pillow: 8x8 grey")


def check(files: dict[str, bytes]) -> int:
    problems: list[str] = []
    for name, data in files.items():
        path = HERE / name
        if not path.exists():
            problems.append(f"{name}: missing (run make_multipart.py)")
        elif path.read_bytes() != data:
            problems.append(f"{name}: out of date or altered (run make_multipart.py)")
    check_json(problems)
    check_bodies(files, problems)
    check_jpeg(problems)
    for problem in problems:
        print("FAIL", problem)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify, write nothing")
    args = parser.parse_args()
    files = outputs()
    if args.check:
        return check(files)
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data)} bytes)")
    return check(files)


if __name__ == "__main__":
    sys.exit(main())
