"""GET /files/<sha256>.<ext>?e=EXPIRY&s=SIGNATURE: serve a stored file while its URL is valid."""

from __future__ import annotations

from aiohttp import web

from ..file_urls import verify
from ..keys import STORE


async def serve_file(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    name = request.match_info["name"]
    sha256 = name.split(".", 1)[0].lower()
    try:
        expires = int(request.query.get("e", ""))
    except ValueError:
        raise web.HTTPForbidden(text="missing or bad expiry") from None
    if len(sha256) != 64 or not verify(store.meta.secret(), sha256, expires, request.query.get("s", "")):
        raise web.HTTPForbidden(text="link expired or invalid")
    found = store.files.get(sha256)
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    info, data = found
    return web.Response(body=data, content_type=info.content_type,
                        headers={"Cache-Control": "private, max-age=300", "Content-MD5-Hex": info.md5})
