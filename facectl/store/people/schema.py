"""The people tables, and the columns added since a database was created.

- `people`: one row per person, the operator's truth, with `version` (wants.py) and
  `scope_all` (1: every approved device; 0: the devices in `person_devices`).
- `people_seq`: the one counter versions come from (wants.py).
- `biometrics`: face feature, fingerprints and palm veins per (user_id, kind, num), as
  content-addressed files of base64 text. Keyed by user_id, not by person row, so what a
  device reports about someone the operator has not added yet is kept too.
- `device_people`: per (device, person) the version wanted and the one held, the page in
  flight, the last failure and its automatic retry (state.py says what they mean).
- `people_sync`: per device page counters, the DeleteAll request, the file mode, and when a
  factory reset was last handed out (`reset_at`).
- `device_reports`: each device's own latest word about each person (PushPeople).
- `enrolments`: RegisterIdentifyTicketResult results (linked to the commands that asked).
"""

from __future__ import annotations

from facectl.protocol import people as people_rules

from .base import COLS, PeopleBase
from .state import PENDING_ADD, PENDING_DELETE


class Schema(PeopleBase):
    """Creates what is missing; CREATE TABLE IF NOT EXISTS keeps old tables, so new columns are added apart."""

    def ensure_schema(self) -> None:
        field_cols = ",\n".join(
            f"{col} {'INTEGER' if wire in people_rules.INT_FIELDS else 'TEXT'}" for wire, col in COLS.items())
        self.db.executescript(f"""
            CREATE TABLE IF NOT EXISTS people (
                user_id INTEGER PRIMARY KEY,
                {field_cols},
                photo TEXT,
                photo_source TEXT,
                version INTEGER NOT NULL,
                scope_all INTEGER NOT NULL DEFAULT 1,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS people_name ON people(name);
            CREATE INDEX IF NOT EXISTS people_card_num ON people(card_num);
            CREATE INDEX IF NOT EXISTS people_qrcode ON people(qrcode);
            CREATE TABLE IF NOT EXISTS people_seq (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                value INTEGER NOT NULL
            );
            INSERT OR IGNORE INTO people_seq (id, value) VALUES (1, 0);
            CREATE TABLE IF NOT EXISTS person_devices (
                user_id INTEGER NOT NULL,
                sn TEXT NOT NULL,
                PRIMARY KEY (user_id, sn)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS person_devices_sn ON person_devices(sn);
            CREATE TABLE IF NOT EXISTS biometrics (
                user_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                num INTEGER NOT NULL,
                file TEXT NOT NULL,
                md5 TEXT NOT NULL,
                source_sn TEXT,
                at REAL NOT NULL,
                PRIMARY KEY (user_id, kind, num)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS device_people (
                sn TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                want INTEGER,
                have INTEGER,
                have_at REAL,
                inflight INTEGER,
                inflight_at REAL NOT NULL DEFAULT 0,
                inflight_page INTEGER,
                fail_code INTEGER,
                fail_version INTEGER,
                fail_repeat TEXT,
                fail_message TEXT,
                fail_at REAL,
                retry_at REAL,
                retries INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (sn, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS device_people_add ON device_people(sn, inflight_at)
                WHERE {PENDING_ADD};
            CREATE INDEX IF NOT EXISTS device_people_delete ON device_people(sn, inflight_at)
                WHERE {PENDING_DELETE};
            CREATE INDEX IF NOT EXISTS device_people_inflight ON device_people(sn, inflight_page)
                WHERE inflight IS NOT NULL;
            CREATE INDEX IF NOT EXISTS device_people_user ON device_people(user_id);
            CREATE TABLE IF NOT EXISTS people_sync (
                sn TEXT PRIMARY KEY,
                approved_at REAL,
                add_page INTEGER NOT NULL DEFAULT 0,
                delete_page INTEGER NOT NULL DEFAULT 0,
                wipe INTEGER NOT NULL DEFAULT 0,
                wipe_at REAL NOT NULL DEFAULT 0,
                inline_files INTEGER NOT NULL DEFAULT 0,
                last_page_at REAL,
                last_result_at REAL,
                reset_at REAL
            );
            CREATE TABLE IF NOT EXISTS device_reports (
                sn TEXT NOT NULL,
                user_id INTEGER NOT NULL,
                push_type INTEGER,
                present INTEGER NOT NULL,
                detail TEXT,
                photo TEXT,
                notes TEXT,
                received_at REAL NOT NULL,
                PRIMARY KEY (sn, user_id)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS device_reports_user ON device_reports(user_id);
            CREATE TABLE IF NOT EXISTS enrolments (
                id INTEGER PRIMARY KEY,
                sn TEXT NOT NULL,
                user_id INTEGER,
                result INTEGER,
                repetition_user_id INTEGER,
                photo TEXT,
                raw TEXT NOT NULL,
                raw_sha256 TEXT NOT NULL,
                notes TEXT,
                received_at REAL NOT NULL,
                command_id INTEGER
            );
            CREATE INDEX IF NOT EXISTS enrolments_sn ON enrolments(sn, received_at);
            CREATE INDEX IF NOT EXISTS enrolments_user ON enrolments(user_id);
        """)
        self._add_columns("device_people", {"retry_at": "REAL", "retries": "INTEGER NOT NULL DEFAULT 0"})
        # Factory reset at the terminal's menu, found from its settings upload (factory_reset.py).
        self._add_columns("people_sync", {"reset_at": "REAL", "lost_at": "REAL", "lost_note": "TEXT"})
        self.db.execute("CREATE INDEX IF NOT EXISTS device_people_retry ON device_people(sn, retry_at) "
                        "WHERE retry_at IS NOT NULL")

    def _add_columns(self, table: str, columns: dict[str, str]) -> None:
        """Columns added since a database was created (CREATE TABLE IF NOT EXISTS keeps old tables)."""
        have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns.items():
            if name not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
