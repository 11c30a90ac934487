"""Settings traffic of a simulated terminal: UploadWorkSetting and SyncParameter.

The upload is the terminal's settings with its identity, clock, door state and storage
counts filled in as they are now; a DownloadWorkSetting answer changes only settings the
terminal has and may change (protocol.md 5.4, 8.5), and the result is uploaded again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facectl.protocol.settings import IDENTITY_SETTING, is_read_only, normalize_value

from .codes import KIND_DOOR, KIND_SYSTEM
from .flow import Flow
from .transport import Answer

if TYPE_CHECKING:
    from .context import Context
    from .door import Door


class WorkSettings:
    """The settings part: the upload document, applying a download, and the calls."""

    def __init__(self, ctx: Context, door: Door) -> None:
        self.ctx = ctx
        self.door = door
        #: Whether this boot's settings reached the server (else the next period uploads them first).
        self.uploaded = False

    def settings_doc(self) -> dict[str, Any]:
        """The UploadWorkSetting document with the current state and storage counts."""
        ctx = self.ctx
        doc = ctx.settings
        doc[IDENTITY_SETTING] = ctx.sn
        doc["SystemTime"] = int(ctx.clock())
        doc.update(self.door.status())
        doc["AlarmStatus"] = ",".join(self.door.alarms) if self.door.alarms else '""'  # protocol.md 3.7, as sent
        storage = doc.get("PeopleStorageInfo")
        if isinstance(storage, dict):
            for key, current in ctx.people.counts().items():
                if isinstance(storage.get(key), dict):
                    storage[key]["Current"] = current
            if isinstance(storage.get("Person"), dict):
                storage["Person"]["Max"] = ctx.people.capacity
        records = doc.get("RecordStorageInfo")
        if isinstance(records, dict):
            log = ctx.log
            for key, count in (("VerifyRecord", len(log.identify_backlog)),
                               ("DoorRecord", len(log.system_backlog[KIND_DOOR])),
                               ("SystemRecord", len(log.system_backlog[KIND_SYSTEM]))):
                if isinstance(records.get(key), dict):
                    records[key]["Current"] = count
        return doc

    def apply_settings(self, answer: dict[str, Any]) -> list[str]:
        """Apply a DownloadWorkSetting answer; returns the keys that changed.

        Only settings the device has are taken; read-only fields (protocol.md 5.4, 8.5), nulls,
        the identity and the answer's own Success/Message are ignored.
        """
        ctx = self.ctx
        changed = []
        for key, value in answer.items():
            if key in ("Success", "Message", IDENTITY_SETTING):
                continue
            if is_read_only(key):
                ctx.stats.count("read-only setting sent by server")
                continue
            if value is None:
                ctx.stats.count("null setting sent by server (ignored)")
                continue
            if key not in ctx.settings:
                ctx.stats.count("unknown setting ignored")
                continue
            value = normalize_value(value)
            if ctx.settings[key] != value:
                if key == "HTTPClient_KeepaliveTime":
                    try:
                        ctx.interval = max(1.0, float(value))
                    except (TypeError, ValueError):
                        continue
                ctx.settings[key] = value
                changed.append(key)
        return changed

    async def upload_settings(self, deadline: float) -> Flow:
        answer = await self.ctx.post_json("UploadWorkSetting", self.settings_doc(), deadline)
        if answer.ok:
            self.uploaded = True
            return Flow.CONTINUE
        self.uploaded = False
        return Flow.STOP  # 记录参数上传状态为未上传，通讯进入休眠

    async def download_settings(self, deadline: float) -> Answer:
        return await self.ctx.post_json("DownloadWorkSetting", {"SN": self.ctx.sn}, deadline)

    async def sync_settings(self, deadline: float) -> Flow:
        """SyncParameter: fetch the settings, apply them, upload the result again."""
        answer = await self.download_settings(deadline)
        if not answer.ok or not isinstance(answer.doc, dict):
            return self.ctx.failed(answer)
        changed = self.apply_settings(answer.doc)
        self.ctx.stats.count("settings applied", len(changed))
        return await self.upload_settings(deadline)
