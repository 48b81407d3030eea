"""A real ``redis-server`` (or ``--sentinel``) that runs inside a host's network namespace.

:class:`NetnsRedisProcess` is a :class:`~labkit.realredis.process.RedisProcess` whose
command line starts with ``ip netns exec <namespace>``. ``ip`` enters the namespace and
execs the server in the same process, so the pid, ``PR_SET_PDEATHSIG``, the run-id
environment and the reaper registration are those of any lab process. The test process
talks to it over the lab's bridge at the host's 198.18 address.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labkit.realredis import reaper
from labkit.realredis.errors import RedisStartError
from labkit.realredis.process import Kind, RedisProcess

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
        argv = [*self.argv_prefix, self.binaries.server, str(self.config_path)]
        if self.kind is Kind.SENTINEL:
            argv.append("--sentinel")
        return argv

    def start(self, *, ready_timeout_s: float = 15.0) -> NetnsRedisProcess:
        """Start inside the namespace and wait until it answers (as :meth:`RedisProcess.start`)."""
        # Mirrors RedisProcess.start; only the command line differs. Once process.py takes
        # an ``argv_prefix``, this override can go.
        if self.running:
            raise RedisStartError(f"{self.name} is already running (pid {self.pid})")
        env = dict(os.environ)
        env[reaper.RUN_ENV] = self.run_id
        env[reaper.OWNER_ENV] = str(os.getpid())
        env.setdefault("TZ", "UTC")
        with Path(self.console_path).open("ab") as console:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=reaper.child_preexec(),  # noqa: PLW1509 - PDEATHSIG needs it
            )
        self._paused = False
        reaper.register(self._proc)
        self.wait_ready(timeout_s=ready_timeout_s)
        return self
