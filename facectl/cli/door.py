"""`facectl door`, `facectl alarm`, `facectl elevator`: relay commands, short-lived by default.

Each is a RemoteCommand field (Opendoor 1-5, Closealarm, the five elevator port
fields) queued for the device's next poll. They expire after 60 s unless `--ttl`
says otherwise (protocol.md 5.5): a door that opens minutes late opens for the wrong
person. Clearing alarms is short-lived for the same reason: delivered hours
late it could silence a new, real alarm.
"""

from __future__ import annotations

import click

from facectl.protocol import commands as command_rules

from .commands import queue_and_report, ttl_option, wait_option
from .common import db_option, fail, open_store

_DOOR_HELP = {
    "open": "Pulse the door relay (Opendoor 1): opens for the device's ReleaseTime.",
    "hold-open": "Hold the door open until `door close` (Opendoor 2).",
    "close": "End a hold-open (Opendoor 3).",
    "lock": "Lock the door: nobody opens it until `door unlock` (Opendoor 4).",
    "unlock": "Lift a lock (Opendoor 5).",
}
_ELEVATOR_HELP = {
    "open": "Drive the elevator ports once (OpenElevatorPort).",
    "hold-open": "Hold the ports open (KeepOpenElevatorPort).",
    "close": "End a hold-open (CloseElevatorPort).",
    "lock": "Lock the ports: users cannot drive them (LockElevatorPort).",
    "unlock": "Lift a lock (UnlockElevatorPort).",
}


@click.group()
def door() -> None:
    """Open, hold, close, lock and unlock doors remotely.

    \b
    Examples:
      facectl door open FC-8190H24052799 --wait
      facectl door lock FC-8190H24052799 FC-8190H25061293 --ttl 5m
    """


def _door_command(action: str) -> click.Command:
    @click.command(action, help=_DOOR_HELP[action] + " Expires after 60 s by default."
                   f"\n\n\b\nExample:\n  facectl door {action} FC-8190H24052799 --wait")
    @click.argument("sns", nargs=-1, required=True, metavar="SN...")
    @ttl_option("60s")
    @wait_option
    @db_option
    def command(sns: tuple[str, ...], ttl: float | None, wait: bool, db_path: str) -> None:
        field, value = command_rules.opendoor(action)
        queue_and_report(open_store(db_path), sns, field, value, ttl, wait)

    return command


for _action in command_rules.DOOR_ACTIONS:
    door.add_command(_door_command(_action))


@click.group()
def alarm() -> None:
    """Alarms reported by devices.

    \b
    Example:
      facectl alarm clear FC-8190H24052799 --wait
    """


@alarm.command("clear")
@click.argument("sns", nargs=-1, required=True, metavar="SN...")
@ttl_option("60s")
@wait_option
@db_option
def clear(sns: tuple[str, ...], ttl: float | None, wait: bool, db_path: str) -> None:
    """Stop every alarm going off at the device, which records it (Closealarm).

    \b
    Example:
      facectl alarm clear FC-8190H24052799 --wait
    """
    queue_and_report(open_store(db_path), sns, command_rules.CLOSEALARM, 1, ttl, wait)


@click.group()
def elevator() -> None:
    """Drive, hold, lock and unlock elevator ports (floors) remotely.

    \b
    Examples:
      facectl elevator open FC-8190H24052799 3
      facectl elevator lock FC-8190H24052799 1,2,5 --ttl 5m
    """


def _elevator_command(action: str) -> click.Command:
    @click.command(action, help=_ELEVATOR_HELP[action] + " PORTS: 1-64, as 1,2,3 or 1 2 3. "
                   "Expires after 60 s by default."
                   f"\n\n\b\nExample:\n  facectl elevator {action} FC-8190H24052799 3,5")
    @click.argument("sn")
    @click.argument("ports", nargs=-1, required=True)
    @ttl_option("60s")
    @wait_option
    @db_option
    def command(sn: str, ports: tuple[str, ...], ttl: float | None, wait: bool, db_path: str) -> None:
        try:
            field, value = command_rules.elevator(action, ",".join(ports))
        except command_rules.CommandError as exc:
            fail(str(exc), 2)
        queue_and_report(open_store(db_path), (sn,), field, value, ttl, wait)

    return command


for _action in command_rules.ELEVATOR_ACTIONS:
    elevator.add_command(_elevator_command(_action))
