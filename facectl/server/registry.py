"""Handler registry: each handler module registers itself for one catalog endpoint.

The dispatcher looks endpoints up in the protocol catalog and calls what is
registered here, so a route and its path are never written twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from facectl.protocol.decode import DecodedRequest
from facectl.protocol.endpoints import ENDPOINTS

if TYPE_CHECKING:
    from facectl.store import Store

    from .config import ServerConfig


@dataclass(slots=True)
class Context:
    """Everything a handler may use for one device request."""

    request: web.Request
    store: Store
    config: ServerConfig
    decoded: DecodedRequest
    body: bytes  # the raw body as received, for quarantine
    remote: str | None

    @property
    def sn(self) -> str:
        return self.decoded.sn

    def quarantine(self, reason: str) -> dict[str, Any]:
        """Keep the raw request and acknowledge it so the device's queue moves on (errata 5.1)."""
        self.store.quarantine.add(
            self.sn or None, self.decoded.endpoint.name, reason, self.body,
            self.request.headers.get("Content-Type"), self.request.headers.get("Content-Encoding"),
            self.remote,
        )
        return {"Success": 1, "Message": f"kept for review: {reason}"}


Handler = Callable[[Context], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def handles(endpoint_name: str) -> Callable[[Handler], Handler]:
    if endpoint_name not in ENDPOINTS:
        raise KeyError(f"{endpoint_name} is not in the protocol catalog")

    def register(func: Handler) -> Handler:
        HANDLERS[endpoint_name] = func
        return func

    return register
