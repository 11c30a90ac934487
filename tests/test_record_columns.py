"""The record column spec (protocol/record_columns.py) against the schema, the catalog and the reader.

Every reader of a record field takes it from the spec, so these tests check the spec's
promises: each column exists in the database with its type (a field added without its
migration fails here), the catalog lists exactly the spec's fields, and the reader keeps
each field by its type, under any of its spellings.
"""

from __future__ import annotations

import pytest
import sqlite_utils

from facectl.protocol import records as record_rules
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.record_columns import (
    COLUMN_NAMES,
    INTEGER,
    RECORD_COLUMNS,
    TEXT,
    RecordColumn,
    migration_text,
)
from facectl.store import Store
from facectl.store.migrations import add_columns


def test_every_spec_column_is_in_a_fresh_database_with_its_type(store: Store) -> None:
    have = {row[1]: row[2] for row in store.db.execute("PRAGMA table_info(records)")}
    assert {c.column: have.get(c.column) for c in RECORD_COLUMNS} == {c.column: c.sql for c in RECORD_COLUMNS}
    assert [c for c in have if c in COLUMN_NAMES] == list(COLUMN_NAMES)  # INSERT order is table order


def test_the_printed_migration_adds_the_columns_with_their_types() -> None:
    text = migration_text("body_temp", "card_num")
    assert text.startswith("@migration\ndef records_body_temp_card_num(db: sqlite_utils.Database) -> None:\n")
    steps: dict[str, object] = {}
    exec(text, {"migration": lambda fn: steps.setdefault("fn", fn), "add_columns": add_columns,
                "sqlite_utils": sqlite_utils})
    db = sqlite_utils.Database(memory=True)
    db.execute("CREATE TABLE records (id INTEGER PRIMARY KEY)")
    steps["fn"](db)  # type: ignore[operator]
    assert [r[1:3] for r in db.execute("PRAGMA table_info(records)")] == [
        ("id", "INTEGER"), ("body_temp", "INTEGER"), ("card_num", "TEXT")]
    with pytest.raises(KeyError):
        migration_text("no_such_column")


@pytest.mark.parametrize("endpoint", ["UploadIdentifyRecord", "RequestAuthorization"])
def test_the_catalog_lists_the_identity_then_every_spec_field(endpoint: str) -> None:
    detail = ENDPOINTS[endpoint].detail
    assert [f.name for f in detail] == ["RecordID", "RecordType", "RecordDate", *(c.wire for c in RECORD_COLUMNS)]
    for field, column in zip(detail[3:], RECORD_COLUMNS, strict=True):
        assert (field.type, field.max_bytes, field.aliases) == (column.wire_type, column.max_bytes, column.aliases)


def test_wire_names_and_columns_are_unique() -> None:
    spellings = [name for c in RECORD_COLUMNS for name in c.names]
    assert len(spellings) == len(set(spellings))
    assert len(COLUMN_NAMES) == len(set(COLUMN_NAMES))


def test_an_alias_is_read_when_the_usual_name_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    temp = RecordColumn("BodyTemp", "body_temp", INTEGER, aliases=("Temperature",))
    card = RecordColumn("CardNum", "card_num", TEXT, 4, aliases=("CardNo",))
    monkeypatch.setattr(record_rules, "RECORD_COLUMNS", (temp, card))
    base = {"RecordID": 1, "RecordType": 3, "RecordDate": 1_718_616_771}

    record = record_rules.identify_record({**base, "Temperature": "365", "CardNo": " 123456 "})
    assert record.fields == {"body_temp": 365, "card_num": "123456"}
    assert record.warnings == ["CardNo is 6 bytes, over 4"]

    both = record_rules.identify_record({**base, "BodyTemp": 370, "Temperature": 365})
    assert both.fields == {"body_temp": 370}  # the usual spelling wins

    odd = record_rules.identify_record({**base, "Temperature": "warm"})
    assert odd.fields == {"body_temp": None}
    assert odd.warnings == ["Temperature is not a 64-bit integer: 'warm'"]


def test_a_text_field_sent_as_null_is_left_out_and_an_integer_one_is_kept_as_null() -> None:
    record = record_rules.identify_record({"RecordID": 1, "RecordType": 3, "RecordDate": 1_718_616_771,
                                           "Name": None, "IsEntry": None})
    assert record.fields == {"is_entry": None}
    assert record.warnings == []
