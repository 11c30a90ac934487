"""The door of a simulated terminal: relay, door sensor, keep-open, lock, alarms and elevator ports.

Its state is what the keepalive and the settings upload report; an Opendoor, Closealarm or
elevator command changes it, writing the system and door records a terminal writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facectl.protocol import commands

from .codes import (
    ALARM_CLEARED,
    DOOR_CLOSED,
    DOOR_OPENED,
    OPEN_CLOSE,
    OPEN_KEEP,
    OPEN_LOCK,
    OPEN_PULSE,
    OPEN_UNLOCK,
    SYS_CLOSE,
    SYS_KEEP_OPEN,
    SYS_LOCK,
    SYS_OPEN,
    SYS_UNLOCK,
)

if TYPE_CHECKING:
    from .context import Context

#: Elevator field -> the port set it changes (none: OpenElevatorPort pulses) and whether it adds to it.
ELEVATOR_EFFECTS: tuple[tuple[str, str | None, bool], ...] = (
    (commands.OPEN_ELEVATOR, None, True),
    (commands.KEEP_OPEN_ELEVATOR, "keep_open", True),
    (commands.CLOSE_ELEVATOR, "keep_open", False),
    (commands.LOCK_ELEVATOR, "locked", True),
    (commands.UNLOCK_ELEVATOR, "locked", False),
)


class Door:
    """The door part: its state, and what door commands and people passing do to it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.relay_until = 0.0
        self.door_open_until = 0.0
        self.keep_open = 0
        self.locked = 0
        self.alarms: list[str] = []
        self.elevator: dict[str, set[int]] = {"keep_open": set(), "locked": set()}

    @property
    def relay_status(self) -> int:
        return 1 if self.keep_open or self.ctx.clock() < self.relay_until else 0

    @property
    def door_sensor(self) -> int:
        return 1 if self.keep_open or self.ctx.clock() < self.door_open_until else 0

    def status(self) -> dict[str, Any]:
        """The door fields of a Keepalive and of UploadWorkSetting (AlarmStatus is the caller's)."""
        return {"RelayStatus": self.relay_status, "KeepOpenStatus": self.keep_open,
                "DoorSensorStatus": self.door_sensor, "LockDoorStatus": self.locked}

    def power_on(self) -> None:
        """A boot releases the relay and ends keep-open (lock and alarms stay)."""
        self.relay_until = self.door_open_until = 0.0
        self.keep_open = 0

    def factory_reset(self) -> None:
        self.alarms.clear()
        self.locked = 0

    def opendoor(self, door: int) -> None:
        """Carry out an Opendoor value, writing the records a terminal writes."""
        log = self.ctx.log
        if door == OPEN_PULSE:
            self.relay_until = self.ctx.clock() + self.ctx.release_seconds()
            self.door_open_until = self.relay_until
            log.system_event(SYS_OPEN)
            log.door_event(DOOR_OPENED)
            log.door_event(DOOR_CLOSED, self.door_open_until)
        elif door == OPEN_KEEP:
            self.keep_open = 1
            log.system_event(SYS_KEEP_OPEN)
        elif door == OPEN_CLOSE:
            self.keep_open = 0
            self.relay_until = self.door_open_until = 0.0
            log.system_event(SYS_CLOSE)
        elif door == OPEN_LOCK:
            self.locked = 1
            log.system_event(SYS_LOCK)
        elif door == OPEN_UNLOCK:
            self.locked = 0
            log.system_event(SYS_UNLOCK)

    def close_alarms(self) -> None:
        """Closealarm: each alarm's clearing is recorded, then none is left."""
        for name in self.alarms:
            if name in ALARM_CLEARED:
                self.ctx.log.system_event(ALARM_CLEARED[name])
        self.alarms.clear()

    def elevator_commands(self, cmds: dict[str, Any]) -> list[str]:
        """Apply the elevator fields among a RemoteCommand's commands; the names applied."""
        applied = []
        for name, target, add in ELEVATOR_EFFECTS:
            if name not in cmds:
                continue
            applied.append(name)
            if target is not None:
                ports = set(commands.parse_ports(cmds[name]))
                self.elevator[target] = self.elevator[target] | ports if add else self.elevator[target] - ports
        return applied

    def passed(self, when: float) -> None:
        """Someone was let in: the door sensor opens and closes again (with --door-records)."""
        if self.ctx.config.door_records:
            self.ctx.log.door_event(DOOR_OPENED, when)
            self.ctx.log.door_event(DOOR_CLOSED, when + self.ctx.release_seconds())
