"""RemoteCommand: hand the device its queued commands, merged into one answer.

The store picks the commands that can share this answer (protocol.commands.select)
and marks them sent in the same transaction; this handler only turns stored
file references into absolute, signed, expiring URLs with the upper-case MD5
(protocol.md 5.6, 5.7) and merges the wire values. Commands left over wait for the
next keepalive, which still says `Remote: 1`. An empty answer (`{"Success":1}`)
is normal: the commands may have expired or been cancelled since the keepalive.
"""

from __future__ import annotations

from typing import Any

from facectl.protocol import commands as command_rules
from facectl.protocol import responses

from ..file_urls import DEFAULT_TTL_SECONDS, file_url
from ..registry import Context, handles


@handles("RemoteCommand")
async def remote_command(ctx: Context) -> dict[str, Any]:
    store = ctx.store
    secret = store.meta.secret()  # the key files.py checks URLs with

    def resolve(sha256: str, ext: str) -> tuple[str, str]:
        info = store.files.info(sha256)
        if info is None:
            raise command_rules.CommandError(f"file {sha256[:12]}... is no longer stored")
        url = file_url(ctx.config.public_url, secret, sha256, ext, DEFAULT_TTL_SECONDS)
        return url, info.md5

    taken = store.commands.take(ctx.sn, lambda field, value: command_rules.render(field, value, resolve))
    return responses.ok(**command_rules.merge((row["field"], wire) for row, wire in taken))
