"""CLI start time: `facectl --version`, `--help` and shell completion beside `sqlite-utils --version`.

    .venv/bin/python bench/bench_cli.py                   # 30 runs of each, interleaved
    .venv/bin/python bench/bench_cli.py --runs 20 --json cli.json
    git archive REV facectl | tar -x -C /tmp/before        # another tree's facectl beside this one
    .venv/bin/python bench/bench_cli.py --runs 25 --compare /tmp/before

Every run is a fresh process started the way a shell starts it (the console scripts of
the interpreter's environment), its wall time from fork to exit. The cases are run
round-robin (one of each, then again), so a burst of load on this shared machine hits
every case alike; the figure is the median, and the ratio is against the median of
`sqlite-utils --version` measured in the same run: a click CLI of similar size, the
baseline the goal names. Goal: `facectl --version` <= 1.5x; the others are shown for
information (completion pays a start on every Tab, so it matters as much).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import dump_json, machine, ms, note, percentile, print_table, ratio  # noqa: E402

BIN = Path(sys.executable).parent
GOAL = 1.5

#: (name, argv, extra environment); the first is the baseline.
CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("sqlite-utils --version", [str(BIN / "sqlite-utils"), "--version"], {}),
    ("facectl --version", [str(BIN / "facectl"), "--version"], {}),
    ("facectl --help", [str(BIN / "facectl"), "--help"], {}),
    ("facectl <Tab> (complete 'd')", [str(BIN / "facectl")],
     {"_FACECTL_COMPLETE": "bash_complete", "COMP_WORDS": "facectl d", "COMP_CWORD": "1"}),
    ("facectl device list --help", [str(BIN / "facectl"), "device", "list", "--help"], {}),
]


#: Starts `cli` from the facectl package under a given directory (for --compare), as the console script does.
STUB = "import sys; sys.path.insert(0, {tree!r}); from facectl.cli.main import cli; cli(prog_name='facectl')"


def compare_cases(tree: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """This tree and the other one, both started with `python -c`, so only the trees differ."""
    here = Path(__file__).resolve().parents[1]
    return [(f"{label}: facectl {arg}", [sys.executable, "-c", STUB.format(tree=str(where)), arg], {})
            for arg in ("--version", "--help") for label, where in (("this tree", here), (str(tree), tree))]


def time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


def run(runs: int, compare: Path | None = None, warmup: int = 2) -> dict[str, Any]:
    cases = CASES + (compare_cases(compare) if compare else [])
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("_FACECTL_COMPLETE")}
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for i in range(warmup + runs):
        for name, argv, extra in cases:
            elapsed = time_once(argv, {**base_env, **extra})
            if i >= warmup:  # the first runs fill the page cache
                times[name].append(elapsed)
    base = statistics.median(times[CASES[0][0]])
    figures = {}
    for name, values in times.items():
        median = statistics.median(values)
        figures[name] = {"median_ms": ms(median, 1), "min_ms": ms(min(values), 1),
                       "p90_ms": ms(percentile(values, 90), 1), "ratio": ratio(median, base, 2)}
    version = figures["facectl --version"]
    return {"benchmark": "cli_start", "runs": runs, "machine": machine(), "cases": figures,
            "goal": f"facectl --version <= {GOAL}x sqlite-utils --version",
            "met": version["ratio"] is not None and version["ratio"] <= GOAL}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="timed runs of each case (after 2 warm-up rounds)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the result as JSON (- = stdout)")
    ap.add_argument("--compare", type=Path, metavar="DIR",
                    help="also time the facectl package under DIR (e.g. an older commit's), beside this one")
    args = ap.parse_args()
    if args.compare and not (args.compare / "facectl" / "cli" / "main.py").exists():
        ap.error(f"{args.compare} has no facectl/cli/main.py (git archive REV facectl | tar -x -C DIR)")
    note(f"{len(CASES) + (4 if args.compare else 0)} cases x {args.runs} runs, interleaved")
    result = run(args.runs, args.compare)
    rows = [[name, c["median_ms"], c["min_ms"], c["p90_ms"], f"{c['ratio']:.2f}"]
            for name, c in result["cases"].items()]
    print_table(f"CLI start, {args.runs} runs each (ratio: median / sqlite-utils --version)",
                ["case", "median ms", "min ms", "p90 ms", "ratio"], rows)
    note(f"goal {result['goal']}: {'met' if result['met'] else 'NOT met'}")
    if args.json:
        dump_json(result, args.json)


if __name__ == "__main__":
    main()
