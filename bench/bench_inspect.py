#!/usr/bin/env python3
"""Offline decoding throughput of `facectl inspect`: exchanges per second.

    .venv/bin/python bench/bench_inspect.py                # 200 devices × 17 exchanges
    .venv/bin/python bench/bench_inspect.py --devices 50 --people 100

Builds realistic traffic (facectl.inspect.samples.session: every endpoint,
gzip parts, JPEG photos, a photo download) for many devices, writes it as a
mitmproxy capture, and times three stages:

* read      - mitmproxy's FlowReader only (the floor);
* decode    - decode_exchange + lint on in-memory inputs (the inspector's own cost);
* pipeline  - read + decode + lint + Timeline, as `facectl inspect FILE` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

try:
    import facectl.inspect  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facectl.inspect import Timeline, decode_exchange, samples  # noqa: E402
from facectl.inspect.flows import build_flow, flow_inputs, inspect_files, read_flows, write_flows  # noqa: E402


def build(devices: int, people: int) -> list[samples.Sample]:
    out: list[samples.Sample] = []
    for i in range(devices):
        sn = f"FC-8190H{24052799 + i:08d}"
        out += samples.session(sn, samples.T0 + i * 0.37, client=f"conn-{i}", people=people).samples
    return out


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--people", type=int, default=2, help="people per DownloadPeopleList page")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    conversation = build(args.devices, args.people)
    n = len(conversation)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.flows"
        write_flows(path, (build_flow(**s.kwargs()) for s in conversation))
        size = path.stat().st_size
        inputs = [flow_inputs(f) for f in read_flows(path)]

        def decode_all() -> None:
            tl = Timeline()
            for kw in inputs:
                tl.observe(decode_exchange(**kw))

        best = {"read": float("inf"), "decode": float("inf"), "pipeline": float("inf")}
        for _ in range(args.repeat):
            best["read"] = min(best["read"], timed(lambda: sum(1 for _ in read_flows(path)))[0])
            best["decode"] = min(best["decode"], timed(decode_all)[0])
            elapsed, exchanges = timed(lambda: inspect_files([path]))
            assert len(exchanges) == n
            best["pipeline"] = min(best["pipeline"], elapsed)

    result = {
        "exchanges": n, "devices": args.devices, "people_per_page": args.people,
        "capture_bytes": size,
        **{f"{stage}_per_s": round(n / secs) for stage, secs in best.items()},
        **{f"{stage}_s": round(secs, 3) for stage, secs in best.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{n} exchanges ({args.devices} devices, {args.people} people per page), "
              f"capture {size / 1e6:.1f} MB, best of {args.repeat}:")
        for stage in ("read", "decode", "pipeline"):
            print(f"  {stage:<9} {result[f'{stage}_per_s']:>8} exchanges/s  ({result[f'{stage}_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
