"""`facectl`: the entry point. Each command group lives in its own module, imported on first use.

`facectl --version`, `facectl --help` and shell completion of the command names run on
every Tab and every script call, so they must not pay for aiohttp, the simulator, the
server or mitmproxy. The top-level group therefore knows its commands only by name,
where they live and their one-line help (COMMANDS); a command's module is imported when
that command runs, or when its own --help or completion is asked for.
"""

from __future__ import annotations

import importlib

import click
from click.shell_completion import CompletionItem

from facectl import __version__

#: Every top-level command: name -> ("module:attribute", the one-line help `facectl --help`
#: and completion show without importing the module). Adding a command (group) is one line
#: here; tests/test_cli_lazy.py checks that each entry loads and that its help matches.
COMMANDS: dict[str, tuple[str, str]] = {
    "alarm": ("facectl.cli.door:alarm", "Alarms reported by devices."),
    "commands": ("facectl.cli.commands:commands", "Follow and cancel queued remote commands."),
    "backup": ("facectl.cli.db:backup",
               "Copy the database to DEST while the server runs, check the copy, print its size and time."),
    "db": ("facectl.cli.db:db", "Check the database and hand freed space back to the file system."),
    "demo": ("facectl.cli.demo:demo", "See it all move, no hardware needed: server, devices, dashboard."),
    "device": ("facectl.cli.device_commands:device", "List, approve and configure devices."),
    "door": ("facectl.cli.door:door", "Open, hold, close, lock and unlock doors remotely."),
    "elevator": ("facectl.cli.door:elevator", "Drive, hold, lock and unlock elevator ports (floors) remotely."),
    "events": ("facectl.cli.events:events",
               "Events for other systems: records, devices online/offline, alarms, refused people."),
    "inspect": ("facectl.cli.inspect:inspect", "Decode device traffic in mitmproxy capture FILES (.flows, or HAR)."),
    "people": ("facectl.cli.people:people", "Add, change and remove people; follow their delivery to devices."),
    "quarantine": ("facectl.cli.quarantine:quarantine", "Inspect uploads the server kept but could not use."),
    "records": ("facectl.cli.records:records", "Read records uploaded by devices."),
    "serve": ("facectl.cli.serve:serve", "Run the HTTPv2 server that devices poll."),
    "sim": ("facectl.cli.sim:sim", "Simulated FCARD terminals that follow the HTTPv2 call flow against a server."),
    "watch": ("facectl.cli.watch:watch",
              "A live dashboard: devices online/offline, door, lock, alarms, pending work, latest records."),
}


class LazyGroup(click.Group):
    """click's documented lazy-loading group, plus help and completion from the map alone."""

    def __init__(self, *args: object, lazy_commands: dict[str, tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name][0]} is not a click command")
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help from the map, without importing any command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._short_help(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names (with their help) from the map; options as any command completes them."""
        items = [CompletionItem(name, help=self._short_help(ctx, name, 45))
                 for name in self.list_commands(ctx) if name.startswith(incomplete)]
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def _short_help(self, ctx: click.Context, name: str, limit: int) -> str:
        if name in self.lazy_commands and name not in self.commands:
            # click shortens a placeholder's help exactly as it would the loaded command's.
            return click.Command(name, help=self.lazy_commands[name][1]).get_short_help_str(limit)
        command = self.get_command(ctx, name)
        return command.get_short_help_str(limit) if command else ""


@click.group(cls=LazyGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="facectl")
def cli() -> None:
    """Run and manage FCARD HTTPv2 face-recognition access terminals.

    \b
    Examples (start here):
      facectl serve                      # devices connect to this server
      facectl device list                # see who connected; approve them
      facectl device approve FC-8190H24052799
      facectl demo                       # no hardware? see it all move

    Every command reads the same SQLite database: --db PATH, else $FACECTL_DB,
    else ./facectl.db. Commands queue work; devices pick it up when they poll.
    """
