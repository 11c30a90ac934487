"""Keepalive, settings and snapshot endpoints."""

from __future__ import annotations

import logging
from typing import Any

from facectl.protocol import responses
from facectl.protocol import settings as settings_rules
from facectl.protocol.codes import parse_alarms
from facectl.protocol.endpoints import ENDPOINTS
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.protocol.numbers import as_int
from facectl.store.db import transaction

from ..registry import Context, handles

log = logging.getLogger("facectl.server")


#: The keepalive's door-state fields the catalog types as integers.
_DOOR_STATE_FIELDS = tuple(f.name for f in ENDPOINTS["Keepalive"].request if f.type == "int")


@handles("Keepalive")
async def keepalive(ctx: Context) -> dict[str, Any]:
    """Record the door state; answer Success:1 with the flags that apply (protocol.md 1.1, 6.1).

    Decision: a door-state field that is not an integer (a list, an object, a
    word) is the device's mistake, not a reason to withhold the flags: it is
    stored as unknown (NULL) and logged, and the keepalive is answered as usual.
    """
    doc = ctx.decoded.document
    status: dict[str, Any] = {}
    unreadable = []
    for name in _DOOR_STATE_FIELDS:
        status[name] = as_int(doc.get(name), allow_bool=True)
        if status[name] is None and doc.get(name) not in (None, ""):
            unreadable.append(f"{name}={doc.get(name)!r:.40}")
    if unreadable:
        log.warning("keepalive from %s: door state not an integer, stored as unknown: %s",
                    ctx.sn, ", ".join(unreadable))
    status["AlarmStatus"] = ",".join(parse_alarms(doc.get("AlarmStatus")))
    if ctx.live is not None:  # a steady keepalive writes nothing (store/live.py)
        return responses.ok(**ctx.live.keepalive(ctx.sn, status))
    with transaction(ctx.store.db):
        ctx.store.devices.record_status(ctx.sn, status)
        return responses.ok(**ctx.store.work.flags(ctx.sn))


@handles("UploadWorkSetting")
async def upload_work_setting(ctx: Context) -> dict[str, Any]:
    """Store the settings; a people count far below what was delivered means a reset at the terminal."""
    doc = ctx.decoded.document
    ctx.store.settings.upload(ctx.sn, doc)
    lost = ctx.store.people.storage_lost(ctx.sn, settings_rules.people_held(doc))
    if lost:
        log.warning("%s: %s", ctx.sn, lost)
    return responses.ok()


@handles("DownloadWorkSetting")
async def download_work_setting(ctx: Context) -> dict[str, Any]:
    """The last upload with pending changes applied, minus read-only fields (protocol.md 5.4)."""
    return responses.ok(**ctx.store.settings.take_for_download(ctx.sn))


@handles("UploadSnapshoot")
async def upload_snapshot(ctx: Context) -> dict[str, Any]:
    photo = ctx.decoded.photo
    if photo is None or not photo.data:
        return ctx.quarantine("snapshot upload without a photo part")
    if len(photo.data) > MAX_PHOTO_BYTES:
        return ctx.quarantine(f"snapshot of {len(photo.data)} bytes exceeds {MAX_PHOTO_BYTES}")
    stored = ctx.store.files.put(photo.data, photo.content_type or "image/jpeg")
    ctx.store.commands.snapshot_uploaded(ctx.sn, ctx.store.snapshots.add(ctx.sn, stored.sha256))
    return responses.ok()
