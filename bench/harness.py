"""Shared by the server benchmarks: server processes, the bare baseline, /proc sampling, tables.

Not a benchmark itself, except for one thing: `python bench/harness.py bare --port P`
runs the *bare baseline*, a minimal aiohttp app that reads any POST body, parses it
when it is JSON, and answers {"Success":1}, with the same runner settings as
`facectl serve` (facectl/server/run.py: no access log, auto_decompress off,
keep-alive 120 s, handler_cancellation off, backlog 4096, client_max_size 8 MiB).
It prints "listening on HOST:PORT" like `facectl serve`, so both are started and
awaited the same way (`ServerProcess.start_facectl` / `ServerProcess.start_bare`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------- processes


@dataclass
class ServerProcess:
    """A server in its own process (so the load generator never shares its event loop)."""

    name: str
    proc: subprocess.Popen
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start_facectl(cls, db: Path, workdir: Path, *, extra: list[str] | None = None,
                      timeout: float = 30.0) -> ServerProcess:
        port = free_port()
        cmd = [sys.executable, "-m", "facectl", "serve", "--db", str(db), "--host", "127.0.0.1",
               "--port", str(port), "--open-enrollment", *(extra or [])]
        return cls._start("facectl", cmd, workdir / f"facectl-{port}.log", port, timeout)

    @classmethod
    def start_bare(cls, workdir: Path, *, timeout: float = 30.0) -> ServerProcess:
        port = free_port()
        cmd = [sys.executable, str(Path(__file__).resolve()), "bare", "--host", "127.0.0.1", "--port", str(port)]
        return cls._start("bare", cmd, workdir / f"bare-{port}.log", port, timeout)

    @classmethod
    def _start(cls, name: str, cmd: list[str], log: Path, port: int, timeout: float) -> ServerProcess:
        out = open(log, "wb")  # noqa: SIM115 (kept open for the life of the child)
        env = {**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        out.close()
        deadline = time.monotonic() + timeout
        pattern = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} server exited with {proc.returncode}: {log.read_text(errors='replace')}")
            m = pattern.search(log.read_bytes())
            if m:
                return cls(name, proc, f"http://127.0.0.1:{int(m.group(1))}", log)
            time.sleep(0.05)
        proc.kill()
        raise SystemExit(f"{name} server did not print 'listening on' within {timeout:g} s; see {log}")

    def stop(self, *, crash: bool = False) -> int:
        """SIGTERM (or SIGKILL with crash=True, to check that acknowledged data survived)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def seed_people(db: Path, count: int, photo_bytes: int, **fields: Any) -> None:
    """`count` people with distinct photos in the database a server will open, before it starts.

    `fields` are more person fields; an int value is offset by the user id, so each person's
    differs (Password=100000 gives 100001, 100002, ...)."""
    from facectl.sim.jpeg import make_jpeg
    from facectl.store import Store
    from facectl.store.people import PersonInput

    store = Store(str(db))
    try:
        for first in range(1, count + 1, 500):
            store.people.save_many([
                PersonInput(uid, {"Name": f"Person {uid}", "CardNum": str(1_000_000 + uid),
                                  **{k: str(v + uid) if isinstance(v, int) else v for k, v in fields.items()}},
                            photo=make_jpeg(photo_bytes, uid))
                for uid in range(first, min(first + 500, count + 1))])
    finally:
        store.close()


# ----------------------------------------------------------- /proc sampling


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE


def proc_hwm_bytes(pid: int) -> int:
    """Peak RSS of a process so far (VmHWM): the peak between two samples too."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def proc_threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid: int) -> int:
    """Open file descriptors of a process (sockets included)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class _InTask:
    """`_run()` in an asyncio task between `start()` and `stop()` (the subclass holds `_task`)."""

    _task: asyncio.Task | None

    async def _run(self) -> None:
        raise NotImplementedError

    def start(self):  # noqa: ANN201  (returns the subclass)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class Sampler(_InTask):
    """Samples a process's CPU and RSS from /proc every `period` seconds (in an asyncio task)."""

    pid: int
    period: float = 0.5
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (monotonic, cpu s, rss bytes)
    _task: asyncio.Task | None = None

    def sample(self) -> None:
        try:
            self.samples.append((time.monotonic(), proc_cpu_seconds(self.pid), proc_rss_bytes(self.pid)))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.period)

    def start(self) -> Sampler:
        self.sample()
        return super().start()

    async def stop(self) -> None:
        await super().stop()
        self.sample()

    def window(self, start: float | None = None, end: float | None = None) -> dict[str, Any]:
        """CPU use (% of one core) and RSS between two monotonic times (default: everything)."""
        rows = [s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        if len(rows) < 2:
            rows = self.samples[-2:]
        if len(rows) < 2:
            return {"cpu_pct": None, "cpu_s": None, "rss_mb_max": None, "rss_mb_end": None}
        dt = rows[-1][0] - rows[0][0]
        cpu = rows[-1][1] - rows[0][1]
        # Busiest stretch of about one second: shows saturation that an average hides.
        peak = 0.0
        j = 0
        for i in range(len(rows)):
            j = max(j, i + 1)
            while j < len(rows) and rows[j][0] - rows[i][0] < 0.95:
                j += 1
            if j < len(rows):
                peak = max(peak, (rows[j][1] - rows[i][1]) / (rows[j][0] - rows[i][0]))
        return {
            "cpu_pct": round(100 * cpu / dt, 1) if dt > 0 else None,
            "cpu_peak_1s_pct": round(100 * peak, 1),
            "cpu_s": round(cpu, 2),
            "rss_mb_max": round(max(r[2] for r in rows) / 2**20, 1),
            "rss_mb_end": round(rows[-1][2] / 2**20, 1),
        }


# ------------------------------------------------------------ raw client


class RawConnection(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive client connection: one request at a time.

    For when the aiohttp client, not the server, would be the limit: the request is
    sent as prepared bytes and the answer is framed by Content-Length only (the
    servers measured here never send chunked answers to these requests). About
    five times cheaper per request than aiohttp's client.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(cls, host, port)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"\r\ncontent-length:")
        if i < 0:
            self.waiter.set_exception(ValueError("answer without Content-Length"))
            return
        j = head.find(b"\r\n", i + 2)
        length = int(head[i + 17:j if j > 0 else len(head)])
        total = end + 4 + length
        if len(self.buf) >= total:
            status = int(head[9:12])
            body = bytes(self.buf[end + 4:total])
            del self.buf[:total]
            self.waiter.set_result((status, body))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionResetError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def raw_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Probe(_InTask):
    """An independent observer of the server's event loop: GET / every `period` s on its own connection.

    Its latency timeline tells a server stall (every request waits, the probe too)
    from a simulator stall (the devices' requests look late, the probe does not).
    """

    url: str
    period: float = 0.05
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic sent, latency s)
    _task: asyncio.Task | None = None

    async def _run(self) -> None:
        parts = self.url.split("//", 1)[1].split(":")
        host, port = parts[0], int(parts[1].split("/")[0])
        raw = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
        conn: RawConnection | None = None
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            try:
                if conn is None or conn.closed:
                    conn = await RawConnection.open(host, port)
                await conn.request(raw)
                self.samples.append((time.monotonic(), loop.time() - start))
            except (OSError, ValueError):
                conn = None
            await asyncio.sleep(max(0.0, start + self.period - loop.time()))

    def window(self, start: float | None = None, end: float | None = None) -> dict[str, Any]:
        lat = [x for t, x in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        slow = [(round(t - (start or 0.0), 1), ms(x, 0)) for t, x in self.samples
                if x > 0.1 and (start is None or t >= start) and (end is None or t <= end)]
        return {"probes": len(lat), "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
                "max_ms": ms(max(lat) if lat else None), "over_100ms_at_s": slow[:40]}


def log_problems(log: Path, limit: int = 5) -> dict[str, Any]:
    """WARNING/ERROR lines of a server log: how many, and the first few."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if " WARNING " in line or " ERROR " in line or "Traceback" in line]
    return {"count": len(lines), "first": [line[:300] for line in lines[:limit]]}


# ------------------------------------------------------------------ figures


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (the same rule as facectl.sim.stats)."""
    if not values:
        return None
    data = sorted(values)
    k = max(0, min(len(data) - 1, math.ceil(q / 100.0 * len(data)) - 1))
    return data[k]


def ms(seconds: float | None, digits: int = 2) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, digits)


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, digits)


def machine() -> dict[str, Any]:
    """What the figures were measured on (the note every result carries)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    import aiohttp

    return {"cpus": os.cpu_count(), "cpu_model": model, "python": sys.version.split()[0],
            "aiohttp": aiohttp.__version__, "loadavg_at_start": [round(x, 2) for x in load],
            "note": "2 shared cores: server, baseline and load generator on one machine, loopback only"}


def print_table(title: str, columns: list[str], rows: list[list[Any]], file: Any = None) -> None:
    """A rich table on stderr (stdout stays free for --json)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold", title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*("-" if v is None else (f"{v:,.1f}" if isinstance(v, float) else str(v)) for v in row))
    Console(stderr=file is None, file=file, width=160).print(table)


def dump_json(data: Any, path: str | None) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if path in (None, "-"):
        print(text)
    else:
        Path(path).write_text(text + "\n")


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- bare app


def bare_main(argv: list[str]) -> None:
    """The bare baseline server (see the module docstring)."""
    from aiohttp import web

    from facectl.protocol.limits import KEEPALIVE_TIMEOUT_SECONDS, MAX_BODY_BYTES
    from facectl.server.run import BACKLOG

    ap = argparse.ArgumentParser(prog="harness.py bare", description="bare aiohttp JSON handler")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/json" and body:
            json.loads(body)
        return web.json_response({"Success": 1})

    async def main() -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False,
                               keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS, handler_cancellation=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port, backlog=BACKLOG, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
        print(f"bare aiohttp handler listening on {args.host}:{port}", flush=True)
        await asyncio.Event().wait()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bare":
        bare_main(sys.argv[2:])
    else:
        print(__doc__)
