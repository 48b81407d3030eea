"""The RESP front: sentinel mode's 15 top-level commands on the sentinel's port.

ACL, AUTH, CLIENT, COMMAND, HELLO, INFO, PING, PSUBSCRIBE, PUBLISH, PUNSUBSCRIBE, ROLE,
SENTINEL, SHUTDOWN, SUBSCRIBE, UNSUBSCRIBE, as Redis 7.0.15 has them in sentinel mode
(a real 7.0.15 Sentinel answers QUIT with ``-ERR unknown command``, and so do we).
``PUBLISH`` takes only hello messages, which go to the core. Events are published here
on channels named after them (``+sdown``, ``+switch-master``, ...).
"""

from __future__ import annotations

import resource
from collections.abc import Iterable
from dataclasses import replace

from labkit.core import Received
from labkit.resp.builtins import builtin_commands
from labkit.resp.commands import Command, CommandTable
from labkit.resp.commands import CommandFlag as F
from labkit.resp.connection import ClientConnection
from labkit.resp.frames import Array, BulkString, Frame, Integer, bulk, error
from labkit.resp.server import RespServer, ServerConfig
from sentinel_lab.core import HELLO_CHANNEL, HelloMessage
from sentinel_lab.driver import SentinelDriver
from sentinel_lab.sentinel_cmd import acl_command, client_key, sentinel_command

__all__ = ["SENTINEL_COMMANDS", "SentinelServer", "sentinel_command_table"]

SENTINEL_COMMANDS = (
    "acl",
    "auth",
    "client",
    "command",
    "hello",
    "info",
    "ping",
    "psubscribe",
    "publish",
    "punsubscribe",
    "role",
    "sentinel",
    "shutdown",
    "subscribe",
    "unsubscribe",
)
_HELLO = HELLO_CHANNEL.encode()


def _server(conn: ClientConnection) -> SentinelServer:
    server = conn.server
    assert isinstance(server, SentinelServer)
    return server


def _publish(conn: ClientConnection, args: list[bytes]) -> Frame:
    if args[1] != _HELLO:
        return error("ERR Only HELLO messages are accepted by Sentinel instances.")
    _server(conn).driver.step(Received(client_key(conn), HelloMessage(args[2])))
    return Integer(1)


def _role(conn: ClientConnection, args: list[bytes]) -> Frame:
    names = tuple(bulk(name) for name in _server(conn).driver.core.masters)
    return Array((bulk("sentinel"), Array(names)))


def _info(conn: ClientConnection, args: list[bytes]) -> Frame:
    sections = [a.decode("utf-8", "surrogateescape") for a in args[1:]]
    return BulkString(conn.server.info(sections).encode())


def sentinel_command_table(renamed: Iterable[tuple[str, str]] = ()) -> CommandTable:
    """The 15 commands, with ``rename-command`` applied (an empty name removes one)."""
    table = builtin_commands(
        "auth",
        "client",
        "command",
        "hello",
        "ping",
        "psubscribe",
        "punsubscribe",
        "shutdown",
        "subscribe",
        "unsubscribe",
    )
    anytime = F.LOADING | F.STALE | F.SENTINEL
    table.add(Command("info", -1, _info, anytime, group="server"))
    table.add(Command("publish", 3, _publish, F.PUBSUB | anytime | F.FAST, group="pubsub"))
    table.add(Command("role", 1, _role, F.NOSCRIPT | anytime | F.FAST, group="server"))
    table.add(sentinel_command())
    table.add(acl_command())
    for old, new in renamed:
        command = table.get(old)
        if command is None:
            continue
        table.remove(old)
        if new:
            table.add(replace(command, name=new.lower()))
    return table


class SentinelServer(RespServer):
    """The sentinel's RESP server, tied to its driver."""

    def __init__(
        self,
        config: ServerConfig,
        driver: SentinelDriver,
        *,
        config_file: str = "",
        renamed: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(config, sentinel_command_table(renamed))
        self.driver = driver
        self.config_file = config_file
        driver.publish = self.publish_event
        self.add_info_section("server", self._server_section)
        self.add_info_section("cpu", self._cpu_section, title="CPU")
        self.add_info_section("sentinel", self._sentinel_section)

    def publish_event(self, channel: str, message: str) -> None:
        """An event for our own subscribers."""
        self.publish(channel, message)

    async def on_shutdown(self, conn: ClientConnection, args: list[bytes]) -> str | None:
        self.driver.out.log("#", "User requested shutdown...")
        return None

    async def on_closed(self) -> None:
        self.driver.stop()

    # -- INFO --------------------------------------------------------------------------------
    def _server_section(self) -> list[tuple[str, object]]:
        base = dict(RespServer._info_server(self))
        base["redis_mode"] = "sentinel"
        base["run_id"] = self.run_id
        base["config_file"] = self.config_file
        base["labkit_server"] = "sentinel_lab"
        return list(base.items())

    def _cpu_section(self) -> list[tuple[str, object]]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return [
            ("used_cpu_sys", f"{me.ru_stime:.6f}"),
            ("used_cpu_user", f"{me.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{kids.ru_stime:.6f}"),
            ("used_cpu_user_children", f"{kids.ru_utime:.6f}"),
        ]

    def _sentinel_section(self) -> list[tuple[str, object]]:
        core = self.driver.core
        lines: list[tuple[str, object]] = [
            ("sentinel_masters", len(core.masters)),
            ("sentinel_tilt", int(core.tilt)),
            ("sentinel_tilt_since_seconds", -1 if not core.tilt else _tilt_seconds(self)),
            ("sentinel_running_scripts", core.scripts.running),
            ("sentinel_scripts_queue_length", len(core.scripts.jobs)),
            ("sentinel_simulate_failure_flags", int(core.simfailure_flags)),
        ]
        for index, master in enumerate(core.masters.values()):
            status = "odown" if master.o_down else "sdown" if master.s_down else "ok"
            host, port = master.current_address()
            lines.append(
                (
                    f"master{index}",
                    f"name={master.name},status={status},address={host}:{port},"
                    f"slaves={len(master.replicas)},sentinels={len(master.sentinels) + 1}",
                )
            )
        return lines


def _tilt_seconds(server: SentinelServer) -> int:
    from sentinel_lab.driver import now_ms

    return max(0, (now_ms() - server.driver.core.tilt_start_ms) // 1000)
