"""Handler registry: each handler module registers itself for one catalog endpoint.

The dispatcher looks endpoints up in the protocol catalog and calls what is
registered here, so a route and its path are never written twice. Handlers see a
`DeviceRequest` (bytes and headers), not aiohttp's request, so the same path runs
for a request off the network and for one replayed from quarantine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from facectl.protocol import responses
from facectl.protocol.decode import DecodedRequest
from facectl.protocol.endpoints import ENDPOINTS
from facectl.store.db import transaction

if TYPE_CHECKING:
    from facectl.store import Store
    from facectl.store.live import LiveDevices

    from .config import ServerConfig


@dataclass(slots=True)
class DeviceRequest:
    """One device request as received: from aiohttp (server) or from a quarantine item (replay).

    `headers` must look names up case-insensitively (aiohttp's and multidict's do).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    remote: str | None
    #: The serial the request named, once decoded (for the request log; "" until then).
    sn: str = ""


#: Keeps a raw request in quarantine: (sn, endpoint, reason, body, content type, content encoding,
#: remote address, answer given as JSON text) -> item id. The server's is `store.quarantine.add`
#: (with its budget); a replay passes its own.
Keep = Callable[[str | None, str, str, bytes, str | None, str | None, str | None, str | None], int]
#: Runs synchronous store writes in a transaction and returns their result once committed. The
#: writes are given the store to write through: the server's writer thread has a connection of
#: its own and shares one transaction among concurrent uploads (server/committer.py); a replay
#: runs them at once on its store, inside the transaction it holds.
Write = Callable[[Callable[["Store"], Any]], Awaitable[Any]]


async def write_now(store: Store, work: Callable[[Store], Any]) -> Any:
    """`Write` without batching: `work` in a transaction of its own (or in the one already open)."""
    with transaction(store.db):
        return work(store)


@dataclass(slots=True)
class Context:
    """Everything a handler may use for one device request."""

    request: DeviceRequest
    store: Store
    config: ServerConfig
    decoded: DecodedRequest
    body: bytes  # the raw body as received, for quarantine
    remote: str | None
    keep: Keep
    #: How a handler stores what it must have committed before it answers (record uploads).
    write: Write
    #: The server's in-memory device view (store/live.py); None for a quarantine replay.
    live: LiveDevices | None = None

    @property
    def sn(self) -> str:
        return self.decoded.sn

    def quarantine(self, reason: str, answer: dict[str, Any] | None = None) -> dict[str, Any]:
        """Keep the raw request and answer `answer`; by default acknowledge it, so the device's
        queue moves on (protocol.md 5.1). The answer is kept with the item.

        Handlers run for approved devices only, so this never keeps a stranger's bytes.
        """
        answer = answer or responses.kept(reason)
        self.keep(
            self.sn or None, self.decoded.endpoint.name, reason, self.body,
            self.request.headers.get("Content-Type"), self.request.headers.get("Content-Encoding"),
            self.remote, responses.encode(answer).decode("utf-8"),
        )
        return answer


Handler = Callable[[Context], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def handles(endpoint_name: str) -> Callable[[Handler], Handler]:
    if endpoint_name not in ENDPOINTS:
        raise KeyError(f"{endpoint_name} is not in the protocol catalog")

    def register(func: Handler) -> Handler:
        HANDLERS[endpoint_name] = func
        return func

    return register
