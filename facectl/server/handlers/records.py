"""Record uploads: stored once, photo by content, the unusable quarantined and acknowledged.

The device waits 30 s and retries 10 s after any answer other than Success:1
(document, 上传打卡记录), so every path here either stores the record, finds it
already stored, or keeps the raw request in quarantine — and then says 1.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from facectl.protocol import responses
from facectl.protocol.limits import MAX_PHOTO_BYTES
from facectl.protocol.records import (
    RecordError,
    identify_record,
    photo_content_type,
    photo_warnings,
    system_records,
)

from ..registry import Context, handles

if TYPE_CHECKING:
    from facectl.store import Store


@handles("UploadIdentifyRecord")
async def upload_identify_record(ctx: Context) -> dict[str, Any]:
    decoded = ctx.decoded
    if decoded.document is None:
        return ctx.quarantine(f"no JSON part ({' or '.join(decoded.endpoint.json_part)})")
    try:
        record = identify_record(decoded.document)
    except RecordError as exc:
        return ctx.quarantine(str(exc))
    photo = decoded.photo
    kept_photo: tuple[bytes, str, tuple[str, str]] | None = None
    if photo is not None and photo.data:
        if len(photo.data) > MAX_PHOTO_BYTES:
            # Keep the record and the evidence, but not an oversized blob in the files table.
            ctx.quarantine(f"record {record.record_id}: photo of {len(photo.data)} bytes exceeds {MAX_PHOTO_BYTES}")
            record.warnings.append("photo over the size limit; raw request quarantined")
        else:
            # Not a JPEG, or not PhotoLen bytes: stored exactly as sent, with a warning.
            record.warnings.extend(photo_warnings(photo.data, record.fields.get("photo_len")))
            kept_photo = (photo.data, photo_content_type(photo.data, photo.content_type), photo.digest())
    record.warnings.extend(decoded.quirks)
    sn = ctx.sn

    def write(store: Store) -> None:
        """The photo and the record in one transaction (shared with other uploads): acknowledged once committed."""
        photo_hash = store.files.put(*kept_photo).sha256 if kept_photo is not None else None
        store.records.add(sn, record, photo=photo_hash)

    await ctx.write(write)
    return responses.ok()


@handles("UploadSystemRecord")
async def upload_system_record(ctx: Context) -> dict[str, Any]:
    try:
        good, bad = system_records(ctx.decoded.document)
    except RecordError as exc:
        return ctx.quarantine(str(exc))
    sn, endpoint, remote = ctx.sn, ctx.decoded.endpoint.name, ctx.remote

    def write(store: Store) -> None:
        """The good records and the unusable items' quarantine rows, committed before the answer."""
        if good:
            store.records.add_many(sn, good)
        for item, reason in bad:
            store.quarantine.add(sn, endpoint, reason, json.dumps(item, ensure_ascii=False).encode("utf-8"),
                                 "application/json", None, remote)

    if good or bad:
        await ctx.write(write)
    return responses.ok()
