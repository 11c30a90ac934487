"""Photos and biometrics: files stored once by content (store/files.py), which people rows point at.

- **Biometrics are never lost** (protocol.md 6.5): every base64 face feature, fingerprint and palm
  vein a device reports (PushPeople, RegisterIdentifyTicketResult) is kept and sent with
  every later update. A new or changed biometric of a known person makes a new version, so
  it reaches the person's other devices. An operator replacing the photo drops the old face
  feature (it describes the old face) unless a new one is given at the same time.

A photo from a device is checked as an operator's is before it is kept: one the devices
would not accept is noted in the report and not stored.
"""

from __future__ import annotations

from typing import Any

from facectl.protocol import people as people_rules

from .context import PeopleContext

FEATURE_TYPE = "text/plain"
PHOTO_TYPE = "image/jpeg"


class Biometrics:
    """The `biometrics` rows and the people's photos, whoever gives them (operator, PushPeople, enrolment)."""

    def __init__(self, ctx: PeopleContext) -> None:
        self.db = ctx.db
        self.files = ctx.files

    def of(self, user_id: int) -> list[dict[str, Any]]:
        """A person's biometrics, by kind and number (`store.people.biometrics`)."""
        return list(self.db.query(
            "SELECT kind, num, file, md5, source_sn, at FROM biometrics WHERE user_id = ? ORDER BY kind, num",
            [user_id]))

    def put(self, uid: int, kind: str, num: int, text: str, source_sn: str | None, t: float) -> bool:
        """Keep a base64 biometric as a file; True when it is new or changed (a new version follows)."""
        stored = self.files.put(text.encode("ascii"), FEATURE_TYPE)
        return self.db.execute(
            "INSERT INTO biometrics (user_id, kind, num, file, md5, source_sn, at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id, kind, num) DO UPDATE SET file = excluded.file, md5 = excluded.md5, "
            "source_sn = excluded.source_sn, at = excluded.at WHERE biometrics.file IS NOT excluded.file",
            [uid, kind, num, stored.sha256, stored.md5, source_sn, t]).rowcount > 0

    def drop(self, uid: int, kind: str, num: int) -> bool:
        """Forget one biometric; True when there was one."""
        return self.db.execute("DELETE FROM biometrics WHERE user_id = ? AND kind = ? AND num = ?",
                               [uid, kind, num]).rowcount > 0

    def keep_device_photo(self, photo: bytes | None, person: people_rules.DevicePerson | None,
                          notes: list[str]) -> str | None:
        """A device's photo (a part, else inline) kept as a file when the devices would accept it; else a note."""
        data = photo or (person.photo_inline if person else None)
        if not data:
            return None
        try:
            people_rules.check_photo(data, "device photo")
        except people_rules.PersonError as exc:
            notes.append(f"{exc}; not kept")
            return None
        return self.files.put(data, PHOTO_TYPE).sha256

    def latest_reported_photo(self, uid: int) -> tuple[str, str] | None:
        """(photo, device) of the newest photo a device reported for this user id, for a person added later."""
        row = self.db.execute(
            "SELECT photo, sn FROM (SELECT photo, sn, received_at FROM device_reports WHERE user_id = ? "
            "AND photo IS NOT NULL UNION ALL SELECT photo, sn, received_at FROM enrolments WHERE user_id = ? "
            "AND result = 1 AND photo IS NOT NULL) ORDER BY received_at DESC LIMIT 1", [uid, uid]).fetchone()
        return (row[0], row[1]) if row else None
