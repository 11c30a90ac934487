"""Schema versions: every change to the database is a numbered migration, applied once.

`PRAGMA user_version` is the schema version: the number of migrations applied. Opening a
database runs the ones it lacks (sqlite_utils.migrations, which also lists them by name in
`_sqlite_migrations`), all in one `BEGIN IMMEDIATE` transaction: the first process to open
an old database takes the write lock and migrates, the others wait for it (busy timeout),
then find the work done. A database whose version is above SCHEMA_VERSION was written by
a newer facectl and is refused (SchemaTooNew), because this code would not know its columns.

To change the schema, append a function with `@migration` below the last one; never
edit one that has shipped (databases in the field have run it). A new column is three lines:

    @migration
    def records_outcome(db: sqlite_utils.Database) -> None:
        add_columns(db, "records", {"outcome": "TEXT"})

For a record field, `migration_text("mask")` in protocol/record_columns.py prints this
function with the column's type from the record spec.

Migration 1 is the schema as it was before versions existed, written out literally
(tests/fixtures/v1.db is such a database); it also completes databases older than that,
which lacked a few columns.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable

import sqlite_utils
from sqlite_utils.migrations import Migrations

from facectl.protocol.settings import zone_summary

from .db import StoreError
from .people.counters import create_counters, insert_trigger
from .people.implicit import USER_SPAN, since_key

MIGRATIONS = Migrations("facectl")
_STEPS: list[str] = []


class SchemaTooNew(StoreError):
    """The database was written by a newer facectl."""


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    """Register the next numbered migration (its number is its position)."""
    name = f"{len(_STEPS) + 1:04d}_{fn.__name__}"
    _STEPS.append(name)
    return MIGRATIONS(name=name)(fn)


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Bring the database to SCHEMA_VERSION; returns the version it had. Safe from several processes at once."""
    found = schema_version(db)
    _refuse_newer(found)
    if found == SCHEMA_VERSION:
        return found
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(db)  # another process may have migrated while this one waited
        _refuse_newer(found)
        if found < SCHEMA_VERSION:
            MIGRATIONS.apply(db)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"cannot bring the schema from version {found} to {SCHEMA_VERSION}: {exc}; "
                             "nothing was changed") from exc
        raise
    return found


def _refuse_newer(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the database has schema version {found}, newer than this facectl knows ({SCHEMA_VERSION}): "
            "it was written by a later release; upgrade facectl, or restore a backup made with this release")


def add_columns(db: sqlite_utils.Database, table: str, columns: dict[str, str]) -> None:
    """ALTER TABLE ADD COLUMN for each of `columns` (name -> declaration) the table lacks."""
    have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    for name, decl in columns.items():
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


# --- the migrations, in order ---------------------------------------------------------------

@migration
def initial(db: sqlite_utils.Database) -> None:
    """The schema before versions existed; databases made before it gain the columns it added late."""
    for table, columns in (
        ("device_people", {"retry_at": "REAL", "retries": "INTEGER NOT NULL DEFAULT 0"}),
        ("people_sync", {"reset_at": "REAL"}),
        ("quarantine", {"attempts": "INTEGER NOT NULL DEFAULT 0", "last_attempt_at": "REAL",
                        "first_reason": "TEXT", "replayed_at": "REAL", "replay_result": "TEXT"}),
    ):
        if db[table].exists():
            add_columns(db, table, columns)
    for statement in re.split(r";\s*\n", _V1):
        if statement.strip():
            db.execute(statement)


#: The schema before versions. What the people tables hold (store/people/ has the rules):
#: `people` one row per person, the operator's truth, with `version` and `scope_all` (1: every
#: approved device; 0: those in `person_devices`); `people_seq` the one counter versions come
#: from; `biometrics` face feature, fingerprints and palm veins per (user_id, kind, num) as
#: content-addressed files, keyed by user_id so what a device reports about someone not added
#: yet is kept too; `device_people` per (device, person) the version wanted and held, the page
#: in flight, the last failure and its retry; `people_sync` per device page counters, the
#: DeleteAll request, the file mode, the last factory reset; `device_reports` each device's
#: latest word about each person (PushPeople); `enrolments` RegisterIdentifyTicketResult results.
_V1 = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS files (
        sha256 TEXT PRIMARY KEY,
        md5 TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        created_at REAL NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS devices (
        sn TEXT PRIMARY KEY,
        state TEXT NOT NULL DEFAULT 'pending',
        first_seen REAL,
        last_seen REAL,
        last_endpoint TEXT,
        remote_addr TEXT,
        approved_at REAL,
        relay_status INTEGER,
        keep_open_status INTEGER,
        door_sensor_status INTEGER,
        lock_door_status INTEGER,
        alarm_status TEXT,
        status_at REAL,
        protocol TEXT NOT NULL DEFAULT 'v2',
        v1_path TEXT,
        v1_seen_at REAL,
        settings_requested INTEGER NOT NULL DEFAULT 0,
        firmware TEXT,
        face_version TEXT,
        fingerprint_version TEXT,
        keepalive_interval INTEGER,
        protocol_type INTEGER,
        person_capacity INTEGER,
        face_capacity INTEGER,
        card_capacity INTEGER,
        timezone INTEGER,
        device_name TEXT,
        note TEXT
    );
    CREATE TABLE IF NOT EXISTS settings (
        sn TEXT PRIMARY KEY REFERENCES devices(sn) ON DELETE CASCADE,
        document TEXT NOT NULL,
        uploaded_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS settings_history (
        id INTEGER PRIMARY KEY,
        sn TEXT NOT NULL REFERENCES devices(sn) ON DELETE CASCADE,
        at REAL NOT NULL,
        changes TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS setting_changes (
        id INTEGER PRIMARY KEY,
        sn TEXT NOT NULL REFERENCES devices(sn) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        state TEXT NOT NULL,
        requested_at REAL NOT NULL,
        delivered_at REAL,
        checked_at REAL,
        device_value TEXT
    );
    CREATE TABLE IF NOT EXISTS records (
        id INTEGER PRIMARY KEY,
        sn TEXT NOT NULL,
        kind TEXT NOT NULL,
        record_id INTEGER NOT NULL,
        record_type INTEGER NOT NULL,
        record_date INTEGER NOT NULL,
        user_id TEXT,
        code TEXT,
        name TEXT,
        identity_card TEXT,
        job TEXT,
        department TEXT,
        card_num TEXT,
        qrcode TEXT,
        is_entry INTEGER,
        body_temp INTEGER,
        photo_len INTEGER,
        photo TEXT REFERENCES files(sha256),
        decision INTEGER,
        reason TEXT,
        detail TEXT NOT NULL,
        warnings TEXT,
        received_at REAL NOT NULL,
        UNIQUE (sn, kind, record_id, record_date)
    );
    CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY,
        sn TEXT,
        endpoint TEXT NOT NULL,
        reason TEXT NOT NULL,
        content_type TEXT,
        content_encoding TEXT,
        remote_addr TEXT,
        received_at REAL NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        body BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt_at REAL,
        first_reason TEXT,
        replayed_at REAL,
        replay_result TEXT,
        UNIQUE (sn, sha256)
    );
    CREATE TABLE IF NOT EXISTS snapshots (
        id INTEGER PRIMARY KEY,
        sn TEXT NOT NULL,
        photo TEXT NOT NULL REFERENCES files(sha256),
        received_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS commands (
        id INTEGER PRIMARY KEY,
        sn TEXT NOT NULL REFERENCES devices(sn) ON DELETE CASCADE,
        field TEXT NOT NULL,
        value TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        sent_at REAL,
        finished_at REAL,
        batch INTEGER,
        note TEXT,
        progress TEXT
    );
    CREATE TABLE IF NOT EXISTS command_followups (
        id INTEGER PRIMARY KEY,
        command_id INTEGER NOT NULL REFERENCES commands(id) ON DELETE CASCADE,
        endpoint TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS people (
        user_id INTEGER PRIMARY KEY,
        code TEXT,
        name TEXT,
        job TEXT,
        department TEXT,
        identity_card TEXT,
        attachment TEXT,
        password TEXT,
        card_num TEXT,
        qrcode TEXT,
        access_type INTEGER,
        expiration_date INTEGER,
        open_times INTEGER,
        keep_open INTEGER,
        timegroup INTEGER,
        holidays TEXT,
        elevators TEXT,
        photo TEXT,
        photo_source TEXT,
        version INTEGER NOT NULL,
        scope_all INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
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
    CREATE INDEX IF NOT EXISTS settings_history_sn ON settings_history(sn, at);
    CREATE INDEX IF NOT EXISTS setting_changes_sn ON setting_changes(sn, state);
    CREATE INDEX IF NOT EXISTS records_sn_date ON records(sn, record_date);
    CREATE INDEX IF NOT EXISTS records_date ON records(record_date);
    CREATE INDEX IF NOT EXISTS records_user ON records(user_id);
    CREATE INDEX IF NOT EXISTS snapshots_sn ON snapshots(sn, received_at);
    CREATE INDEX IF NOT EXISTS commands_queue ON commands(sn, state, id);
    CREATE INDEX IF NOT EXISTS commands_state ON commands(state, expires_at);
    CREATE INDEX IF NOT EXISTS command_followups_command ON command_followups(command_id);
    CREATE INDEX IF NOT EXISTS people_name ON people(name);
    CREATE INDEX IF NOT EXISTS people_card_num ON people(card_num);
    CREATE INDEX IF NOT EXISTS people_qrcode ON people(qrcode);
    CREATE INDEX IF NOT EXISTS person_devices_sn ON person_devices(sn);
    CREATE INDEX IF NOT EXISTS device_people_add ON device_people(sn, inflight_at)
        WHERE want IS NOT NULL AND want IS NOT have AND fail_version IS NOT want;
    CREATE INDEX IF NOT EXISTS device_people_delete ON device_people(sn, inflight_at)
        WHERE want IS NULL AND have IS NOT NULL;
    CREATE INDEX IF NOT EXISTS device_people_inflight ON device_people(sn, inflight_page)
        WHERE inflight IS NOT NULL;
    CREATE INDEX IF NOT EXISTS device_people_user ON device_people(user_id);
    CREATE INDEX IF NOT EXISTS device_reports_user ON device_reports(user_id);
    CREATE INDEX IF NOT EXISTS enrolments_sn ON enrolments(sn, received_at);
    CREATE INDEX IF NOT EXISTS enrolments_user ON enrolments(user_id);
    CREATE INDEX IF NOT EXISTS device_people_retry ON device_people(sn, retry_at) WHERE retry_at IS NOT NULL;
"""


@migration
def retention_indexes(db: sqlite_utils.Database) -> None:
    """Indexes that let retention find old rows, and the last user of a file, without a scan."""
    for statement in (
        "CREATE INDEX IF NOT EXISTS records_received ON records(received_at)",
        "CREATE INDEX IF NOT EXISTS records_photo ON records(photo) WHERE photo IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS snapshots_received ON snapshots(received_at)",
        "CREATE INDEX IF NOT EXISTS snapshots_photo ON snapshots(photo)",
        "CREATE INDEX IF NOT EXISTS people_photo ON people(photo) WHERE photo IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS biometrics_file ON biometrics(file)",
        "CREATE INDEX IF NOT EXISTS device_reports_photo ON device_reports(photo) WHERE photo IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS enrolments_photo ON enrolments(photo) WHERE photo IS NOT NULL",
    ):
        db.execute(statement)


@migration
def people_removed(db: sqlite_utils.Database) -> None:
    """Who was removed and when their devices' copies were purged (store/retention.py, biometric data)."""
    db.execute("""
        CREATE TABLE IF NOT EXISTS people_removed (
            user_id INTEGER PRIMARY KEY,
            removed_at REAL NOT NULL,
            purged_at REAL
        )""")


@migration
def people_lost_at_terminal(db: sqlite_utils.Database) -> None:
    """When a terminal was found reset at its own menu, and why (store/people/factory_reset.py)."""
    add_columns(db, "people_sync", {"lost_at": "REAL", "lost_note": "TEXT"})


@migration
def event_outbox(db: sqlite_utils.Database) -> None:
    """The event outbox, each device's presence as last announced, and each receiver's cursor (store/events.py)."""
    for statement in (
        """CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            sn TEXT,
            at REAL NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS events_at ON events(at)",
        """CREATE TABLE IF NOT EXISTS event_presence (
            sn TEXT PRIMARY KEY,
            online INTEGER NOT NULL,
            alarms TEXT,
            changed_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS event_delivery (
            receiver TEXT PRIMARY KEY,
            url TEXT,
            delivered_id INTEGER NOT NULL DEFAULT 0,
            delivered_at REAL,
            last_error TEXT,
            last_error_at REAL,
            skipped INTEGER NOT NULL DEFAULT 0
        )""",
    ):
        db.execute(statement)


@migration
def device_clock_and_zone(db: sqlite_utils.Database) -> None:
    """The last implausible RecordDate a device sent, and when (protocol.md 8.4); the time zone as a label.

    `devices.timezone` held whole hours; it now holds the zone's label ("UTC+05:30"), recomputed
    here from each device's last settings upload by the one zone reader (protocol.md 8.5).
    """
    add_columns(db, "devices", {"clock_problem": "TEXT", "clock_problem_at": "REAL"})
    for sn, document in db.execute("SELECT sn, document FROM settings").fetchall():
        try:
            doc = json.loads(document)
        except (TypeError, ValueError):
            continue
        if isinstance(doc, dict):
            db.execute("UPDATE devices SET timezone = ? WHERE sn = ?", [zone_summary(doc), sn])


@migration
def refused_input(db: sqlite_utils.Database) -> None:
    """What is kept of input the server refused or could not use (protocol.md 9, hostile input):
    the answer each quarantine item was given and whether its bytes were kept (0: past the
    device's budget, metadata only); per source address, a small sample of refused bodies."""
    add_columns(db, "quarantine", {"answer": "TEXT", "bytes_kept": "INTEGER NOT NULL DEFAULT 1"})
    for statement in (
        """CREATE TABLE IF NOT EXISTS refused_samples (
            remote_addr TEXT PRIMARY KEY,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            requests INTEGER NOT NULL,
            bytes_received INTEGER NOT NULL,
            sn TEXT,
            endpoint TEXT NOT NULL,
            reason TEXT NOT NULL,
            answer TEXT,
            size INTEGER NOT NULL,
            sample BLOB NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS refused_samples_last_seen ON refused_samples (last_seen)",
    ):
        db.execute(statement)


@migration
def people_counters(db: sqlite_utils.Database) -> None:
    """People at scale: per-device delivery counters kept by triggers (`people_counts`), the
    failed rows' index `device_people_failed`, and `device_people_unneeded` (rows nobody needs,
    empty between transactions). Existing rows are counted once here (store/people/counters.py)."""
    create_counters(db)
    db.execute("CREATE INDEX IF NOT EXISTS device_people_unneeded ON device_people(user_id) "
               "WHERE want IS NULL AND have IS NULL AND inflight IS NULL")


@migration
def people_cursors(db: sqlite_utils.Database) -> None:
    """People at scale: a device's wants for people for all devices are rows up to its cursor only
    (store/people/implicit.py). `people.since` orders those people (index `people_since`),
    `people_sync.through` is each device's cursor. An existing database has a row for every
    (approved device, person): every person gets the key of change 0 and every device a cursor
    past all of them, so each row, delivered, in flight, failed or to delete, keeps its meaning
    and nothing is handed out differently; people added later, and devices approved later, are
    implicit. Adding people writes no rows now, so the flag with which a bulk insert counted its
    own rows (`people_counts_paused`, tested by the insert trigger) goes."""
    add_columns(db, "people", {"since": "INTEGER NOT NULL DEFAULT 0"})
    add_columns(db, "people_sync", {"through": "INTEGER NOT NULL DEFAULT 0"})
    db.execute("UPDATE people SET since = user_id")  # since_key(0, user_id)
    db.execute("CREATE INDEX IF NOT EXISTS people_since ON people(since) WHERE scope_all = 1")
    db.execute("INSERT OR IGNORE INTO people_sync (sn) SELECT sn FROM devices")
    db.execute("UPDATE people_sync SET through = ?", [since_key(0, USER_SPAN - 1)])
    db.execute("DROP TRIGGER IF EXISTS people_counts_insert")
    db.execute(insert_trigger())
    db.execute("DROP TABLE IF EXISTS people_counts_paused")


# --- new migrations go above this line --------------------------------------------------------

#: The version this code writes: the number of migrations above.
SCHEMA_VERSION = len(_STEPS)
