"""One lab node in a Docker container: start, break, talk to it.

Part of the container backend (see :mod:`labkit.realredis.containers`).
:class:`NodeContainer` is any node (its life cycle, faults and clients);
:class:`RedisContainer` a real Redis server or Sentinel, which writes its config file
(``/data/redis.conf`` or ``/data/sentinel.conf``) on its first start only, so a restarted
node keeps what it rewrote (a Sentinel its identity and epochs). Our components' nodes are
in :mod:`labkit.realredis.container_components`. The host reaches a node only through its
port published on ``127.0.0.1``; :meth:`NodeContainer.cli` runs ``redis-cli`` inside it,
where the lab network's addresses are reachable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, cast

import redis
from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException

from labkit.realredis.dockercli import ContainerError, docker
from labkit.realredis.process import ConfigValue, Kind, render_config
from labkit.realredis.topology import wait_until

__all__ = [
    "SENTINEL_PORT",
    "SERVER_PORT",
    "LabNetwork",
    "NodeContainer",
    "RedisContainer",
    "port_clash",
    "publish_on_loopback",
    "wait_for",
]

SERVER_PORT = 6379
SENTINEL_PORT = 26379
_START_SCRIPT = (
    '[ -f "$REDIS_LAB_CONF_PATH" ] || printf "%s" "$REDIS_LAB_CONF" > "$REDIS_LAB_CONF_PATH"; '
    'exec redis-server "$REDIS_LAB_CONF_PATH" $REDIS_LAB_MODE'
)


def publish_on_loopback(container: DockerContainer, *ports: int) -> DockerContainer:
    """Publish ``ports`` on a random ``127.0.0.1`` host port only (not on every interface)."""
    for port in ports:
        # docker-py reads (host address, None) as "this address, any free port".
        cast(dict[str, Any], container.ports)[f"{port}/tcp"] = ("127.0.0.1", None)
    return container


def port_clash(message: str) -> bool:
    """True when Docker failed to publish a port because something else holds it."""
    return "address already in use" in message or "port is already allocated" in message


def wait_for(
    condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.1
) -> None:
    """Poll ``condition`` until it holds, or raise :class:`ContainerError` naming ``what``."""
    wait_until(
        condition,
        timeout_s=timeout_s,
        what=what,
        interval_s=interval_s,
        ignore=(ContainerError,),
        error=ContainerError,
    )


@dataclass(frozen=True, slots=True)
class LabNetwork:
    """The lab's Docker network as the nodes need it."""

    name: str
    api: Any  # docker.models.networks.Network


class NodeContainer:
    """A lab node in a container on the lab's network: its life cycle, faults and clients.

    A subclass says what the container runs (:meth:`_launch`): a shell script for
    ``/bin/sh -c`` and its environment. ``use_init`` runs Docker's init as PID 1, which
    forwards signals and reaps children (a Python node and the processes it starts).
    """

    use_init: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        kind: Kind,
        port: int,
        *,
        image: str,
        network: LabNetwork,
        ip: str,
        labels: dict[str, str],
        container_name: str,
        password: str | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.ip = ip
        self.port = port
        self.password = password
        self.image = image
        self.container_name = container_name
        self._network = network
        self._host_port: int | None = None
        self._connected = True
        script, env = self._launch()
        endpoint = {"Aliases": [name], "IPAMConfig": {"IPv4Address": ip}}
        self._tc = DockerContainer(image).with_name(container_name)
        self._tc.with_envs(**env, TZ="UTC")
        self._tc.with_kwargs(
            entrypoint=["/bin/sh", "-c", script],
            labels=labels,
            hostname=name,
            network=network.name,
            networking_config={network.name: endpoint},
            **({"init": True} if self.use_init else {}),
        )
        publish_on_loopback(self._tc, self.port)

    def _launch(self) -> tuple[str, dict[str, str]]:
        """The ``/bin/sh -c`` script the container runs, and its environment."""
        raise NotImplementedError

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"<{kind} {self.name} {self.kind.value} {self.address} host={self.host_address}>"

    # -- identity -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``ip:port`` inside the lab's network (what other nodes and Sentinels use)."""
        return f"{self.ip}:{self.port}"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def host_port(self) -> int:
        """The published port on 127.0.0.1 (a new one after each start)."""
        if self._host_port is None:
            raise ContainerError(f"{self.name} has no published port (not started)")
        return self._host_port

    @property
    def host_address(self) -> str:
        return f"127.0.0.1:{self._host_port}" if self._host_port else "127.0.0.1:?"

    @property
    def container_id(self) -> str:
        return str(self._tc.get_container_id())

    @property
    def started(self) -> bool:
        """True once the container exists (created and started at least once)."""
        try:
            self._tc.get_wrapped_container()
        except ContainerStartException:
            return False
        return True

    def status(self) -> str:
        """Docker's status: ``running``, ``paused``, ``exited``, ..."""
        wrapped = self._tc.get_wrapped_container()
        wrapped.reload()
        return str(wrapped.status)

    # -- life cycle ---------------------------------------------------------------------

    def start(self, *, ready_timeout_s: float = 20.0) -> Self:
        """Create and start the container, or start it again after ``kill``/``stop``."""
        for attempt in range(3):
            try:
                if not self.started:
                    self._tc.start()
                else:
                    self._tc.get_wrapped_container().start()
                break
            except Exception as exc:  # docker.errors.APIError; the SDK is untyped
                # Docker picks a random host port without knowing which ones other programs
                # hold (a client's ephemeral port, say); starting again picks another.
                if attempt == 2 or not port_clash(str(exc)):
                    raise
        self.wait_ready(timeout_s=ready_timeout_s)
        return self

    def _refresh_host_port(self) -> None:
        wrapped = self._tc.get_wrapped_container()
        wrapped.reload()
        if wrapped.status != "running":
            raise ContainerError(f"{self.name} is {wrapped.status}.\n{self.log_tail()}")
        bindings = wrapped.attrs["NetworkSettings"]["Ports"].get(f"{self.port}/tcp") or []
        ports = [int(b["HostPort"]) for b in bindings if b.get("HostIp") == "127.0.0.1"]
        if not ports:
            raise ContainerError(f"{self.name} has no port published on 127.0.0.1: {bindings}")
        self._host_port = ports[0]

    def wait_ready(self, *, timeout_s: float = 20.0) -> None:
        """Wait until the node answers PING through its published port."""
        deadline = time.monotonic() + timeout_s
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._refresh_host_port()  # raises at once if the container has exited
            try:
                with self.client(socket_timeout=1.0) as conn:
                    if conn.ping():
                        return
            except redis.exceptions.RedisError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise ContainerError(
            f"{self.name} ({self.host_address}) did not answer PING within {timeout_s:.1f}s "
            f"({last}).\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """``docker kill`` (SIGKILL): a crash. The container stays for :meth:`start`."""
        if self.status() == "paused":
            self.resume()
        if self.status() == "running":
            self._tc.get_wrapped_container().kill()
            wait_for(lambda: self.status() == "exited", timeout_s=10, what=f"{self.name} to die")

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """``docker stop``: SIGTERM, then SIGKILL after ``timeout_s``."""
        if self.status() == "paused":
            self.resume()
        self._tc.get_wrapped_container().stop(timeout=max(1, round(timeout_s)))

    def restart(self, *, ready_timeout_s: float = 20.0) -> Self:
        """Kill if running, then start with the same data, config and address."""
        self.kill()
        return self.start(ready_timeout_s=ready_timeout_s)

    def pause(self) -> None:
        """``docker pause`` (the freezer): sockets stay open, nothing answers."""
        self._tc.get_wrapped_container().pause()

    def resume(self) -> None:
        """``docker unpause`` after :meth:`pause`."""
        self._tc.get_wrapped_container().unpause()

    @property
    def connected(self) -> bool:
        return self._connected

    def disconnect(self) -> None:
        """``docker network disconnect``: cut off from every node, and from its published port."""
        self._network.api.disconnect(self.container_id, force=True)
        self._connected = False

    def connect(self) -> None:
        """``docker network connect`` again, with the same address and alias."""
        self._network.api.connect(self.container_id, aliases=[self.name], ipv4_address=self.ip)
        self._connected = True
        if self.status() == "running":
            self._refresh_host_port()

    def remove(self) -> None:
        """Remove the container and its anonymous volumes (forced)."""
        if self.started:
            with contextlib.suppress(ContainerError):
                if self.status() == "paused":
                    self.resume()
        self._tc.stop(force=True, delete_volume=True)

    # -- talking to it ------------------------------------------------------------------

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client through the published port (decoded strings, short timeouts)."""
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.host_port,
            "password": self.password,
            "decode_responses": True,
            "socket_timeout": 2.0,
            "socket_connect_timeout": 2.0,
        }
        options.update(kwargs)
        return redis.Redis(**options)

    def info(self, section: str | None = None) -> dict[str, Any]:
        with self.client() as conn:
            reply: dict[str, Any] = conn.info(section) if section else conn.info()
        return reply

    def exec(self, *argv: str, timeout_s: float = 15.0) -> tuple[int, str]:
        """``docker exec <container> ARGV``: exit status and output (stdout, then stderr)."""
        done = docker("exec", self.container_name, *argv, timeout_s=timeout_s, check=False)
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        return done.returncode, out

    def cli(
        self, *args: str, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 15.0
    ) -> str:
        """``redis-cli ARGS`` run inside this container (against itself, or ``host:port``).

        It runs in the lab's network, so it can reach the addresses a Sentinel hands out.
        Returns redis-cli's output; an error reply is text such as ``ERR ...``, as redis-cli
        prints it. Raises :class:`ContainerError` when redis-cli cannot connect.
        """
        argv = ["redis-cli", "-h", host, "-p", str(port or self.port)]
        if self.password is not None and host == "127.0.0.1" and port is None:
            argv += ["--no-auth-warning", "-a", self.password]
        code, out = self.exec(*argv, *args, timeout_s=timeout_s)
        if code != 0:
            raise ContainerError(f"redis-cli in {self.name} failed ({code}): {out.strip()}")
        return out.rstrip("\n")

    def logs(self) -> str:
        """What the node logged (Redis logs to stdout in a container)."""
        if not self.started:
            return ""
        data = self._tc.get_wrapped_container().logs(stdout=True, stderr=True)
        return bytes(data).decode(errors="replace")

    def log_tail(self, lines: int = 20) -> str:
        tail = self.logs().splitlines()[-lines:]
        return "\n".join(f"  | {line}" for line in tail) or f"  | (no log from {self.name})"


class RedisContainer(NodeContainer):
    """A real ``redis-server`` (or ``--sentinel``) in a container on the lab's network.

    It writes its config file (``/data/redis.conf`` or ``/data/sentinel.conf``) on its first
    start only, from :attr:`config_text`.
    """

    def __init__(
        self,
        name: str,
        kind: Kind,
        *,
        image: str,
        network: LabNetwork,
        ip: str,
        directives: list[tuple[str, ConfigValue]],
        labels: dict[str, str],
        container_name: str,
        password: str | None = None,
    ) -> None:
        self._directives = list(directives)
        self.config_text = ""
        super().__init__(
            name,
            kind,
            SENTINEL_PORT if kind is Kind.SENTINEL else SERVER_PORT,
            image=image,
            network=network,
            ip=ip,
            labels=labels,
            container_name=container_name,
            password=password,
        )

    @property
    def config_path(self) -> str:
        return "/data/sentinel.conf" if self.kind is Kind.SENTINEL else "/data/redis.conf"

    def _launch(self) -> tuple[str, dict[str, str]]:
        self.config_text = render_config(self._base_directives() + self._directives)
        env = {
            "REDIS_LAB_CONF": self.config_text,
            "REDIS_LAB_CONF_PATH": self.config_path,
            "REDIS_LAB_MODE": "--sentinel" if self.kind is Kind.SENTINEL else "",
        }
        return _START_SCRIPT, env

    def _base_directives(self) -> list[tuple[str, ConfigValue]]:
        base: list[tuple[str, ConfigValue]] = [
            ("port", self.port),
            ("dir", "/data"),
            ("protected-mode", "no"),
        ]
        if self.kind is not Kind.SENTINEL:
            base += [("save", ""), ("appendonly", "no")]
        if self.password is not None:
            base.append(("requirepass", self.password))
            if self.kind is not Kind.SENTINEL:
                base.append(("masterauth", self.password))
        return base
