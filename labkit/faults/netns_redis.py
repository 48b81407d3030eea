"""A real ``redis-server`` (or ``--sentinel``) that runs inside a host's network namespace.

:class:`NetnsRedisProcess` is a :class:`~labkit.realredis.process.RedisProcess` whose
command line starts with ``ip netns exec <namespace>``. ``ip`` enters the namespace and
execs the server in the same process, so the pid, ``PR_SET_PDEATHSIG``, the run-id
environment and the reaper registration are those of any lab process. The test process
talks to it over the lab's bridge at the host's 198.18 address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labkit.realredis.process import RedisProcess

__all__ = ["NetnsRedisProcess"]


class NetnsRedisProcess(RedisProcess):
    """A :class:`RedisProcess` started with a launcher prefix (``ip netns exec <ns>``)."""

    def __init__(self, *args: Any, argv_prefix: Sequence[str], netns: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.argv_prefix = list(argv_prefix)
        self.netns = netns

    def __repr__(self) -> str:
        return (
            f"<NetnsRedisProcess {self.name} {self.kind.value} {self.address} "
            f"netns={self.netns} pid={self.pid}>"
        )

    def command(self) -> list[str]:
        """The full command line: the prefix, then what :class:`RedisProcess` would run."""
        return [*self.argv_prefix, *super().command()]
