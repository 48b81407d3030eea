"""One real Redis process (server, replica, sentinel or cluster node) under the lab's control.

A :class:`RedisProcess` owns a folder with its config file, data and log. It can be
started, killed (SIGKILL), paused (SIGSTOP/SIGCONT), stopped and restarted with the
same data and config. Its children die with the lab (see :mod:`labkit.realredis.reaper`).
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from labkit.realredis import reaper
from labkit.realredis.binaries import RedisBinaries, find_binaries
from labkit.realredis.errors import RedisStartError

__all__ = ["ConfigValue", "Kind", "RedisProcess", "render_config"]

ConfigValue = str | int | Iterable[str]


class Kind(enum.Enum):
    """What a process runs as; decides the command line and the readiness check."""

    SERVER = "server"
    SENTINEL = "sentinel"
    CLUSTER_NODE = "cluster-node"


def _quote(value: str) -> str:
    if value == "" or any(ch in value for ch in " \t\"'\\"):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return value


def render_config(directives: Iterable[tuple[str, ConfigValue]]) -> str:
    """Config file text: one ``name value`` line per directive, quoted as Redis reads it."""
    lines = []
    for name, value in directives:
        if isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = _quote(value)
        else:
            text = " ".join(_quote(part) for part in value)
        lines.append(f"{name} {text}".rstrip())
    return "\n".join(lines) + "\n"


class RedisProcess:
    """A real ``redis-server`` (or ``--sentinel``) process in its own folder."""

    def __init__(
        self,
        name: str,
        kind: Kind,
        workdir: Path,
        host: str,
        port: int,
        directives: list[tuple[str, ConfigValue]],
        *,
        run_id: str,
        password: str | None = None,
        binaries: RedisBinaries | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.workdir = workdir
        self.host = host
        self.port = port
        self.password = password
        self.run_id = run_id
        self.binaries = binaries or find_binaries()
        self.config_path = workdir / ("sentinel.conf" if kind is Kind.SENTINEL else "redis.conf")
        self.log_path = workdir / ("sentinel.log" if kind is Kind.SENTINEL else "redis.log")
        self.console_path = workdir / "console.log"  # stdout/stderr: config errors land here
        self._directives = directives
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_config(self._base_directives() + directives))

    @classmethod
    def owned(
        cls,
        component: str,
        name: str,
        workdir: Path,
        host: str,
        port: int,
        directives: list[tuple[str, ConfigValue]] | None = None,
    ) -> Self:
        """A ``redis-server`` that a component (a Raft or cluster node) starts and owns
        outside any :class:`~labkit.realredis.Lab`: marked with the lab run of the
        environment, or with ``component`` when there is none, so that the leftover
        checks and ``redis-lab cleanup`` find it."""
        return cls(
            name,
            Kind.SERVER,
            workdir,
            host,
            port,
            list(directives or []),
            run_id=os.environ.get(reaper.RUN_ENV, component),
            binaries=find_binaries(),
        )

    def __repr__(self) -> str:
        return f"<RedisProcess {self.name} {self.kind.value} {self.address} pid={self.pid}>"

    # -- identity -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    def _base_directives(self) -> list[tuple[str, ConfigValue]]:
        base: list[tuple[str, ConfigValue]] = [
            ("port", self.port),
            ("bind", self.host),
            ("dir", str(self.workdir)),
            ("logfile", str(self.log_path)),
            ("daemonize", "no"),
            # Every lab process binds one loopback address only. Protected mode would refuse
            # peers on other loopback addresses (127.0.0.N), which the fault proxy relies on.
            ("protected-mode", "no"),
        ]
        if self.host != "127.0.0.1":
            base.append(("bind-source-addr", self.host))
        if self.kind is not Kind.SENTINEL:
            base += [("save", ""), ("appendonly", "no"), ("dbfilename", "dump.rdb")]
            if self.password is not None:
                base += [("requirepass", self.password), ("masterauth", self.password)]
        elif self.password is not None:
            base.append(("requirepass", self.password))
        if self.kind is Kind.CLUSTER_NODE:
            base += [("cluster-enabled", "yes"), ("cluster-config-file", "nodes.conf")]
        return base

    # -- life cycle ---------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line that :meth:`start` runs; subclasses change it (a launcher
        prefix such as ``ip netns exec``, or another program that speaks RESP)."""
        argv = [self.binaries.server, str(self.config_path)]
        if self.kind is Kind.SENTINEL:
            argv.append("--sentinel")
        return argv

    ready_timeout_s: float = 15.0
    """How long :meth:`start` waits for the first PONG (a subclass may need longer)."""

    def environment(self) -> dict[str, str]:
        """Variables added to the child's environment (besides the lab's run marker)."""
        return {}

    def start(self, *, ready_timeout_s: float | None = None) -> Self:
        """Start the process (again, with the same folder and config) and wait until it answers."""
        if self.running:
            raise RedisStartError(f"{self.name} is already running (pid {self.pid})")
        argv = self.command()
        env = dict(os.environ)
        env.update(self.environment())
        env[reaper.RUN_ENV] = self.run_id
        env[reaper.OWNER_ENV] = str(os.getpid())
        env.setdefault("TZ", "UTC")
        with self.console_path.open("ab") as console:
            self._proc = subprocess.Popen(
                argv,
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
        self.wait_ready(
            timeout_s=self.ready_timeout_s if ready_timeout_s is None else ready_timeout_s
        )
        return self

    def wait_ready(self, *, timeout_s: float = 15.0) -> None:
        """Wait until the process answers PING, or raise with its log tail."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if not self.running:
                raise RedisStartError(
                    f"{self.name} ({self.address}) exited with status "
                    f"{self._proc.returncode if self._proc else '?'}.\n{self.log_tail()}"
                )
            try:
                with self.client(socket_timeout=1.0) as conn:
                    if conn.ping():
                        return
            except redis.exceptions.BusyLoadingError:
                last_error = "LOADING"
            except redis.exceptions.RedisError as exc:
                last_error = str(exc)
            time.sleep(0.02)
        raise RedisStartError(
            f"{self.name} ({self.address}) did not answer PING within {timeout_s:.1f}s "
            f"({last_error}).\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL the process (a crash); its folder stays for :meth:`start`."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)
        self._paused = False
        reaper.unregister(proc)

    def pause(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing."""
        if self._proc is not None and self.running:
            os.kill(self._proc.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self._proc is not None and self.running:
            os.kill(self._proc.pid, signal.SIGCONT)
            self._paused = False

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL after ``timeout_s``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        if self._paused:
            self.resume()
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        reaper.unregister(proc)

    def restart(self, *, ready_timeout_s: float | None = None) -> Self:
        """Kill if running, then start with the same data, config and port."""
        self.kill()
        return self.start(ready_timeout_s=ready_timeout_s)

    # -- talking to it ------------------------------------------------------------------

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this process (decoded strings, short timeouts, no retries).

        redis-py retries with backoff by default, which would hide the very faults the
        lab injects; pass ``retry=...`` to get them back.
        """
        options: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 0),
            "host": self.host,
            "port": self.port,
            "password": self.password,
            "decode_responses": True,
            "socket_timeout": 2.0,
            "socket_connect_timeout": 2.0,
        }
        options.update(kwargs)
        return redis.Redis(**options)

    def info(self, section: str | None = None) -> Mapping[str, Any]:
        with self.client() as conn:
            reply: Mapping[str, Any] = conn.info(section) if section else conn.info()
        return reply

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def console_text(self) -> str:
        """What the process wrote to stdout/stderr (Redis prints config errors there)."""
        try:
            return self.console_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the console output and the log, indented for error messages."""
        tail = (self.console_text().splitlines() + self.log_text().splitlines())[-lines:]
        return "\n".join(f"  | {line}" for line in tail) or f"  | (no log at {self.log_path})"
