"""People read back: by user id, a page of them with their delivery, all for export, by credential.

`find_by_credential` serves RequestAuthorization (server/handlers/authorization.py): a
device asks whether the person at its door may pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from facectl.protocol import people as people_rules
from facectl.protocol.numbers import as_uint

from .biometrics import Biometrics
from .context import COLS, PeopleContext
from .implicit import Implicit
from .wants import ALL


class Lookup:
    """Read-only queries on `people` (and its photo and biometrics) for the operator and the handlers."""

    def __init__(self, ctx: PeopleContext, biometrics: Biometrics, implicit: Implicit) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.files = ctx.files
        self.biometrics = biometrics
        self.implicit = implicit

    def all_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT user_id FROM people ORDER BY user_id")]

    def exists(self, user_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM people WHERE user_id = ?", [user_id]).fetchone() is not None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM people").fetchone()[0]

    def get(self, user_id: int) -> dict[str, Any] | None:
        """A person with fields (wire names), photo, biometrics and scope; None when unknown."""
        row = self.ctx.row(user_id)
        if row is None:
            return None
        return self._describe(row)

    def find_by_credential(self, user_id: str | None, card: str | None,
                           qrcode: str | None) -> tuple[list[dict[str, Any]], str]:
        """The people an authorization request names, and by what: UserID, else CardNum, else QRCode.

        A QR code is matched against QRCode and, as the device itself does,
        against CardNum (protocol.md 6.6). Rows come back under their wire names
        (UserID, Name, CardNum, ...), which is what the authorization rules read;
        more than one match is returned as such, and the rules deny it.
        """
        select = "user_id AS UserID, " + ", ".join(f'{col} AS "{wire}"' for wire, col in COLS.items())

        def find(column: str, values: list[Any]) -> list[dict[str, Any]]:
            marks = ", ".join("?" * len(values))
            return list(self.db.query(f"SELECT {select} FROM people WHERE {column} IN ({marks}) LIMIT 2", values))

        def number_forms(value: str) -> list[Any]:
            """The value, and for ASCII digits of any length also without leading zeros ("007" finds "7")."""
            if not (value.isascii() and value.isdigit()):
                return [value]
            return list(dict.fromkeys([value, value.lstrip("0") or "0"]))

        if user_id:
            uid = as_uint(user_id)  # None beyond 64 bits: nobody has that id
            return (find("user_id", [uid]) if uid is not None else []), "UserID"
        if card:
            return find("card_num", number_forms(card)), "CardNum"
        if qrcode:
            return (find("qrcode", [qrcode]) or find("card_num", number_forms(qrcode))), "QRCode"
        return [], ""

    def list(self, search: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """People by user id with a delivery summary; `search` matches name, code, card or department."""
        where, args = "", []
        if search:
            where = ("WHERE p.name LIKE ? OR p.code LIKE ? OR p.card_num LIKE ? OR p.department LIKE ? "
                     "OR CAST(p.user_id AS TEXT) = ?")
            like = f"%{search}%"
            args = [like, like, like, like, search]
        sql = (
            "SELECT p.*, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want IS NOT NULL) AS wanted, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want = d.have) AS delivered, "
            "(SELECT count(*) FROM device_people d WHERE d.user_id = p.user_id AND d.want IS NOT NULL "
            " AND d.want IS NOT d.have AND d.fail_version IS d.want) AS failed "
            f"FROM people p {where} ORDER BY p.user_id LIMIT ? OFFSET ?"
        )
        out = []
        rows = list(self.db.query(sql, [*args, limit if limit > 0 else -1, offset]))
        # Devices whose cursor has not passed a person for all devices want them too, without a row.
        above = self.implicit.device_counts([r["since"] if r["scope_all"] else None for r in rows])
        for row, implicit in zip(rows, above, strict=True):
            item = self._describe(row, with_biometrics=False)
            wanted = row["wanted"] + implicit
            item["delivery"] = {"wanted": wanted, "delivered": row["delivered"], "failed": row["failed"],
                                "pending": wanted - row["delivered"] - row["failed"]}
            out.append(item)
        return out

    def iter_all(self) -> Iterator[dict[str, Any]]:
        """Every person with photo and feature bytes, for export."""
        last = 0
        while True:
            rows = list(self.db.query("SELECT * FROM people WHERE user_id > ? ORDER BY user_id LIMIT 500", [last]))
            if not rows:
                return
            for row in rows:
                item = self._describe(row)
                item["photo_data"] = self.files.get(row["photo"])[1] if row["photo"] else None
                face = next((b for b in item["biometrics"] if b["kind"] == people_rules.FACE), None)
                item["face_feature_data"] = self.files.get(face["file"])[1] if face else None
                yield item
            last = rows[-1]["user_id"]

    def _describe(self, row: dict[str, Any], with_biometrics: bool = True) -> dict[str, Any]:
        uid = row["user_id"]
        info: dict[str, Any] = {
            "user_id": uid,
            "fields": {wire: row[col] for wire, col in COLS.items()},
            "version": row["version"],
            "scope": ALL if row["scope_all"] else self.ctx.scope_devices(uid),
            "photo": None,
            "photo_source": row["photo_source"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        if row["photo"]:
            f = self.files.info(row["photo"])
            info["photo"] = {"sha256": row["photo"], "md5": f.md5 if f else None, "size": f.size if f else None}
        if with_biometrics:
            info["biometrics"] = self.biometrics.of(uid)
        return info
