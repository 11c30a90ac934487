"""mitmproxy addon: decode FCARD HTTPv2 device traffic, check it against the document.

    mitmdump --mode reverse:http://SERVER:PORT -p 9003 -s addons/decode.py \\
             --set connection_strategy=lazy --set flow_detail=0

Prints one line (or, with `--set facectl_detail=full`, one table) per device
exchange, with code-table labels, photos and lint findings; adds a
"FCARD HTTPv2" contentview to mitmweb and the mitmproxy console. Options:

    facectl_detail  compact | full        how much to print per exchange
    facectl_sn      SN[,SN...]            only these devices
    facectl_photos  DIR                   save every photo seen
    facectl_db      FILE                  store decoded exchanges in SQLite

This file is an adapter only: decoding, lint and rendering live in
facectl.inspect, shared with `facectl inspect FILE.flows`. It runs from a
plain checkout too (facectl not installed): the repository root is put on
sys.path. Nothing here may take mitmproxy down: odd bytes become findings,
and any other failure is logged, never raised into the proxy.
"""

from __future__ import annotations

import difflib
import logging
import sys
import time
from pathlib import Path
from typing import Any

try:
    import facectl.inspect  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    from mitmproxy import contentviews, ctx, exceptions, http
    from rich.console import Console

    from facectl.inspect import Timeline, render
    from facectl.inspect.flows import decode_flow, is_device_flow
    from facectl.inspect.save import save_photos
    from facectl.inspect.sqlite import ExchangeDB
except ImportError as exc:  # mitmproxy's Python lacks facectl or its dependencies
    raise ImportError(f"addons/decode.py: {exc.name or exc} is missing in {sys.executable}; "
                      "install there: pip install 'facectl[inspect]'", name=exc.name) from None

log = logging.getLogger("facectl")

VIEW_NAME = "FCARD HTTPv2"
DETAILS = ("compact", "full")
OPTIONS = ("facectl_detail", "facectl_sn", "facectl_photos", "facectl_db")
#: Priority that beats mitmproxy's own views (JSON, multipart: at most 1) on device traffic.
VIEW_PRIORITY = 2.0


def _view_text(flow: Any, message: Any) -> str | None:
    """The decoded side of a device flow as text, or None when it is not device traffic."""
    if not is_device_flow(flow):
        return None
    side = "response" if isinstance(message, http.Response) else "request"
    return render.plain(decode_flow(flow), side)


if hasattr(contentviews, "Contentview"):  # mitmproxy >= 12: the Contentview protocol

    class FacectlView(contentviews.Contentview):  # type: ignore[misc,name-defined]
        """Decoded device bodies in mitmweb / the console; claims device traffic only."""

        name = VIEW_NAME  # type: ignore[assignment]

        def prettify(self, data: bytes, metadata: Any) -> str:
            text = _view_text(metadata.flow, metadata.http_message)
            if text is None:
                raise ValueError("not FCARD HTTPv2 device traffic")
            return text

        def render_priority(self, data: bytes, metadata: Any) -> float:
            return VIEW_PRIORITY if is_device_flow(metadata.flow) else -1.0

else:  # mitmproxy 11: the View class API

    class FacectlView(contentviews.View):  # type: ignore[no-redef]
        """Decoded device bodies in mitmweb / the console; claims device traffic only."""

        name = VIEW_NAME

        def __call__(self, data: bytes, *, content_type: str | None = None, flow: Any = None,
                     http_message: Any = None, **unknown_metadata: Any):
            text = _view_text(flow, http_message)
            if text is None:
                return None  # mitmproxy falls back to Raw
            return "FCARD HTTPv2 (facectl)", contentviews.format_text(text)

        def render_priority(self, data: bytes, *, content_type: str | None = None,
                            flow: Any = None, http_message: Any = None,
                            **unknown_metadata: Any) -> float:
            return VIEW_PRIORITY if is_device_flow(flow) else 0.0


def register_view() -> FacectlView:
    view = FacectlView()
    if hasattr(contentviews, "registry"):  # 12: registering again replaces by name
        contentviews.add(view)
        return view
    old = contentviews.get(VIEW_NAME)
    if old is not None:  # a hot reload that skipped done()
        contentviews.remove(old)
    contentviews.add(view)
    return view


def unregister_view(view: FacectlView | None) -> None:
    if view is None or hasattr(contentviews, "registry"):
        return  # 12 has no removal; the next registration replaces it
    if view in contentviews.views:
        contentviews.remove(view)


class FacectlDecode:
    """The hooks: decode each finished exchange, print it, store it, keep the Timeline."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.timeline = Timeline()
        self.view: FacectlView | None = None
        self.db: ExchangeDB | None = None
        self.photos: Path | None = None
        self.sns: frozenset[str] = frozenset()
        self.reported: set[str] = set()
        self.shown = 0

    def load(self, loader: Any) -> None:
        loader.add_option("facectl_detail", str, "compact",
                          "facectl: one line per device exchange, or a full table.",
                          choices=DETAILS)
        loader.add_option("facectl_sn", str, "",
                          "facectl: only show these device serials (comma-separated).")
        loader.add_option("facectl_photos", str | None, None,
                          "facectl: save every photo seen to this directory.")
        loader.add_option("facectl_db", str | None, None,
                          "facectl: store decoded exchanges in this SQLite file.")
        self.view = register_view()

    def configure(self, updates: set[str]) -> None:
        if "facectl_detail" in updates and ctx.options.facectl_detail not in DETAILS:
            raise exceptions.OptionsError(
                f"facectl_detail must be one of {', '.join(DETAILS)}, not {ctx.options.facectl_detail!r}")
        if "facectl_sn" in updates:
            self.sns = frozenset(s.strip().upper() for s in ctx.options.facectl_sn.split(",") if s.strip())
        if "facectl_photos" in updates:
            self.photos = None
            if ctx.options.facectl_photos:
                path = Path(ctx.options.facectl_photos)
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise exceptions.OptionsError(f"facectl_photos: cannot use {path}: {exc}") from None
                self.photos = path
        if "facectl_db" in updates:
            self._close_db()
            if ctx.options.facectl_db:
                try:
                    self.db = ExchangeDB(ctx.options.facectl_db)
                except Exception as exc:  # noqa: BLE001 - sqlite3 / OS errors alike
                    raise exceptions.OptionsError(
                        f"facectl_db: cannot open {ctx.options.facectl_db}: {exc}") from None
        self.report_misspelt()

    def running(self) -> None:
        self.report_misspelt()

    def report_misspelt(self) -> list[str]:
        """Options set with --set that nobody declared but that look like ours.

        mitmproxy keeps unknown --set options aside ("deferred") for scripts
        that load later and never complains when none does, so a typo such as
        `facectl_detial=full` would be silently ignored.
        """
        messages = []
        for name in sorted(getattr(ctx.options, "deferred", {})):
            close = difflib.get_close_matches(name, OPTIONS, n=1, cutoff=0.75)
            if not (close or name.lower().startswith("facectl")) or name in self.reported:
                continue
            self.reported.add(name)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(OPTIONS)}"
            messages.append(f"facectl: unknown option {name!r} is ignored; {hint}")
        for message in messages:
            log.error(message)
        return messages

    # -- flows

    def response(self, flow: http.HTTPFlow) -> None:
        self.handle(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if isinstance(flow, http.HTTPFlow) and flow.response is None:
            self.handle(flow)  # no answer: the device saw a timeout

    def client_disconnected(self, client: Any) -> None:
        self.timeline.connection_closed(client.id, client.timestamp_end or time.time())

    def handle(self, flow: http.HTTPFlow) -> None:
        if not isinstance(flow, http.HTTPFlow):
            return
        try:
            ex = decode_flow(flow)
            self.timeline.observe(ex)
            if not ex.is_device or (self.sns and ex.sn.upper() not in self.sns):
                return
            if ctx.options.facectl_detail == "full":
                if self.shown:
                    self.console.line()  # the caption (document section) is not the next exchange's title
                self.console.print(render.full(ex))
            else:
                width = self.console.width if self.console.is_terminal else None  # a log file: whole lines
                self.console.print(render.compact(ex, width), soft_wrap=True)
            self.shown += 1
            if self.photos is not None:
                save_photos(ex, self.photos)
            if self.db is not None:
                self.db.add(ex)
        except Exception:  # noqa: BLE001 - never take the proxy down
            log.exception("facectl: could not handle %s %s", flow.request.method, flow.request.path)

    def done(self) -> None:
        self._close_db()
        unregister_view(self.view)
        self.view = None

    def _close_db(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


addons = [FacectlDecode()]
