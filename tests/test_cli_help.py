"""Every command's --help shows an example, and errors are one line that says what to do next."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from facectl.cli.main import cli
from facectl.store import Store

SN = "FC-8190H24052799"
UNKNOWN_SN = "FC-8190H11111111"


def commands(cmd: click.Command = cli, path: str = "facectl") -> Iterator[tuple[str, click.Command]]:
    """(full name, command) for the whole click tree, groups included (lazy ones loaded)."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        with click.Context(cmd, info_name=path) as ctx:
            subs = [(name, cmd.get_command(ctx, name)) for name in cmd.list_commands(ctx)]
        for name, sub in subs:
            assert sub is not None, f"{path} {name} does not load"
            yield from commands(sub, f"{path} {name}")


def help_text(path: str, cmd: click.Command) -> str:
    with click.Context(cmd, info_name=path, max_content_width=100) as ctx:
        return cmd.get_help(ctx)


def examples(text: str) -> list[str]:
    """The `facectl ...` lines that directly follow an "Example"/"Examples" heading line."""
    lines = [line.strip() for line in text.splitlines()]
    out = []
    for i, line in enumerate(lines):
        if re.match(r"Examples?\b", line):
            for follow in lines[i + 1:]:
                if not follow.startswith("facectl "):
                    break
                out.append(follow)
    return out


ALL = list(commands())


def test_the_walk_sees_the_whole_tree() -> None:
    names = {path for path, _ in ALL}
    assert len(ALL) > 50
    assert {"facectl", "facectl door open", "facectl device set", "facectl people import", "facectl demo",
            "facectl elevator unlock", "facectl inspect", "facectl sim"} <= names


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[path for path, _ in ALL])
def test_help_has_an_example(path: str, cmd: click.Command) -> None:
    text = help_text(path, cmd)
    found = examples(text)
    assert found, f"`{path} --help` has no 'Example(s):' line followed by a facectl command:\n{text}"
    # The example runs this command (or, for a group, one of its subcommands).
    words = path.split()[1:]
    assert any(line.split()[1:1 + len(words)] == words for line in found), (path, found)


def test_example_options_exist() -> None:
    """An example must not show an option its command does not have (help drifts when options change)."""
    for path, cmd in ALL:
        if isinstance(cmd, click.Group):
            continue
        known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
        for line in examples(help_text(path, cmd)):
            used = {w.split("=")[0] for w in line.split() if w.startswith("-") and not w.startswith("--db")}
            assert used <= known, f"{path}: example `{line}` uses {sorted(used - known)}"


# --- errors ---------------------------------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> str:
    """A database with one approved device that has not uploaded its settings yet."""
    path = str(tmp_path / "site.db")
    store = Store(path)
    store.devices.add(SN)
    store.close()
    return path


ERRORS = [
    # (arguments, exit code, what the hint must mention)
    (["device", "list", "--db", "{missing}"], 3, "facectl serve"),
    (["device", "approve", UNKNOWN_SN], 1, "facectl device add"),
    (["door", "open", UNKNOWN_SN], 1, "facectl device list"),
    (["people", "show", "99"], 1, "facectl people list"),
    (["device", "set", SN, "Volume=3"], 1, f"facectl device refresh {SN}"),
    (["device", "get", SN], 1, f"facectl device refresh {SN}"),
    (["records", "photo", SN, "1", "-o", "{tmp}/x.jpg"], 1, f"facectl records list --sn {SN}"),
    (["commands", "show", "5"], 1, "facectl commands list"),
    (["commands", "cancel", "5"], 1, "facectl commands list"),
    (["quarantine", "show", "1"], 1, "facectl quarantine list"),
    (["people", "status", UNKNOWN_SN], 1, "facectl device list"),
    (["device", "add", "bad"], 1, "FC-8190H24052799"),
    (["device", "snapshot", SN, "-o", "x.jpg"], 2, "--wait"),
    (["people", "rm"], 2, "--all"),
    (["serve", "--tls-cert", "{db}"], 2, "give both"),
    (["demo", "--db", "{db}"], 2, "leave --db out"),
]


@pytest.mark.parametrize(("args", "code", "hint"), ERRORS, ids=[" ".join(a[:2]) + f" ({h})" for a, _, h in ERRORS])
def test_errors_are_one_line_with_what_to_do(site: str, tmp_path: Path, args: list[str], code: int,
                                             hint: str) -> None:
    args = [a.format(missing=tmp_path / "none.db", tmp=tmp_path, db=site) for a in args]
    if "--db" not in args and args[0] != "serve":
        args += ["--db", site]
    elif args[0] == "serve":
        args += ["--db", site, "--port", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, (args, result.output)
    assert isinstance(result.exception, SystemExit), result.exception  # a chosen exit, not a crash
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (args, result.stderr)
    assert lines[0].startswith("error: ") and hint in lines[0], (args, lines[0])
    assert result.stdout == "", (args, result.stdout)


def test_usage_errors_point_at_help(site: str) -> None:
    """click's own usage errors (exit 2) name the command's --help."""
    result = CliRunner().invoke(cli, ["door", "open", "--db", site], prog_name="facectl")
    assert result.exit_code == 2
    assert re.search(r"Try 'facectl door open (-h|--help)' for help", result.stderr), result.stderr
    assert "Missing argument 'SN...'" in result.stderr


# --- shell completion ---------------------------------------------------------------------------


@pytest.mark.parametrize(("words", "expected"), [
    ("facectl de", {"demo", "device"}),
    ("facectl door ", {"open", "close", "hold-open", "lock", "unlock"}),
])
def test_shell_completion_as_documented(words: str, expected: set[str]) -> None:
    """`_FACECTL_COMPLETE=bash_source facectl` (docs/operations.md) gives a script; its calls complete names."""
    source = CliRunner().invoke(cli, [], prog_name="facectl", env={"_FACECTL_COMPLETE": "bash_source"})
    assert source.exit_code == 0 and "_facectl_completion" in source.output
    env = {"_FACECTL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = CliRunner().invoke(cli, [], prog_name="facectl", env=env)
    offered = {line.split(",", 1)[1] for line in result.output.splitlines() if line.startswith("plain,")}
    assert expected <= offered, result.output
