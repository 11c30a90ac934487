"""Person validation and encoding (protocol.md 4.3-4.7, 5.6, 5.8, 6.3-6.7): pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from facectl.protocol import people as rules
from facectl.protocol.codes import PEOPLE_ERROR_CODES, TRANSIENT_PEOPLE_ERRORS, is_transient_people_error
from facectl.protocol.limits import MAX_EXPIRATION_DATE, MAX_PHOTO_BYTES, PERSON_TEXT_LIMITS
from facectl.sim.jpeg import make_jpeg


def errors(values: dict) -> dict[str, str]:
    with pytest.raises(rules.PersonError) as info:
        rules.normalize(values)
    return {e.field: e.message for e in info.value.errors}


@pytest.mark.parametrize("field", list(PERSON_TEXT_LIMITS))
def test_text_limits_count_utf8_bytes(field: str) -> None:
    limit = PERSON_TEXT_LIMITS[field]
    at_limit = "中" * (limit // 3) + "x" * (limit % 3)
    assert len(at_limit.encode()) == limit
    assert rules.normalize({field: at_limit}) == {field: at_limit}
    over = at_limit + "x"
    message = errors({field: over})[field]
    assert f"{field} is {limit + 1} bytes in UTF-8" in message and f"at most {limit}" in message


def test_every_bad_field_is_reported_at_once() -> None:
    found = errors({"Name": "名" * 22, "Password": "12", "CardNum": "12a", "OpenTimes": "70000",
                    "Timegroup": "65", "AccessType": "boss", "Elevators": "1,x"})
    assert set(found) == {"Name", "Password", "CardNum", "OpenTimes", "Timegroup", "AccessType", "Elevators"}
    assert "Name is 66 bytes" in found["Name"]
    assert "4 to 8 digits" in found["Password"]
    assert "normal, admin, blacklist" in found["AccessType"]


def test_values_are_normalised() -> None:
    got = rules.normalize({"CardNum": " 0012 ", "Password": "", "AccessType": "admin", "KeepOpen": "yes",
                           "Holidays": " 1, 2,2,3", "Elevators": [3, 1], "OpenTimes": 5, "Timegroup": ""})
    assert got == {"CardNum": "12", "Password": "", "AccessType": 1, "KeepOpen": 1, "Holidays": "1,2,3",
                   "Elevators": "3,1", "OpenTimes": 5, "Timegroup": None}
    assert rules.normalize({"Holidays": "*"}) == {"Holidays": "*"}
    assert rules.normalize({"CardNum": "18446744073709551615"})["CardNum"] == "18446744073709551615"
    assert "CardNum" in errors({"CardNum": "18446744073709551616"})


@pytest.mark.parametrize("user_id", ["1", 4294967295, " 42 "])
def test_user_id_is_a_uint32(user_id: object) -> None:
    assert rules.check_user_id(user_id) == int(str(user_id).strip())


@pytest.mark.parametrize("user_id", ["0", "4294967296", "-1", "abc", ""])
def test_user_id_out_of_range(user_id: str) -> None:
    with pytest.raises(rules.PersonError, match="UserID"):
        rules.check_user_id(user_id)


def test_expiry_dates_and_the_firmware_maximum() -> None:
    utc8 = datetime(2099, 12, 31, 23, 59, 59).astimezone().tzinfo
    assert rules.parse_expiry("never") == 0
    assert rules.parse_expiry(str(MAX_EXPIRATION_DATE)) == MAX_EXPIRATION_DATE
    assert rules.parse_expiry("2026-12-31", UTC) == int(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    assert rules.parse_expiry("2026-06-30T18:00+08:00", utc8) == int(
        datetime.fromisoformat("2026-06-30T18:00+08:00").timestamp())
    with pytest.raises(rules.PersonError, match="2099-12-31 23:59:59 UTC\\+8"):
        rules.parse_expiry(str(MAX_EXPIRATION_DATE + 1))
    with pytest.raises(rules.PersonError, match="not a date"):
        rules.parse_expiry("tomorrow")
    assert "ExpirationDate" in errors({"ExpirationDate": "2100-01-01T00:00+08:00"})


def test_photos_are_jpeg_up_to_400_kb() -> None:
    rules.check_photo(make_jpeg(MAX_PHOTO_BYTES))
    with pytest.raises(rules.PersonError, match=f"at most {MAX_PHOTO_BYTES}"):
        rules.check_photo(make_jpeg(MAX_PHOTO_BYTES + 10))
    with pytest.raises(rules.PersonError, match="not a JPEG"):
        rules.check_photo(b"\x89PNG\r\n\x1a\n" + b"x" * 100)


def test_feature_files_are_base64_text() -> None:
    text = base64.b64encode(b"template").decode()
    assert rules.feature_text(text.encode() + b"\n") == text
    assert rules.feature_text(b"\x00\x01binary\xff") == base64.b64encode(b"\x00\x01binary\xff").decode()


def test_encode_person_is_canonical() -> None:
    photo = rules.FileRef("http://h/files/a.jpg?e=1&s=2", "ABC", 10)
    finger = rules.FileRef("http://h/files/b.dat?e=1&s=2", "DEF")
    out = rules.encode_person(7, {"Name": "张三", "CardNum": "12", "Elevators": "1,2", "Timegroup": None},
                              photo=photo, fingerprints=[(1, finger)])
    assert out["UserID"] == "7" and out["CardNum"] == "12"  # strings, as the table says
    assert out["Elevators"] == "1,2"  # comma string (protocol.md 4.7)
    assert "Timegroup" not in out  # no neutral value: the device keeps its default
    assert (out["AccessType"], out["ExpirationDate"], out["OpenTimes"], out["KeepOpen"]) == (0, 0, 65535, 0)
    assert out["Holidays"] == "" and out["Password"] == "" and out["Job"] == ""
    assert (out["Photo"], out["PhotoMD5"], out["PhotoLen"]) == (photo.value, "ABC", 10)
    assert out["Fingerprints"] == [{"Num": 1, "Data": finger.value, "MD5": "DEF"}] and out["Palmveins"] == []
    keys = list(out)
    assert keys.index("Attachment") < keys.index("Photo") < keys.index("Password")  # the table's order
    assert rules.encode_person(1, {"ExpirationDate": MAX_EXPIRATION_DATE + 5})["ExpirationDate"] == \
        MAX_EXPIRATION_DATE


def test_answers_carry_both_count_names_and_delete_all() -> None:
    assert rules.download_answer([{"UserID": "1"}]) == {"PeopleCount": 1, "Count": 1,
                                                        "PeopleList": [{"UserID": "1"}]}
    assert rules.delete_answer([1, 2]) == {"DeleteAll": 0, "DeleteCount": 2, "DeleteList": [1, 2]}
    assert rules.delete_answer([], delete_all=True)["DeleteAll"] == 1


@pytest.mark.parametrize(("value", "expected"), [(None, 50), ("", 50), (0, 50), ("100", 100), (5000, 1000),
                                                 (-3, 50), (1.0, 1)])
def test_page_limit(value: object, expected: int) -> None:
    assert rules.page_limit(value, 50) == expected


def test_fail_list_in_both_shapes() -> None:
    table = {"FailCount": 1, "FailList": [{"UserID": "444", "ErrorCode": 20, "RepeatID": "3", "ErrMsg": ""}]}
    example = {"FailCount": [{"UserID": 444, "ErrorCode": "20", "RepeatID": 3}, {"UserID": "x"}]}
    for doc in (table, example):
        failures, _ = rules.read_fail_list(doc)
        assert failures[0] == rules.Failure(444, 20, "3", "")
    assert rules.read_fail_list(example)[1][0].startswith("failures listed under FailCount")
    assert rules.declared_fail_count(example) == 2 and rules.declared_fail_count(table) == 1


def test_only_passing_causes_are_retried_by_the_server() -> None:
    """Downloads and the device's own storage errors are transient; the person's data never is."""
    assert TRANSIENT_PEOPLE_ERRORS == {2, 4, 5, 6, 25, 26, 31, 32}
    assert all(code in PEOPLE_ERROR_CODES for code in TRANSIENT_PEOPLE_ERRORS)
    for label in ("invalid person parameters", "photo too large", "duplicate face", "duplicate card number",
                  "person storage full", "invalid face feature format", "photo not recognisable"):
        assert not is_transient_people_error(PEOPLE_ERROR_CODES.value_of(label)), label
    assert is_transient_people_error("2") and is_transient_people_error(4.0)  # as wire values arrive
    assert not is_transient_people_error(99) and not is_transient_people_error(None)  # unknown: not retried
    failures, _ = rules.read_fail_list({"FailList": [{"UserID": 1, "ErrorCode": "2"}, {"UserID": 2, "ErrorCode": 23},
                                                     {"UserID": 3}]})
    assert [f.transient for f in failures] == [True, False, False]


def test_delete_result_spellings() -> None:
    assert rules.read_delete_result({"DeleteAll": 0, "DeletList": [1, "2"]})[:2] == (False, [1, 2])
    assert rules.read_delete_result({"DeleteAll": "1"})[:2] == (True, [])
    assert rules.read_delete_result({"DeleteList": "3,4"})[:2] == (False, [3, 4])
    assert rules.read_delete_result({"DeleteList": 5})[:2] == (False, [5])  # one id, not in a list
    assert rules.read_delete_result({"DeleteList": 1.5}) == (False, [], ["DeleteList item 1.5 is not a user id"])


def test_device_person_keeps_only_inline_biometrics() -> None:
    data = base64.b64encode(b"finger").decode()
    photo = make_jpeg(300, seed=1)
    person = rules.read_device_person({
        "UserID": "3", "Name": "888888", "Elevators": [1, 2], "ExpirationDate": MAX_EXPIRATION_DATE + 100,
        "Photo": base64.b64encode(photo).decode(),
        "FaceFeature": "http://abc.com/face/1.dat",
        "Fingerprints": [{"Num": 1, "Data": data, "MD5": "abcdefg"}, {"Num": 2, "Data": "/data/fp/2.dat"}],
        "Palmveins": [{"Data": data}],
    })
    assert person.user_id == 3 and person.fields["Elevators"] == "1,2"
    assert person.fields["ExpirationDate"] == MAX_EXPIRATION_DATE  # clamped (protocol.md 6.7)
    assert person.photo_inline == photo
    assert [(b.kind, b.num, b.md5) for b in person.biometrics] == [
        ("fingerprint", 1, hashlib.md5(data.encode()).hexdigest().upper())]
    notes = " | ".join(person.notes)
    assert "FaceFeature is a URL" in notes and "a path on the device" in notes and "no usable Num" in notes
    assert "MD5 abcdefg differs" in notes
    assert rules.read_device_person("not an object") is None


def test_device_photo_path_is_never_a_url() -> None:
    person = rules.read_device_person({"UserID": 3, "Photo": "/data/user_pic/x.jpg"})
    assert person.photo_inline is None and "path on the device" in person.notes[0]
