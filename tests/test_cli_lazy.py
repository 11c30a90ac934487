"""The command line starts light: --version, --help and completion import no command module.

Each probe runs the real entry point in a fresh interpreter and reports the modules it
imported, because an import made by an earlier test in this process would hide one here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from facectl.cli.main import COMMANDS, cli

#: What starting the CLI must never pay for unless the command needs it.
HEAVY = ("aiohttp", "facectl.sim", "facectl.server", "facectl.inspect", "mitmproxy", "rich.progress",
         "sqlite_utils")

PROBE = """
import json, sys
from facectl.cli.main import cli
try:
    cli.main(sys.argv[1:], prog_name="facectl")
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def run_probe(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """(stdout, top modules imported) of `facectl ARGS` in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)
    marker = done.stderr.rindex("MODULES ")
    return done.stdout, set(json.loads(done.stderr[marker + len("MODULES "):]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [["--version"], ["--help"], []], ids=["--version", "--help", "no arguments"])
def test_start_imports_no_command(args: list[str]) -> None:
    out, modules = run_probe(*args)
    assert "facectl" in out or not args  # without arguments click shows the help on stderr
    assert heavy_in(modules) == []
    assert not [m for m in modules if m.startswith("facectl.cli.") and m != "facectl.cli.main"]


def test_help_lists_every_command_with_its_help() -> None:
    out, _ = run_probe("--help", env={"COLUMNS": "200"})
    for name, (_, short) in COMMANDS.items():
        assert f"  {name} " in out and short.rstrip(".")[:40] in out, name


def test_completing_a_command_name_imports_no_command() -> None:
    env = {"_FACECTL_COMPLETE": "bash_complete", "COMP_WORDS": "facectl d", "COMP_CWORD": "1"}
    out, modules = run_probe(env=env)
    assert {line.split(",", 1)[1] for line in out.splitlines()} == {"db", "demo", "device", "door"}
    assert heavy_in(modules) == []
    assert not [m for m in modules if m.startswith("facectl.cli.") and m != "facectl.cli.main"]


def test_completing_inside_a_command_imports_that_command_only() -> None:
    env = {"_FACECTL_COMPLETE": "bash_complete", "COMP_WORDS": "facectl door ", "COMP_CWORD": "2"}
    out, modules = run_probe(env=env)
    assert {"open", "close", "lock"} <= {line.split(",", 1)[1] for line in out.splitlines()}
    assert "facectl.cli.door" in modules and "facectl.cli.people" not in modules
    assert heavy_in(modules) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_and_shows_help(name: str) -> None:
    with click.Context(cli, info_name="facectl") as ctx:
        command = cli.get_command(ctx, name)
    assert isinstance(command, click.Command) and command.name == name
    # The map's one-line help is what the command itself would show (it must not drift).
    assert click.Command(name, help=COMMANDS[name][1]).get_short_help_str(200) == command.get_short_help_str(200)
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="facectl")
    assert result.exit_code == 0, result.output
    assert f"Usage: facectl {name}" in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_commands_help_needs_no_network_stack(name: str) -> None:
    """Even `facectl sim --help` shows its options without aiohttp (or mitmproxy, or the server)."""
    out, modules = run_probe(name, "--help")
    assert f"Usage: facectl {name}" in out
    assert not [m for m in modules if m.split(".")[0] in ("aiohttp", "mitmproxy") or m.startswith("facectl.server")]


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["doors"], prog_name="facectl")
    assert result.exit_code == 2 and "No such command 'doors'" in result.stderr
