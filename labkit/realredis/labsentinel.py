"""Our own Sentinel (``python -m sentinel_lab``) as a lab process, beside real ones.

:class:`LabSentinelProcess` is a :class:`RedisProcess` of kind SENTINEL whose command line
runs sentinel_lab instead of ``redis-server --sentinel``; everything else (its folder,
``sentinel.conf``, log, kill/pause/stop/restart, the run-id environment, PDEATHSIG, the
reaper registration, the TILT check of the pytest fixture) is the same.
:func:`start_lab_sentinel` mirrors :meth:`Lab.sentinel`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labkit.realredis import reaper
from labkit.realredis.errors import RedisStartError
from labkit.realredis.lab import Lab
from labkit.realredis.ports import free_port
from labkit.realredis.process import ConfigValue, Kind, RedisProcess
from labkit.realredis.topology import sentinel_directives

__all__ = ["LabSentinelProcess", "start_lab_sentinel"]


class LabSentinelProcess(RedisProcess):
    """A sentinel_lab process; ``json_log_path`` is its JSON-lines event stream."""

    @property
    def json_log_path(self) -> Path:
        return self.workdir / "sentinel.log.jsonl"

    def argv(self) -> list[str]:
        """The command line: this interpreter running ``python -m sentinel_lab``."""
        return [sys.executable, "-m", "sentinel_lab", str(self.config_path)]

    def start(self, *, ready_timeout_s: float = 15.0) -> LabSentinelProcess:
        """Start (again, with the same folder and config) and wait until it answers PING."""
        if self.running:
            raise RedisStartError(f"{self.name} is already running (pid {self.pid})")
        env = dict(os.environ)
        env[reaper.RUN_ENV] = self.run_id
        env[reaper.OWNER_ENV] = str(os.getpid())
        env.setdefault("TZ", "UTC")
        with self.console_path.open("ab") as console:
            self._proc = subprocess.Popen(
                self.argv(),
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


def start_lab_sentinel(
    lab: Lab,
    master: RedisProcess,
    *,
    master_name: str = "mymaster",
    quorum: int = 2,
    down_after_ms: int = 30000,
    failover_timeout_ms: int = 180000,
    parallel_syncs: int = 1,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra: list[tuple[str, ConfigValue]] | None = None,
    start: bool = True,
) -> LabSentinelProcess:
    """A sentinel_lab process monitoring ``master``, registered with ``lab`` (so that
    ``lab.close()`` kills it), configured exactly as :meth:`Lab.sentinel` configures a
    real one."""
    directives = sentinel_directives(
        master_name,
        master.host,
        master.port,
        quorum=quorum,
        down_after_ms=down_after_ms,
        failover_timeout_ms=failover_timeout_ms,
        parallel_syncs=parallel_syncs,
        auth_pass=master.password,
    )
    directives += extra or []
    count = sum(isinstance(p, LabSentinelProcess) for p in lab.processes)
    name = name or f"lab-sentinel-{count + 1}"
    if any(p.name == name for p in lab.processes):
        raise ValueError(f"a process named {name!r} already exists in this lab")
    proc = LabSentinelProcess(
        name,
        Kind.SENTINEL,
        lab.base_dir / name,
        host,
        port if port is not None else free_port(host),
        directives,
        run_id=lab.run_id,
        binaries=lab.binaries,
    )
    lab.processes.append(proc)
    if start:
        proc.start()
    return proc
