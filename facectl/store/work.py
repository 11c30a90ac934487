"""What a device should do next: the Keepalive flags, derived from stored state.

Flags are never stored; they are computed at each keepalive from what the
store holds (desired state vs confirmed state), so a lost answer or a restart
cannot make the server forget work. The answer lists the flags in the
document's priority (protocol.md 1.1); the device follows them in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from facectl.protocol.endpoints import KEEPALIVE_FLAGS

FlagCheck = Callable[[str], bool]


class Work:
    def __init__(self, checks: Mapping[str, FlagCheck]) -> None:
        unknown = set(checks) - set(KEEPALIVE_FLAGS)
        if unknown:
            raise KeyError(f"not Keepalive flags: {sorted(unknown)}")
        self._checks = [(flag, checks[flag]) for flag in KEEPALIVE_FLAGS if flag in checks]

    def flags(self, sn: str) -> dict[str, int]:
        """The flags due for `sn`, in priority order, as the Keepalive answer carries them."""
        return {flag: 1 for flag, check in self._checks if check(sn)}
