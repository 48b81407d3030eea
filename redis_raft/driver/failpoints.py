"""Named crash points for the crash tests; settable only in tests.

A failpoint kills the node with SIGKILL (no cleanup, no flush: a crash) the ``n``-th
time it is reached. They exist only when the node was started with
``REDIS_RAFT_TEST_FAILPOINTS`` in its environment: its value arms failpoints at start
(``after-apply-before-reply`` or ``before-fsync@3``, comma separated; ``1`` arms none),
and ``RAFT.DEBUG FAILPOINT <name> [n]`` arms one at run time. Without the variable the
command is refused and :func:`hit` does nothing.

* ``after-apply-before-reply``: the backing server ran a client's command; the node
  dies before it replies;
* ``after-persist-before-send``: records are in the log (synced as the policy says);
  the node dies before sending the messages that depend on them;
* ``before-fsync``: the node dies right before an fsync of its log.
"""

from __future__ import annotations

import os
import signal
import sys

from redis_raft.errors import RaftUsageError

__all__ = ["ENV", "NAMES", "Failpoints"]

ENV = "REDIS_RAFT_TEST_FAILPOINTS"
NAMES = ("after-apply-before-reply", "after-persist-before-send", "before-fsync")


class Failpoints:
    """The armed failpoints of this process."""

    def __init__(self, spec: str | None = None) -> None:
        self.enabled = spec is not None
        self.armed: dict[str, int] = {}
        for raw in (spec or "").split(","):
            item = raw.strip()
            if item and item != "1":
                name, _, count = item.partition("@")
                self.arm(name, int(count) if count.isdigit() else 1)

    @classmethod
    def from_env(cls) -> Failpoints:
        return cls(os.environ.get(ENV))

    def arm(self, name: str, count: int = 1) -> None:
        """Crash at the ``count``-th time ``name`` is reached."""
        if not self.enabled:
            raise RaftUsageError(f"failpoints are disabled; they exist only in tests ({ENV})")
        if name not in NAMES:
            raise RaftUsageError(f"unknown failpoint {name!r}; known: {', '.join(NAMES)}")
        if count < 1:
            raise RaftUsageError("a failpoint count must be >= 1")
        self.armed[name] = count

    def hit(self, name: str) -> None:
        """Reached ``name``: crash if it is armed and its count is used up."""
        left = self.armed.get(name)
        if left is None:
            return
        if left > 1:
            self.armed[name] = left - 1
            return
        sys.stderr.write(f"redis_raft: failpoint {name} reached, crashing\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
