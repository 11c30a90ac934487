"""How a simulated terminal's period goes on after a call: continue, or stop until the next keepalive."""

from __future__ import annotations

from enum import Enum


class Flow(Enum):
    CONTINUE = "continue"
    #: Stop this cycle and stay quiet until the next keepalive (failure, 401/403/400).
    STOP = "stop"


class DeviceRestart(Exception):
    """The device restarts (remote command, firmware update, injected fault)."""
