"""The interface of a role object; the core swaps whole roles, never tests ``if role ==``."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Role"]


class Role(Protocol):
    """Behaviour of one role. Methods queue actions on the core they belong to."""

    name: str
    """``follower``, ``pre-candidate``, ``candidate`` or ``leader``."""
    char: str
    """The role letter of emitted events: F, P, C, L."""

    def tick(self) -> None:
        """Time passed (the core's ``now_ms``)."""

    def receive(self, sender: str, message: object) -> None:
        """A peer message of the current term (votes requests are handled by the core)."""

    def client(self, client: str, request: object) -> None:
        """A client request."""

    def on_applied(self) -> None:
        """The driver confirmed more applied entries."""

    def flush(self) -> None:
        """End of a step: send what the step made ready (batching)."""

    def leave(self) -> None:
        """The node is leaving this role."""
