"""The simulated device's own people store, and how it imports a person from the server.

Import follows section "API-拉取人员授权信息": each PeopleJson is checked (protocol.md
5.8 limits), its photo and features are downloaded by URL or decoded from
base64, photos are checked for size, MD5 and format, and failures are reported
with the document's error codes (errorCode 人员失败错误码). An update replaces
the whole person, biometrics included: a person sent again without face,
fingerprint or palm data loses them, as real firmware does (protocol.md 6.5).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from facectl.protocol.device_rules import (
    ERR_DUPLICATE_CARD,
    ERR_FACE_DOWNLOAD,
    ERR_FACE_FORMAT,
    ERR_FINGERPRINT_DOWNLOAD,
    ERR_FINGERPRINT_FORMAT,
    ERR_PALM_DOWNLOAD,
    ERR_PALM_FORMAT,
    ERR_PHOTO_DOWNLOAD,
    ERR_PHOTO_TOO_LARGE,
    ERR_PHOTO_UNRECOGNISABLE,
    ERR_STORAGE_FULL,
    decode_inline,
    is_url,
    person_error,
    person_user_id,
    photo_error,
)
from facectl.protocol.identity import clean_text
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.protocol.people import md5_hex

from .transport import Fetched

#: Largest feature file a device downloads (ours; features are a few KB of base64).
MAX_FEATURE_BYTES = 256 * 1024
#: Where the firmware keeps a person's photo; PushPeople's Detail names it (protocol.md 6.4).
DEVICE_PHOTO_PATH = "/data/user_pic/{uid}.jpg"


#: fetch(url, max_bytes) -> Fetched; the device's GET over its one connection.
Fetch = Callable[[str, int], Awaitable[Fetched]]


@dataclass(slots=True)
class Failure:
    """One FailList entry (section "failEmployeeId 数组中失败信息结构")."""

    user_id: str
    code: int
    message: str
    repeat_id: str = ""

    def wire(self) -> dict[str, Any]:
        return {"UserID": self.user_id, "ErrorCode": self.code, "RepeatID": self.repeat_id,
                "ErrMsg": self.message}


@dataclass(slots=True)
class StoredPerson:
    user_id: int
    detail: dict[str, Any]  # PeopleJson as received (URLs and all)
    photo: bytes | None = None
    face_feature: str | None = None  # base64 text, as the device holds it
    fingerprints: list[dict[str, Any]] = field(default_factory=list)  # [{Num, Data(base64), MD5}]
    palmveins: list[dict[str, Any]] = field(default_factory=list)

    @property
    def card(self) -> str:
        return _card(self.detail.get("CardNum"))

    def wire(self) -> dict[str, Any]:
        """PeopleJson as the device reports it (PushPeople Detail, UserDetail)."""
        out = {k: v for k, v in self.detail.items()
               if k not in ("Photo", "PhotoMD5", "PhotoLen", "FaceFeature", "FaceFeatureMD5",
                            "Fingerprints", "Palmveins")}
        out["UserID"] = str(self.user_id)
        if self.photo is not None:
            out["Photo"] = DEVICE_PHOTO_PATH.format(uid=self.user_id)
            out["PhotoMD5"] = md5_hex(self.photo)
            out["PhotoLen"] = len(self.photo)
        if self.face_feature:
            out["FaceFeature"] = self.face_feature
            out["FaceFeatureMD5"] = md5_hex(self.face_feature.encode())
        out["Fingerprints"] = [dict(f) for f in self.fingerprints]
        out["Palmveins"] = [dict(p) for p in self.palmveins]
        return out


class PeopleStore:
    """UserID -> person, with the card index a device keeps for duplicate checks."""

    def __init__(self, capacity: int = 20000) -> None:
        self.capacity = capacity
        self.people: dict[int, StoredPerson] = {}
        self.cards: dict[str, int] = {}
        self._ids: list[int] = []  # for O(1) random choice
        self._pos: dict[int, int] = {}
        #: Grows with every change, so a state file is rewritten only when the people changed.
        self.revision = 0

    def touch(self) -> None:
        """A stored person was changed in place (an open counted down)."""
        self.revision += 1

    def __len__(self) -> int:
        return len(self.people)

    def __contains__(self, uid: object) -> bool:
        return uid in self.people

    def get(self, uid: int) -> StoredPerson | None:
        return self.people.get(uid)

    def ids(self) -> list[int]:
        return sorted(self.people)

    def pick(self, rnd: float) -> StoredPerson | None:
        """A person chosen by `rnd` in [0, 1)."""
        if not self._ids:
            return None
        return self.people[self._ids[int(rnd * len(self._ids)) % len(self._ids)]]

    def put(self, person: StoredPerson) -> bool:
        """Store or replace; True when the person is new."""
        self.revision += 1
        old = self.people.get(person.user_id)
        if old is not None and old.card and self.cards.get(old.card) == person.user_id:
            del self.cards[old.card]
        self.people[person.user_id] = person
        if person.card:
            self.cards[person.card] = person.user_id
        if old is None:
            self._pos[person.user_id] = len(self._ids)
            self._ids.append(person.user_id)
        return old is None

    def delete(self, uid: int) -> bool:
        person = self.people.pop(uid, None)
        if person is None:
            return False
        self.revision += 1
        if person.card and self.cards.get(person.card) == uid:
            del self.cards[person.card]
        idx = self._pos.pop(uid)
        last = self._ids.pop()
        if last != uid:
            self._ids[idx] = last
            self._pos[last] = idx
        return True

    def clear(self) -> int:
        n = len(self.people)
        self.revision += 1
        self.people.clear()
        self.cards.clear()
        self._ids.clear()
        self._pos.clear()
        return n

    def counts(self) -> dict[str, int]:
        """Current counts for the settings document's PeopleStorageInfo."""
        people = self.people.values()
        return {
            "Person": len(self.people),
            "Face": sum(1 for p in people if p.photo is not None or p.face_feature),
            "Card": len(self.cards),
            "Fingerprint": sum(len(p.fingerprints) for p in people),
            "PalmVein": sum(len(p.palmveins) for p in people),
            "Pasword": sum(1 for p in people if p.detail.get("Password")),
            "Admin": sum(1 for p in people if str(p.detail.get("AccessType", 0)) == "1"),
        }


class ImportInterrupted(Exception):
    """A download was cut short by the device's own keepalive deadline: finish this person later."""


async def import_person(store: PeopleStore, person: Any, fetch: Fetch) -> Failure | None:
    """Check and store one PeopleJson; None on success, else the FailList entry.

    Raises ImportInterrupted when the keepalive deadline cut a download short: that is
    not the person's fault, so nothing is stored or reported for them yet.
    """
    raw_id = clean_text(person.get("UserID")) if isinstance(person, dict) else ""
    problem = person_error(person)
    if problem is not None:
        return Failure(raw_id, *problem)
    uid = person_user_id(person)
    assert uid is not None
    card = _card(person.get("CardNum"))
    owner = store.cards.get(card) if card else None
    if owner is not None and owner != uid:
        return Failure(raw_id, ERR_DUPLICATE_CARD, f"card {card} belongs to user {owner}", str(owner))
    if uid not in store and len(store) >= store.capacity:
        return Failure(raw_id, ERR_STORAGE_FULL, f"the device holds {store.capacity} people")

    stored = StoredPerson(uid, dict(person))
    photo_value = person.get("Photo")
    if photo_value:
        data, failure = await _get(photo_value, fetch, MAX_PHOTO_BYTES, ERR_PHOTO_DOWNLOAD,
                                   ERR_PHOTO_TOO_LARGE, ERR_PHOTO_UNRECOGNISABLE, raw_id, "photo")
        if failure is not None:
            return failure
        problem = photo_error(data, person.get("PhotoMD5"), person.get("PhotoLen"))
        if problem is not None:
            return Failure(raw_id, *problem)
        stored.photo = data

    face = person.get("FaceFeature")
    if face:
        text, failure = await _feature(face, person.get("FaceFeatureMD5"), fetch, ERR_FACE_DOWNLOAD,
                                       ERR_FACE_FORMAT, raw_id, "face feature")
        if failure is not None:
            return failure
        stored.face_feature = text
    for key, download_err, format_err, label, target in (
        ("Fingerprints", ERR_FINGERPRINT_DOWNLOAD, ERR_FINGERPRINT_FORMAT, "fingerprint", stored.fingerprints),
        ("Palmveins", ERR_PALM_DOWNLOAD, ERR_PALM_FORMAT, "palm vein", stored.palmveins),
    ):
        items = person.get(key) or []
        if not isinstance(items, list):
            return Failure(raw_id, format_err, f"{key} is not a list")
        for item in items:
            if not isinstance(item, dict) or "Data" not in item:
                return Failure(raw_id, format_err, f"{label} entry without Data")
            text, failure = await _feature(item["Data"], item.get("MD5"), fetch, download_err,
                                           format_err, raw_id, label)
            if failure is not None:
                return failure
            target.append({"Num": item.get("Num", len(target) + 1), "Data": text,
                           "MD5": md5_hex(text.encode())})
    store.put(stored)
    return None


async def _get(value: Any, fetch: Fetch, limit: int, download_err: int, large_err: int,
               format_err: int, raw_id: str, label: str) -> tuple[bytes, Failure | None]:
    if is_url(value):
        got = await fetch(value.strip(), limit)
        if got.interrupted:
            raise ImportInterrupted(got.reason)
        if got.too_large:
            return b"", Failure(raw_id, large_err, f"{label} is larger than {limit} bytes")
        if got.data is None:
            return b"", Failure(raw_id, download_err, f"{label} download failed: {got.reason}")
        return got.data, None
    if not isinstance(value, str):
        return b"", Failure(raw_id, format_err, f"{label} is neither a URL nor base64")
    data = decode_inline(value)
    if data is None:
        return b"", Failure(raw_id, format_err, f"{label} is neither a URL nor base64")
    if len(data) > limit:
        return b"", Failure(raw_id, large_err, f"{label} is larger than {limit} bytes")
    return data, None


async def _feature(value: Any, expected_md5: Any, fetch: Fetch, download_err: int, format_err: int,
                   raw_id: str, label: str) -> tuple[str, Failure | None]:
    """A feature is base64 text, inline or as the content of a downloaded file."""
    if is_url(value):
        got = await fetch(value.strip(), MAX_FEATURE_BYTES)
        if got.interrupted:
            raise ImportInterrupted(got.reason)
        if got.data is None:
            return "", Failure(raw_id, download_err, f"{label} download failed: {got.reason}")
        if expected_md5 and md5_hex(got.data) != str(expected_md5).strip().upper():
            return "", Failure(raw_id, download_err, f"{label} MD5 does not match")
        text = got.data.decode("ascii", "replace").strip()
    elif isinstance(value, str):
        text = value.strip()
    else:
        return "", Failure(raw_id, format_err, f"{label} is neither a URL nor base64")
    if decode_inline(text) is None:
        return "", Failure(raw_id, format_err, f"{label} is not base64")
    return text, None


def _card(value: Any) -> str:
    text = clean_text(value)
    return "" if text in ("", "0") else text


def random_feature(rng_bytes: bytes) -> str:
    """A made-up face / fingerprint template, base64 as devices hold them."""
    return base64.b64encode(rng_bytes).decode("ascii")
