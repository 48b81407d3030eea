"""The virtual clock: integer milliseconds that only the simulator moves."""

from __future__ import annotations

from labkit.sim.errors import SimError

__all__ = ["VirtualClock"]


class VirtualClock:
    """Virtual time in ms, starting at 0. It never goes backwards."""

    __slots__ = ("_now_ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = start_ms

    @property
    def now_ms(self) -> int:
        """The current virtual time."""
        return self._now_ms

    def advance_to(self, time_ms: int) -> None:
        """Move to ``time_ms``; moving backwards is a simulator bug."""
        if time_ms < self._now_ms:
            raise SimError(f"clock moved backwards: {self._now_ms} -> {time_ms} ms")
        self._now_ms = time_ms
