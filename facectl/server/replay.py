"""Replaying quarantined requests through the server's own dispatcher (`facectl quarantine replay`).

A kept request is run again exactly as it arrived (same bytes, path, Content-Type
and Content-Encoding, remote address) through `app.Dispatcher`, in this process,
on the same database the server uses (WAL: the server keeps running).

Decisions:
- Only the reports a device sends once and then forgets are replayed: the
  endpoints the server quarantines-and-acknowledges (app.QUARANTINE_ON_ERROR:
  records, people reports, enrolment results, snapshots). Anything else is
  skipped with the reason and stays quarantined:
  an authorization was answered at the door when it arrived (denied); running
  it again would store a decision the door never made, so its raw bytes stay
  as the only record of it; a keepalive, a page result or any other request is
  a question asked at one moment, and the device asks again by itself.
- Identity: the rules apply as the server would apply them today (approved
  goes ahead; pending, blocked or an SN the pattern refuses fails again, and
  applies once the device is approved). Replay records no contact: an old
  request must not make a device look online, nor create an unknown one.
- One transaction per item: the handler's writes and the item's "replayed"
  mark commit together. A replay that fails again is rolled back (nothing
  half-applied) and only the attempt and its reason are recorded. `dry_run`
  rolls everything back, so it reports what would happen and writes nothing.
- "already stored": the request applied and changed nothing, because the
  store's unique keys found it all there (a record the device sent again, a
  photo already kept). Measured by SQLite's change counter of this connection,
  so what the running server writes meanwhile does not count.
- Failed again: the dispatcher kept the same bytes in quarantine again (its
  reason is the new reason; the item is not re-added, its received time stays),
  or the answer is not Success 1 (refused identity, storage unavailable).
  Different bytes it keeps (the bad items of a system-record batch) become
  quarantine items of their own, as on the server.
- An item already replayed is skipped, never run twice (a snapshot has no
  unique key to make a second run harmless). So is a bad entry of a
  system-record batch: the server keeps it alone, without the batch around it,
  so it is not a request that can run again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from multidict import CIMultiDict

from facectl.protocol import responses
from facectl.protocol.decode import DecodeError, decode_request
from facectl.protocol.endpoints import ENDPOINTS
from facectl.store import Store

from .app import AUTHORIZATION, QUARANTINE_ON_ERROR, Answer, Dispatcher
from .config import ServerConfig
from .registry import DeviceRequest

REPLAYED = "replayed"
ALREADY_STORED = "already stored"
FAILED = "failed again"
SKIPPED = "skipped"
RESULTS = (REPLAYED, ALREADY_STORED, FAILED, SKIPPED)

AUTHORIZATION_REFUSAL = ("an authorization is decided at the door when it arrives (it was denied); "
                         "deciding it again now would store a decision the door never made")


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    sn: str | None
    endpoint: str
    result: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def refusal(item: dict[str, Any]) -> str | None:
    """Why this item is not replayed (module docstring), or None."""
    if item["replayed_at"] is not None:
        return f"already {item['replay_result'] or 'replayed'}"
    if not item.get("bytes_kept", 1):
        return "its bytes were not kept (the device's quarantine budget was full when it arrived)"
    endpoint = item["endpoint"]
    if endpoint == AUTHORIZATION:
        return AUTHORIZATION_REFUSAL
    if endpoint not in QUARANTINE_ON_ERROR:
        return f"{endpoint} asks for an answer at one moment, and the device asks again by itself"
    if item["sn"] and not _names_a_device(item):
        return ("one entry cut out of a batch (the rest was stored), not a request the device sent: "
                "there is nothing to run again; the reason says what is wrong with it")
    return None


def _names_a_device(item: dict[str, Any]) -> bool:
    """Whether the kept bytes carry a device serial, read by the server's own decoder.

    A request always does when the item has an SN (the SN was read from it); the bad
    entries of an UploadSystemRecord batch are kept one by one, without the batch
    around them (its SN, its RecordType), so they do not.
    """
    try:
        sn = decode_request(ENDPOINTS[item["endpoint"]], item["body"], item["content_type"],
                            item["content_encoding"]).sn
    except DecodeError as exc:
        sn = exc.sn
    return bool(sn)


async def replay(store: Store, ids: Iterable[int], config: ServerConfig | None = None, dry_run: bool = False,
                 on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Replay these items in order; `on_outcome` is told after each (progress)."""
    config = config or ServerConfig(db=store.path)
    outcomes = []
    for item_id in ids:
        outcome = await replay_one(store, item_id, config, dry_run)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


async def replay_one(store: Store, item_id: int, config: ServerConfig, dry_run: bool = False) -> Outcome:
    item = store.quarantine.get(item_id)
    if item is None:
        return Outcome(item_id, None, "", SKIPPED, "no such quarantine item")
    sn, endpoint = item["sn"], item["endpoint"]
    why_not = refusal(item)
    if why_not is not None:
        return Outcome(item_id, sn, endpoint, SKIPPED, why_not)

    kept_again: list[str] = []

    def keep(k_sn: str | None, k_endpoint: str, reason: str, body: bytes, content_type: str | None,
             content_encoding: str | None, remote: str | None, answer: str | None = None) -> int:
        if hashlib.sha256(body).hexdigest() == item["sha256"]:
            kept_again.append(reason)
            return item_id
        return store.quarantine.add(k_sn, k_endpoint, reason, body, content_type, content_encoding, remote, answer,
                                    config.quarantine_budget)

    headers: CIMultiDict[str] = CIMultiDict()
    for name, column in (("Content-Type", "content_type"), ("Content-Encoding", "content_encoding")):
        if item[column] is not None:
            headers[name] = item[column]
    request = DeviceRequest("POST", ENDPOINTS[endpoint].path, headers, item["body"], item["remote_addr"])
    dispatcher = Dispatcher(store, config, keep=keep, record_contact=False)

    conn = store.db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        answer = await dispatcher.handle(request, ENDPOINTS[endpoint])
        changed = conn.total_changes - before
        failure = _failure(answer, kept_again, sn)
        result = ALREADY_STORED if changed == 0 else REPLAYED
        if failure is None and not dry_run:
            store.quarantine.mark_replayed(item_id, result)
            conn.execute("COMMIT")
    finally:
        if conn.in_transaction:  # a failure, a dry run, or SQLite already rolled back (disk full)
            conn.execute("ROLLBACK")
    if failure is not None:
        if not dry_run:
            store.quarantine.mark_failed(item_id, failure)
        return Outcome(item_id, sn, endpoint, FAILED, failure)
    detail = ("the store already held everything it carries" if result == ALREADY_STORED
              else f"applied ({changed} row{'s' if changed != 1 else ''} written)")
    return Outcome(item_id, sn, endpoint, result, detail)


def _failure(answer: Answer, kept_again: list[str], sn: str | None) -> str | None:
    """Why the replay did not apply, or None when it did."""
    if kept_again:
        return kept_again[-1]
    success = answer.payload.get("Success")
    if answer.status == 200 and success == 1:
        return None
    device = sn or "the device"
    if success == responses.NOT_ACTIVATED:
        return f"{device} is not approved (pending, or unknown to the server): `facectl device approve {device}`"
    if success == responses.BLOCKED:
        return f"{device} is blocked"
    if success == responses.BAD_SN:
        return f"{device}: the SN does not match the server's SN pattern (--sn-pattern)"
    return f"answered {answer.status} Success {success}: {answer.payload.get('Message') or answer.payload}"

