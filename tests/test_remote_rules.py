"""RemoteCommand rules (protocol.commands): building, collisions, merging, both ticket forms."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES

from facectl.protocol import commands as rules
from facectl.protocol.commands import CommandError, Queued
from facectl.protocol.endpoints import ENDPOINTS

SHA = "a" * 64
SHA2 = "b" * 64


def q(field: str, value: object) -> Queued:
    return Queued(field, rules.validate(field, value))


def test_every_catalog_field_has_a_rule_and_a_lifetime() -> None:
    fields = [f.name for f in ENDPOINTS["RemoteCommand"].response if f.name not in ("Success", "Message")]
    assert list(rules.SPECS) == fields
    for name in fields:
        expected = 60 if name == "Opendoor" or "Elevator" in name or name == "Closealarm" else 24 * 3600
        assert rules.SPECS[name].default_ttl == expected, name
    assert {f for f, s in rules.SPECS.items() if s.follow_up} == {
        "Snapshoot", "RegisterIdentifyTicket", "PushAllPeople", "QueryPeople"}


@pytest.mark.parametrize(("field", "value", "stored"), [
    ("Restart", 1, 1), ("Recover", "1", 1), ("Closealarm", True, 1), ("Snapshoot", 1, 1),
    ("Opendoor", "4", 4), ("OpenElevatorPort", "3, 1,2,3", "1,2,3"), ("LockElevatorPort", [64, 2], "2,64"),
    ("QueryPeople", ["7", 3, 7], [7, 3]),
    ("RegisterIdentifyTicket", {"RegisterType": 3, "UserID": "9", "RegisterIndex": 0},
     {"RegisterType": 3, "UserID": 9, "RegisterIndex": 0}),
    ("PushSoftware", {"File": SHA, "SoftwareVer": " 8.47 "}, {"File": SHA, "Ext": ".bin", "SoftwareVer": "8.47"}),
])
def test_validate_canonical_values(field: str, value: object, stored: object) -> None:
    assert rules.validate(field, value) == stored


@pytest.mark.parametrize(("field", "value", "words"), [
    ("Restart", 0, "takes 1"), ("Opendoor", 6, "1-5"), ("Opendoor", "x", "number"),
    ("OpenElevatorPort", "0", "1-64"), ("OpenElevatorPort", "65", "1-64"), ("OpenElevatorPort", "", "at least one"),
    ("QueryPeople", [], "at least one"), ("QueryPeople", [4294967296], "1-4294967295"),
    ("RegisterIdentifyTicket", {"RegisterType": 6}, "1-5"),
    ("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1, "RegisterIndex": 1}, "not to a face"),
    ("RegisterIdentifyTicket", {"RegisterType": 3, "UserID": 1, "RegisterIndex": 10}, "0-9"),
    ("RegisterIdentifyTicket", {"RegisterType": 5, "UserID": 1, "RegisterIndex": 0}, "1-2"),
    ("PushSoftware", {"File": "nope", "SoftwareVer": "1"}, "stored file"),
    ("PushSoftware", {"File": SHA, "SoftwareVer": ""}, "version"),
    ("PushSystemFile", [{"FileType": 1, "FileIndex": 9, "File": SHA}], "1-8"),
    ("PushSystemFile", [{"FileType": 1, "FileIndex": 1, "File": SHA}, {"FileType": 1, "FileIndex": 1,
                                                                       "IsDelete": 1}], "same image slot"),
    ("Bogus", 1, "not a RemoteCommand field"),
])
def test_validate_refuses_with_a_reason(field: str, value: object, words: str) -> None:
    with pytest.raises(CommandError, match=words):
        rules.validate(field, value)


def test_builders() -> None:
    assert rules.opendoor("hold-open") == ("Opendoor", 2)
    assert [rules.opendoor(a)[1] for a in ("open", "hold-open", "close", "lock", "unlock")] == [1, 2, 3, 4, 5]
    assert rules.elevator("lock", "5,1") == ("LockElevatorPort", "1,5")
    assert rules.register_ticket("palm", 12, 2) == ("RegisterIdentifyTicket",
                                                    {"RegisterType": 5, "UserID": 12, "RegisterIndex": 2})
    assert rules.register_ticket("face", 1) == ("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})
    assert rules.system_file(1, 3, None) == ("PushSystemFile", [{"FileType": 1, "FileIndex": 3, "IsDelete": 1}])
    assert rules.system_file(2, 1, SHA, ".png")[1] == [
        {"FileType": 2, "FileIndex": 1, "IsDelete": 0, "File": SHA, "Ext": ".png"}]
    with pytest.raises(CommandError):
        rules.opendoor("explode")


def test_exclusive_commands_collide_with_everything() -> None:
    for exclusive in (q("Restart", 1), q("Recover", 1), q("PushSoftware", {"File": SHA, "SoftwareVer": "1"})):
        for other in (q("Opendoor", 1), q("Snapshoot", 1), exclusive):
            assert rules.collides(exclusive, other) and rules.collides(other, exclusive)


@pytest.mark.parametrize(("a", "b", "collide"), [
    (("Opendoor", 1), ("Opendoor", 1), False),            # identical: one pulse
    (("Opendoor", 2), ("Opendoor", 3), True),             # hold open then close: order matters
    (("Opendoor", 1), ("Closealarm", 1), False),
    (("QueryPeople", [1]), ("QueryPeople", [2]), False),  # ids joined
    (("QueryPeople", [1]), ("PushAllPeople", 1), True),
    (("ClearRecord", 1), ("RepostRecord", 1), True),
    (("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1}), ("RegisterIdentifyTicket",
                                                                    {"RegisterType": 4, "UserID": 2}), True),
    (("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1}), ("Snapshoot", 1), True),
    (("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1}), ("Opendoor", 1), False),
    (("OpenElevatorPort", "1,2"), ("OpenElevatorPort", "2,3"), False),  # ports joined
    (("OpenElevatorPort", "1,2"), ("LockElevatorPort", "3"), False),    # different ports
    (("OpenElevatorPort", "1,2"), ("LockElevatorPort", "2"), True),     # same port, two actions
    (("PushSystemFile", [{"FileType": 1, "FileIndex": 1, "File": SHA}]),
     ("PushSystemFile", [{"FileType": 1, "FileIndex": 2, "File": SHA2}]), False),
    (("PushSystemFile", [{"FileType": 1, "FileIndex": 1, "File": SHA}]),
     ("PushSystemFile", [{"FileType": 1, "FileIndex": 1, "IsDelete": 1}]), True),
])
def test_collisions(a: tuple, b: tuple, collide: bool) -> None:
    assert rules.collides(q(*a), q(*b)) is collide
    assert rules.collides(q(*b), q(*a)) is collide


def test_select_keeps_order_and_never_overtakes() -> None:
    queue = [q("Opendoor", 2), q("Snapshoot", 1), q("Opendoor", 3), q("Closealarm", 1), q("Restart", 1),
             q("Opendoor", 1)]
    # Opendoor 3 waits behind 2; Restart goes alone; Opendoor 1 collides with the waiting
    # Opendoor 3 (different value) and the waiting Restart, so it must not overtake them.
    assert rules.select(queue) == [0, 1, 3]
    assert rules.select([q("Restart", 1), q("Opendoor", 1)]) == [0]
    assert rules.select([]) == []


def test_merge_joins_lists_and_keeps_catalog_order() -> None:
    answer = rules.merge([("Snapshoot", 1), ("QueryPeople", [3, 1]), ("Opendoor", 1), ("QueryPeople", [1, 5]),
                          ("OpenElevatorPort", "2"), ("OpenElevatorPort", "1,2"), ("Opendoor", 1),
                          ("PushSystemFile", [{"FileIndex": 1}]), ("PushSystemFile", [{"FileIndex": 2}])])
    assert answer == {"Opendoor": 1, "QueryPeople": [3, 1, 5],
                      "PushSystemFile": [{"FileIndex": 1}, {"FileIndex": 2}], "Snapshoot": 1,
                      "OpenElevatorPort": "1,2"}
    assert list(answer) == ["Opendoor", "QueryPeople", "PushSystemFile", "Snapshoot", "OpenElevatorPort"]
    with pytest.raises(CommandError):
        rules.merge([("Opendoor", 2), ("Opendoor", 3)])


def test_render_builds_urls_and_upper_case_md5() -> None:
    def resolve(sha: str, ext: str) -> tuple[str, str]:
        return f"http://h/files/{sha}{ext}", "abcdef0123"

    sw = rules.render("PushSoftware", rules.validate("PushSoftware", {"File": SHA, "SoftwareVer": "9"}), resolve)
    assert sw == {"SoftwareURL": f"http://h/files/{SHA}.bin", "SoftwareMD5": "ABCDEF0123", "SoftwareVer": "9"}
    files = rules.render("PushSystemFile", [{"FileType": 1, "FileIndex": 2, "IsDelete": 0, "File": SHA, "Ext": ".jpg"},
                                            {"FileType": 1, "FileIndex": 3, "IsDelete": 1}], resolve)
    assert files == [
        {"FileURL": f"http://h/files/{SHA}.jpg", "FileMD5": "ABCDEF0123", "FileType": 1, "FileIndex": 2,
         "IsDelete": 0},
        {"FileURL": "", "FileMD5": "", "FileType": 1, "FileIndex": 3, "IsDelete": 1},
    ]
    assert rules.render("Opendoor", 1, resolve) == 1


def test_decode_answer_reads_both_ticket_forms() -> None:
    """protocol.md 4.6: the table's object and the example's flat form decode to the same ticket."""
    flat = {"Success": 1, "RegisterIdentifyTicket": 4, "RegisterIdentifyUserID": 1}
    obj = {"Success": 1, "RegisterIdentifyTicket": {"RegisterType": 4, "UserID": 1}}
    assert rules.decode_answer(flat) == rules.decode_answer(obj) == [
        ("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})]
    # The document names no flat index key: a guessed one is not read (and cannot refuse the ticket).
    assert rules.decode_answer({"RegisterIdentifyTicket": 3, "RegisterIdentifyUserID": "2",
                                "RegisterIdentifyIndex": 5}) == [
        ("RegisterIdentifyTicket", {"RegisterType": 3, "UserID": 2})]
    assert rules.decode_answer({"RegisterIdentifyTicket": 4, "RegisterIdentifyUserID": 1,
                                "RegisterIdentifyIndex": 0}) == [
        ("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 1})]


def test_decode_answer_drops_an_index_a_credential_does_not_have() -> None:
    """A face has no index: a server that sends RegisterIndex 0 anyway still gets its enrolment."""
    answer = {"Success": 1, "RegisterIdentifyTicket": {"RegisterType": 4, "UserID": 3, "RegisterIndex": 0}}
    assert rules.decode_answer(answer) == [("RegisterIdentifyTicket", {"RegisterType": 4, "UserID": 3})]
    # ... while queuing one is refused, and an out-of-range fingerprint index is unreadable
    with pytest.raises(CommandError, match="not to a face"):
        rules.validate("RegisterIdentifyTicket", answer["RegisterIdentifyTicket"])
    with pytest.raises(CommandError, match="0-9"):
        rules.decode_answer({"RegisterIdentifyTicket": {"RegisterType": 3, "UserID": 3, "RegisterIndex": 12}})


@pytest.mark.parametrize(("value", "ports"), [
    ("1,2,3", "1,2,3"), ("3, 1", "1,3"), ("1 2", "1,2"), (3, "3"), ("3", "3"), ([2, "1"], "1,2")])
def test_decode_answer_reads_every_port_form(value: object, ports: str) -> None:
    """Ports as the document writes them (a comma string) and as a list, a lone number or spaces (4.7)."""
    assert rules.decode_answer({"KeepOpenElevatorPort": value}) == [("KeepOpenElevatorPort", ports)]


def test_read_answer_keeps_what_it_can_read() -> None:
    """A terminal carries out the readable fields; the unreadable ones are named, not dropped silently."""
    read = rules.read_answer({"Success": 1, "Opendoor": 9, "Snapshoot": 1, "OpenElevatorPort": "65",
                              "Restart": "yes", "Bogus": 1})
    assert read.commands == [("Snapshoot", 1)]
    assert [f for f, _ in read.unreadable] == ["Restart", "Opendoor", "OpenElevatorPort"]
    assert "1-64" in dict(read.unreadable)["OpenElevatorPort"]
    with pytest.raises(CommandError, match="Restart"):
        rules.decode_answer({"Restart": "yes"})


def test_decode_answer_document_examples_and_zero_means_nothing() -> None:
    assert rules.decode_answer({"Success": 1, "Opendoor": 1}) == [("Opendoor", 1)]
    assert rules.decode_answer({"Success": 1, "QueryPeople": [1, 2, 3, 4, 5, 6]}) == [
        ("QueryPeople", [1, 2, 3, 4, 5, 6])]
    assert rules.decode_answer({"Success": 1, "Restart": 0, "Opendoor": 0, "QueryPeople": []}) == []
    sw = {"SoftwareURL": "http://x/f.bin", "SoftwareMD5": "AB", "SoftwareVer": "8.47"}
    assert rules.decode_answer({"PushSoftware": sw, "OpenElevatorPort": "2,1"}) == [
        ("PushSoftware", sw), ("OpenElevatorPort", "1,2")]
    example = EXAMPLES / "RemoteCommand.json"
    if example.exists():  # the request example (SN only) carries no commands
        assert rules.decode_answer(json.loads(example.read_text(encoding="utf-8"))) == []


def test_describe_is_readable() -> None:
    assert rules.describe("Opendoor", 2) == "door: keep open"
    assert rules.describe("RegisterIdentifyTicket", {"RegisterType": 3, "UserID": 7, "RegisterIndex": 1}) == (
        "enrol fingerprint #1 for user 7")
    assert rules.describe("PushSystemFile", [{"FileType": 2, "FileIndex": 1, "IsDelete": 0, "File": SHA}]) == (
        "screen: set boot image")
