"""lenient_json reads what devices and the vendor document actually send (protocol.md 3.1, 3.2, 3.8)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from facectl.protocol import lenient_json
from facectl.protocol.lenient_json import JsonError, parse
from facectl.protocol.limits import MAX_JSON_DEPTH

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "requests"

#: The document's fingerprint example, unquoted keys and all (protocol.md 3.2).
FINGERPRINT_EXAMPLE = '{ Num: 1, Data: "http://abc.com/fp/1.dat", MD5: "abcdefg" }'

#: The shape of the document's DownloadPeopleListResult example (protocol.md 4.4): FailCount is
#: given twice, first as the count and then as the list, UserID as a number and as a string.
#: (The document's `xxx` placeholders and its missing brace are replaced by values.)
DOWNLOAD_PEOPLE_RESULT_EXAMPLE = """{
    "SN":"FC-8200H12345678",
    "SuccessCount":16,
    "FailCount":1,
    "FailCount":[
        {
            "UserID":444,
            "ErrorCode":20,
            "RepeatID":123,
            "ErrMsg" : ""
        },{
            "UserID":"445",
            "ErrorCode":20,
            "RepeatID":"123",
            "ErrMsg" : ""
        },
    ]
}"""


def _position(message: str) -> tuple[int, int]:
    m = re.search(r"line (\d+) column (\d+)", message)
    assert m, f"no position in {message!r}"
    return int(m.group(1)), int(m.group(2))


# --- strict fast path --------------------------------------------------------------------


def test_strict_json_takes_fast_path_without_quirks():
    result = parse(b'{"SN": "FC-8190H24052799", "List": [1, 2, {"a": null}]}')
    assert result.value == {"SN": "FC-8190H24052799", "List": [1, 2, {"a": None}]}
    assert result.quirks == []
    assert result.duplicate_keys == []


def test_strict_json_does_not_go_through_the_cleaner(monkeypatch):
    def boom(text):
        raise AssertionError("strict JSON must not be rewritten")

    monkeypatch.setattr(lenient_json, "_clean", boom)
    assert parse('{"a": [1, 2]}').value == {"a": [1, 2]}


def test_str_and_bytes_inputs_agree():
    assert parse('{"名字": "张三"}').value == parse('{"名字": "张三"}'.encode()).value == {"名字": "张三"}


# --- quirks the document and firmware produce -----------------------------------------


def test_keepalive_example_trailing_comma():
    raw = (EXAMPLES / "Keepalive.json").read_bytes()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)  # the example really is not strict JSON
    result = parse(raw)
    assert result.value["SN"] == "FC-8190H24052799"
    assert result.value["AlarmStatus"] == ""
    assert result.value["LockDoorStatus"] == 0
    assert "trailing comma" in result.quirks


def test_trailing_comma_in_object():
    result = parse('{"a": 1, "b": 2,}')
    assert result.value == {"a": 1, "b": 2}
    assert result.quirks == ["trailing comma"]


def test_trailing_comma_in_array_with_whitespace():
    result = parse('{"a": [1, 2, 3 ,\r\n\t ]}')
    assert result.value == {"a": [1, 2, 3]}
    assert "trailing comma" in result.quirks


def test_trailing_commas_nested():
    assert parse('{"a": [1, [2,], {"b": 3,},],}').value == {"a": [1, [2], {"b": 3}]}


def test_utf8_bom_is_removed_and_reported():
    result = parse(b'\xef\xbb\xbf{"SN": "FC-8190H24052799"}')
    assert result.value == {"SN": "FC-8190H24052799"}
    assert "utf-8 BOM" in result.quirks


def test_bom_in_text_input_is_removed_and_reported():
    # A str input with a BOM is forgiven the same way as bytes, so the quirk is reported too.
    result = parse('\ufeff{"SN": "FC-8190H24052799"}')
    assert result.value == {"SN": "FC-8190H24052799"}
    assert "utf-8 BOM" in result.quirks


def test_surrounding_whitespace():
    result = parse(b' \r\n\t {"a": 1} \r\n\n ')
    assert result.value == {"a": 1}
    assert result.quirks == []


def test_document_fingerprint_example_unquoted_keys():
    with pytest.raises(json.JSONDecodeError):
        json.loads(FINGERPRINT_EXAMPLE)
    result = parse(FINGERPRINT_EXAMPLE)
    assert result.value == {"Num": 1, "Data": "http://abc.com/fp/1.dat", "MD5": "abcdefg"}
    assert "unquoted key" in result.quirks


def test_document_fingerprint_list_unquoted_keys_and_trailing_comma():
    text = f'[ {FINGERPRINT_EXAMPLE}, {{ Num: 2, Data: "abc==", MD5: "abcdefg" }}, ]'
    result = parse(text)
    assert [item["Num"] for item in result.value] == [1, 2]
    assert result.value[0]["Data"] == "http://abc.com/fp/1.dat"
    assert set(result.quirks) >= {"unquoted key", "trailing comma"}


def test_unquoted_keys_nested_in_a_person():
    result = parse('{"UserID": "3", "Fingerprints": [{ Num: 1, Data: "x", MD5: "Y" }]}')
    assert result.value["Fingerprints"] == [{"Num": 1, "Data": "x", "MD5": "Y"}]


def test_bare_literals_are_not_taken_for_keys():
    result = parse("{ a: true, b: false, c: null, d: 1e5, }")
    assert result.value == {"a": True, "b": False, "c": None, "d": 1e5}


@pytest.mark.parametrize(
    "value",
    ["a,}", "a,]", "x: y", "Num: 1, Data: 2", '{"k": 1,}', '\\"q,}', "路径: /a,b/"],
)
def test_commas_and_colons_inside_strings_untouched(value):
    # The trailing comma forces the lenient path; the string value must come out unchanged.
    text = '{"v": ' + json.dumps(value, ensure_ascii=False) + ', k: "x: y,}",}'
    result = parse(text)
    assert result.value == {"v": value, "k": "x: y,}"}


def test_escaped_quote_does_not_end_a_string():
    result = parse(r'{"v": "he said \"a,}\" then left", w: 1,}')
    assert result.value == {"v": 'he said "a,}" then left', "w": 1}


# --- duplicate keys (protocol.md 3.8, 4.4) --------------------------------------------------


def test_upload_work_setting_duplicate_device_sn_last_wins():
    result = parse((EXAMPLES / "UploadWorkSetting.json").read_bytes())
    assert result.value["DeviceSN"] == "FC-8190H24052799"  # not the first, FC-8200H12345675
    assert result.duplicate_keys == ["DeviceSN"]
    assert any("duplicate keys" in q and "DeviceSN" in q for q in result.quirks)
    assert result.value["AlarmStatus"] == '""'  # kept as sent; settings.normalize_value maps it


def test_download_people_list_result_failcount_repeated_as_the_list():
    result = parse(DOWNLOAD_PEOPLE_RESULT_EXAMPLE)
    fails = result.value["FailCount"]  # last wins: the list, not the count
    assert isinstance(fails, list) and len(fails) == 2
    assert [f["UserID"] for f in fails] == [444, "445"]
    assert result.duplicate_keys == ["FailCount"]
    assert "trailing comma" in result.quirks
    assert any("FailCount" in q for q in result.quirks)


def test_duplicate_keys_in_nested_objects_are_reported():
    result = parse('{"a": {"x": 1, "x": 2}, "b": [{"y": 1, "y": 3}]}')
    assert result.value == {"a": {"x": 2}, "b": [{"y": 3}]}
    assert sorted(result.duplicate_keys) == ["x", "y"]


def test_keys_are_case_sensitive_not_duplicates():
    result = parse('{"SN": "a", "sn": "b"}')
    assert result.value == {"SN": "a", "sn": "b"}
    assert result.duplicate_keys == []


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   \r\n\t", "", b"\xef\xbb\xbf", b"\xef\xbb\xbf  \n"])
def test_empty_body_refused(body):
    with pytest.raises(JsonError, match="empty"):
        parse(body)


def test_non_utf8_refused_with_byte_position():
    with pytest.raises(JsonError, match="UTF-8") as info:
        parse(b'{"Name": "\xd5\xc5\xc8\xfd"}')  # GBK, not UTF-8
    assert "byte 10" in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{"a": 1 "b": 2}', 1, 9),
        ('{"a":\n  [1, 2\n}', 3, 1),
        ('{"a": }', 1, 7),
        ("not json at all", 1, 1),
    ],
)
def test_broken_json_refused_with_position(text, line, column):
    with pytest.raises(JsonError) as info:
        parse(text)
    assert _position(str(info.value)) == (line, column)


def test_broken_json_position_refers_to_the_input_even_after_cleaning():
    # The unquoted key makes the parser rewrite the text; the position it reports must
    # still point into the body the device sent: `x` is at column 13 of this input.
    text = '{a: 1, "b": x}'
    assert text.index("x") + 1 == 13
    with pytest.raises(JsonError) as info:
        parse(text)
    assert _position(str(info.value)) == (1, 13)


def test_json_error_is_a_value_error():
    assert issubclass(JsonError, ValueError)


def test_non_ascii_letter_outside_strings_is_a_json_error():
    # A broken body with a non-ASCII letter where a key could be must give JsonError,
    # not an internal error (the bare-key cleaner must not assume ASCII).
    with pytest.raises(JsonError):
        parse('{"a": 1, é: 2}'.encode())


def test_unterminated_string_is_a_json_error():
    with pytest.raises(JsonError):
        parse('{"a": "never closed, }')


# --- depth ---------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_limit_accepts_max_depth():
    result = parse(_nested(MAX_JSON_DEPTH))
    assert result.value == json.loads(_nested(MAX_JSON_DEPTH))


def test_depth_limit_refuses_one_more():
    with pytest.raises(JsonError, match="deep"):
        parse(_nested(MAX_JSON_DEPTH + 1))


def test_depth_limit_counts_objects_too():
    text = '{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(JsonError, match="deep"):
        parse(text)


def test_hundred_thousand_brackets_refused_without_recursion_error():
    try:
        parse("[" * 100_000)
    except JsonError:
        pass
    except RecursionError:  # pragma: no cover - the failure this test exists for
        pytest.fail("RecursionError escaped from lenient_json.parse")
    else:  # pragma: no cover
        pytest.fail("100k-deep input accepted")


def test_hundred_thousand_balanced_brackets_refused():
    with pytest.raises(JsonError):
        parse(_nested(100_000).encode())


def test_deep_input_on_the_lenient_path_refused_without_recursion_error():
    # The unquoted key sends the body through the cleaner first; the deep nesting is only
    # met on the second parse, which must be guarded as well as the first.
    text = "{a: " + "[" * 100_000
    try:
        parse(text)
    except JsonError:
        pass
    except RecursionError:
        pytest.fail("RecursionError escaped from the lenient path of lenient_json.parse")
    else:  # pragma: no cover
        pytest.fail("100k-deep input accepted")


# --- lone surrogate escapes --------------------------------------------------------------


def test_lone_surrogate_escapes_become_the_replacement_character_and_are_reported():
    parsed = parse(rb'{"Name": "a\udfffb", "\ud800": ["\udc00", 1]}')
    assert parsed.value == {"Name": "a\ufffdb", "\ufffd": ["\ufffd", 1]}
    assert parsed.quirks == ["3 lone surrogate(s) replaced with U+FFFD"]
    json.dumps(parsed.value, ensure_ascii=False).encode("utf-8")  # encodes: what the store needs


def test_surrogate_pair_is_one_character_and_not_a_quirk():
    parsed = parse(rb'{"Name": "\ud83d\ude00 \ud842\udfb7"}')
    assert parsed.value == {"Name": "\U0001f600 \U00020bb7"} and parsed.quirks == []


def test_escaped_backslash_before_u_is_not_a_surrogate():
    parsed = parse(rb'{"Path": "C:\\udfff"}')
    assert parsed.value == {"Path": "C:\\udfff"} and parsed.quirks == []


def test_lone_surrogate_on_the_lenient_path_and_in_a_str_input():
    assert parse(b'{Name: "\\udfff",}').value == {"Name": "\ufffd"}
    assert parse('{"Name": "x\udfff"}').value == {"Name": "x\ufffd"}
