"""`facectl`: the entry point. Each command group lives in its own module."""

from __future__ import annotations

import click

from facectl import __version__
from facectl.cli import (
    commands,
    db,
    demo,
    device_commands,  # noqa: F401  (adds restart, snapshot, enroll, … to the `device` group)
    devices,
    door,
    events,
    inspect,
    people,
    quarantine,
    records,
    serve,
    sim,
    watch,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for command in (
    serve.serve,
    devices.device,
    people.people,
    door.door,
    door.alarm,
    door.elevator,
    commands.commands,
    records.records,
    events.events,
    db.db,
    db.backup,
    quarantine.quarantine,
    watch.watch,
    demo.demo,
    inspect.inspect,
    sim.sim,
):
    cli.add_command(command)
