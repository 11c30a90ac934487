"""Decoded exchanges in SQLite (sqlite-utils), for questions a scrolling terminal cannot answer.

`mitmdump -s addons/decode.py --set facectl_db=site.db` fills it live; then, e.g.

    sqlite-utils site.db "select rule, severity, count(*) from findings group by rule"
    sqlite-utils site.db "select sn, max(started) from exchanges where endpoint='Keepalive' group by sn"

This is the inspector's own file, not the server's store (facectl/store): it
records what was seen on the wire, including answers from someone else's server.
"""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from .model import Exchange, shorten

EXCHANGES = "exchanges"
FINDINGS = "findings"


class ExchangeDB:
    """Append-only store of decoded exchanges and their findings."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()
        self._schema()

    def _schema(self) -> None:
        self.db[EXCHANGES].create({
            "id": int, "started": float, "finished": float, "duration_ms": float, "sn": str,
            "endpoint": str, "method": str, "path": str, "status": int, "client": str,
            "peer": str, "request": str, "response": str, "labels": str, "gzip": str,
            "photos": str, "errors": int, "warnings": int, "infos": int,
        }, pk="id", if_not_exists=True)
        self.db[FINDINGS].create({
            "id": int, "exchange_id": int, "started": float, "sn": str, "endpoint": str,
            "rule": str, "severity": str, "section": str, "message": str, "side": str,
        }, pk="id", foreign_keys=[("exchange_id", EXCHANGES, "id")], if_not_exists=True)
        for table, cols in ((EXCHANGES, ["sn", "started"]), (EXCHANGES, ["endpoint"]),
                            (FINDINGS, ["rule"]), (FINDINGS, ["sn"])):
            self.db[table].create_index(cols, if_not_exists=True)

    def add(self, ex: Exchange) -> int:
        """Store one exchange with its findings; returns its row id."""
        counts = ex.counts()
        duration = ex.duration
        row: dict[str, Any] = {
            "started": ex.started, "finished": ex.finished,
            "duration_ms": None if duration is None else round(duration * 1000, 1),
            "sn": ex.sn, "endpoint": ex.name, "method": ex.method, "path": ex.path,
            "status": ex.status, "client": ex.client, "peer": ex.peer,
            "request": shorten(ex.request.document if ex.request.document is not None else ex.request.form),
            "response": shorten(ex.response.document) if ex.response is not None else None,
            "labels": ex.labels(), "gzip": ex.gzip, "photos": [p.to_dict() for p in ex.photos],
            "errors": counts["error"], "warnings": counts["warning"], "infos": counts["info"],
        }
        with self.db.conn:
            exchange_id = self.db[EXCHANGES].insert(row).last_pk
            if ex.findings:
                self.db[FINDINGS].insert_all({
                    "exchange_id": exchange_id, "started": ex.started, "sn": ex.sn,
                    "endpoint": ex.name, **f.to_dict(),
                } for f in ex.findings)
        return int(exchange_id)

    def close(self) -> None:
        self.db.close()
