"""Our own Sentinel (``python -m sentinel_lab``) as a lab process, beside real ones.

:class:`LabSentinelProcess` is a :class:`RedisProcess` of kind SENTINEL whose command line
runs sentinel_lab instead of ``redis-server --sentinel``; everything else (its folder,
``sentinel.conf``, log, kill/pause/stop/restart, the run-id environment, PDEATHSIG, the
reaper registration, the TILT check of the pytest fixture) is the same.
:func:`start_lab_sentinel` mirrors :meth:`Lab.sentinel`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from labkit.realredis.lab import Lab
from labkit.realredis.ports import free_port
from labkit.realredis.process import ConfigValue, Kind, RedisProcess
from labkit.realredis.topology import sentinel_directives

__all__ = ["LabSentinelProcess", "start_lab_sentinel"]


class LabSentinelProcess(RedisProcess):
    """A sentinel_lab process; ``json_log_path`` is its JSON-lines event stream.

    ``extra_args`` go after the config path on its command line (``--early-switch``).
    """

    extra_args: tuple[str, ...] = ()

    @property
    def json_log_path(self) -> Path:
        return self.workdir / "sentinel.log.jsonl"

    def command(self) -> list[str]:
        """The command line: this interpreter running ``python -m sentinel_lab``."""
        return [sys.executable, "-m", "sentinel_lab", str(self.config_path), *self.extra_args]


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
    args: tuple[str, ...] = (),
    start: bool = True,
) -> LabSentinelProcess:
    """A sentinel_lab process monitoring ``master``, registered with ``lab`` (so that
    ``lab.close()`` kills it), configured exactly as :meth:`Lab.sentinel` configures a
    real one; ``args`` are extra command-line flags (``--early-switch``)."""
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
    proc.extra_args = tuple(args)
    lab.processes.append(proc)
    if start:
        proc.start()
    return proc
