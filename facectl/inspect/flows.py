"""mitmproxy capture files and flows, converted to and from `decode_exchange` inputs.

The only module of facectl.inspect that imports mitmproxy (the addon is the
other place), so the decoder and the lint stay usable and testable without it.
Bodies are taken as `raw_content`: the inspector wants the bytes as they were
on the wire, gzip and multipart included, and decodes them itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from . import MITMPROXY_MISSING

try:
    from mitmproxy import connection, http, io
    from mitmproxy import flow as mflow
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.proxy.mode_specs import ProxyMode
except ImportError as exc:  # a server install: the inspector is the `inspect` extra
    raise ImportError(MITMPROXY_MISSING, name=exc.name) from None

from .exchange import decode_exchange
from .model import Exchange
from .timeline import Timeline


class FlowFileError(Exception):
    """A capture file cannot be read; the message says which and why."""


def read_flows(path: str | os.PathLike[str]) -> Iterator[http.HTTPFlow]:
    """The HTTP flows of a mitmproxy capture (or HAR) file, in file order."""
    try:
        with open(path, "rb") as fo:
            for flow in io.FlowReader(fo).stream():
                if isinstance(flow, http.HTTPFlow):
                    yield flow
    except FlowReadException as exc:
        raise FlowFileError(f"{path}: not a readable mitmproxy capture ({exc})") from None
    except OSError as exc:
        raise FlowFileError(f"{path}: {exc.strerror or exc}") from None


def write_flows(path: str | os.PathLike[str], flows: Iterable[http.HTTPFlow]) -> int:
    """Write flows as a mitmproxy capture file; returns how many were written."""
    n = 0
    with open(path, "wb") as fo:
        writer = io.FlowWriter(fo)
        for flow in flows:
            writer.add(flow)
            n += 1
    return n


def flow_inputs(flow: http.HTTPFlow) -> dict[str, Any]:
    """The keyword arguments of `decode_exchange` for one flow."""
    req = flow.request
    resp = flow.response
    started = req.timestamp_start
    if resp is not None:
        finished = resp.timestamp_end or resp.timestamp_start
    else:
        finished = None
    peer = flow.client_conn.peername
    return {
        "method": req.method,
        "path": req.path,
        "req_headers": _headers(req.headers),
        "req_body": req.raw_content or b"",
        "status": resp.status_code if resp is not None else None,
        "resp_headers": _headers(resp.headers) if resp is not None else [],
        "resp_body": (resp.raw_content or b"") if resp is not None else None,
        "started": started,
        "finished": finished,
        "client": flow.client_conn.id,
        "peer": f"{peer[0]}:{peer[1]}" if peer else None,
        "server": device_server(flow),
        "error": flow.error.msg if flow.error is not None else None,
    }


def device_server(flow: http.HTTPFlow) -> str | None:
    """scheme://host:port the device talks to: its Host header, and the port it connected to.

    Terminals send Host without the port (protocol.md 8.2), so the port comes from
    the proxy's side of the device's connection when the header has none.
    """
    req = flow.request
    host = req.host_header or ""
    if not host:
        return None
    if ":" in host.rsplit("]", 1)[-1]:
        return f"{req.scheme}://{host}"
    sock = flow.client_conn.sockname
    port = sock[1] if sock else None
    return f"{req.scheme}://{host}" + (f":{port}" if port else "")


def decode_flow(flow: http.HTTPFlow, run_lint: bool = True) -> Exchange:
    return decode_exchange(**flow_inputs(flow), run_lint=run_lint)


def is_device_flow(flow: Any) -> bool:
    """Cheap test for the contentview: is this flow on a device endpoint or an HTTPv1 path?"""
    from facectl.protocol.endpoints import lookup, v1_endpoint

    if not isinstance(flow, http.HTTPFlow):
        return False
    path = flow.request.path
    return lookup(path) is not None or v1_endpoint(path) is not None


def inspect_files(paths: Iterable[str | os.PathLike[str]],
                  timeline: Timeline | None = None) -> list[Exchange]:
    """Decode every flow of the files, in the order the requests started, through a Timeline."""
    # Decode while reading (flows are dropped as soon as they are decoded: they are
    # several times larger than an Exchange), then replay in start order.
    out = [decode_flow(f) for p in paths for f in read_flows(p)]
    out.sort(key=lambda ex: ex.started)
    timeline = timeline if timeline is not None else Timeline()
    for ex in out:
        timeline.observe(ex)
    return out


def build_flow(
    method: str, path: str, req_headers: Iterable[tuple[str, str]], req_body: bytes,
    status: int | None, resp_headers: Iterable[tuple[str, str]], resp_body: bytes | None,
    started: float, finished: float | None, *, client: str | None = None,
    server: str = "http://192.168.1.10:9003", peer: tuple[str, int] = ("192.168.1.201", 50321),
    upstream: tuple[str, int] = ("127.0.0.1", 8080), error: str | None = None,
) -> http.HTTPFlow:
    """A flow as `mitmdump --mode reverse:...` records it, from raw bytes both ways.

    `server` is the address the device talks to: the proxy's host and listening port.

    Used by examples/make_capture.py, the tests and the benchmark, so that what
    they feed the inspector is what a real capture holds.
    """
    client_kw: dict[str, Any] = {"id": client} if client else {}
    address = urlsplit(server)
    host, port = address.hostname or "", address.port or 80
    client_conn = connection.Client(
        peername=peer, sockname=(host, port), timestamp_start=started - 0.001,
        proxy_mode=ProxyMode.parse(f"reverse:http://{upstream[0]}:{upstream[1]}"), **client_kw,
    )
    server_conn = connection.Server(address=upstream, peername=upstream)
    server_conn.timestamp_start = started
    request = http.Request(
        host, port, method.encode(), b"http", b"", path.encode("ascii", "surrogateescape"),
        b"HTTP/1.1", tuple((k.encode(), v.encode()) for k, v in req_headers), req_body, None,
        started, started + 0.001,
    )
    flow = http.HTTPFlow(client_conn, server_conn)
    flow.request = request
    flow.timestamp_created = started
    if status is not None:
        end = finished if finished is not None else started
        flow.response = http.Response(
            b"HTTP/1.1", status, http.status_codes.RESPONSES.get(status, "").encode(),
            tuple((k.encode(), v.encode()) for k, v in resp_headers), resp_body or b"", None,
            max(started + 0.001, end - 0.0005), end,
        )
    elif error:
        flow.error = mflow.Error(error, finished or started)
    flow.live = False
    return flow


def _headers(headers: http.Headers) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]
