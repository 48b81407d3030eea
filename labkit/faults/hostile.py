"""Nemeses for two fallacies the network cannot show: "the network is secure" and
"there is one administrator".

:func:`hostile_clients` plays a careless or malicious peer: it opens connections to a
server and sends it garbage, absurd lengths, deep nesting, half a frame, a wrong password
and a malformed Sentinel hello, and reports what the server did with each (an error reply,
a closed connection, or silence). :class:`SecondAdmin` is an operator the lab does not know
about: it changes a running server's configuration (``CONFIG SET``, or ``SENTINEL SET``)
behind the lab's back, and can put the old value back.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field

import redis

from labkit.events import Event
from labkit.resp import encode_command

__all__ = ["HOSTILE_PAYLOADS", "AdminChange", "HostileResult", "SecondAdmin", "hostile_clients"]


def _random_bytes(rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(512))


HOSTILE_PAYLOADS: dict[str, bytes | None] = {
    "random bytes": None,  # drawn from the seed
    "absurd multibulk length": b"*99999999999999\r\n",
    "absurd bulk length": b"*1\r\n$2147483648\r\n",
    "negative bulk length": b"*1\r\n$-5\r\n",
    "nested arrays": b"*1\r\n" * 64 + b"$4\r\nPING\r\n",
    "half a frame": b"*3\r\n$3\r\nSET\r\n$1\r\nk",
    "wrong password": encode_command("AUTH", "not-the-password"),
    "malformed sentinel hello": encode_command("PUBLISH", "__sentinel__:hello", "1,2,3"),
    "unbalanced quotes": b'SET "a b\r\n',
}


@dataclass(frozen=True, slots=True)
class HostileResult:
    """What the server did with one hostile payload."""

    payload: str
    reply: bytes
    """The first bytes it sent back (an error reply, usually)."""
    closed: bool
    """Whether it closed the connection."""


def _send(host: str, port: int, data: bytes, timeout_s: float) -> tuple[bytes, bool]:
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.sendall(data)
        except OSError:
            return b"", True
        reply = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                return reply, False
            except OSError:
                return reply, True
            if not chunk:
                return reply, True
            reply += chunk
            if reply.endswith(b"\r\n"):
                # An error reply: wait a little for the close that often follows it.
                sock.settimeout(0.2)
        return reply, False


def hostile_clients(
    host: str, port: int, *, seed: int = 0, timeout_s: float = 1.0
) -> list[HostileResult]:
    """Send every payload of :data:`HOSTILE_PAYLOADS` on its own connection."""
    rng = random.Random(seed)
    results = []
    for name, payload in HOSTILE_PAYLOADS.items():
        data = payload if payload is not None else _random_bytes(rng)
        reply, closed = _send(host, port, data, timeout_s)
        results.append(HostileResult(name, reply[:200], closed))
    return results


@dataclass(frozen=True, slots=True)
class AdminChange:
    """One setting changed behind the lab's back, with the value it had."""

    host: str
    port: int
    setting: str
    value: str
    previous: str
    sentinel_master: str | None = None


@dataclass(slots=True)
class SecondAdmin:
    """Changes live configuration the lab thinks it owns; records each change as an event."""

    password: str | None = None
    events: list[Event] = field(default_factory=list)
    changes: list[AdminChange] = field(default_factory=list)

    def _client(self, host: str, port: int) -> redis.Redis:
        return redis.Redis(
            host=host, port=port, password=self.password, decode_responses=True, socket_timeout=2
        )

    def _record(self, name: str, change: AdminChange, value: str) -> None:
        where = f"sentinel {change.sentinel_master}" if change.sentinel_master else "config"
        self.events.append(
            Event(
                source="nemesis",
                name=name,
                wall_ns=time.time_ns(),
                mono_ns=time.monotonic_ns(),
                instance=f"host {change.host}:{change.port}",
                details=f"{where} {change.setting} {value}",
            )
        )

    def config_set(self, host: str, port: int, setting: str, value: str) -> AdminChange:
        """``CONFIG SET setting value`` on a Redis server."""
        with self._client(host, port) as conn:
            previous = str(conn.config_get(setting).get(setting, ""))
            conn.config_set(setting, value)
        change = AdminChange(host, port, setting, value, previous)
        self.changes.append(change)
        self._record("+admin", change, value)
        return change

    def sentinel_set(
        self, host: str, port: int, master: str, setting: str, value: str
    ) -> AdminChange:
        """``SENTINEL SET master setting value`` on a Sentinel."""
        with self._client(host, port) as conn:
            state = conn.sentinel_master(master)
            previous = str(state.get(setting, ""))
            conn.execute_command("SENTINEL", "SET", master, setting, value)
        change = AdminChange(host, port, setting, value, previous, sentinel_master=master)
        self.changes.append(change)
        self._record("+admin", change, value)
        return change

    def undo_all(self) -> None:
        """Put every changed setting back, newest first."""
        while self.changes:
            change = self.changes.pop()
            with self._client(change.host, change.port) as conn:
                if change.sentinel_master is not None:
                    conn.execute_command(
                        "SENTINEL", "SET", change.sentinel_master, change.setting, change.previous
                    )
                else:
                    conn.config_set(change.setting, change.previous)
            self._record("-admin", change, change.previous)
