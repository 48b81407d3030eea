"""Two ClusterDrivers in one event loop (no data server) meet over loopback TCP: the
handshake completes, nodes.conf is written before frames go out, and the views answer."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from gossip_cluster.app import ClusterCommands
from gossip_cluster.config import ClusterConfig
from gossip_cluster.core import Meet
from gossip_cluster.driver import ClusterDriver, DriverSettings, load_nodes_conf
from labkit.realredis.ports import free_port
from labkit.resp.frames import OK, Array, Integer, SimpleError, VerbatimString


def _driver(tmp_path: Path, name: str) -> ClusterDriver:
    port = free_port()
    settings = DriverSettings(
        bind="127.0.0.1",
        port=port,
        cport=port + 10000,
        config_file=tmp_path / f"{name}.conf",
        cluster=ClusterConfig(node_timeout_ms=1000),
    )
    return ClusterDriver(settings, backing=None, log_stream=io.StringIO())


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    async def loop() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout_s)


async def test_two_drivers_meet(tmp_path: Path) -> None:
    a, b = _driver(tmp_path, "a"), _driver(tmp_path, "b")
    await a.start()
    await b.start()
    try:
        assert load_nodes_conf(a.settings.config_file) is not None  # written at the first step
        assert a.request(Meet("127.0.0.1", b.settings.port)) == "OK"

        def met() -> bool:
            for me, other in ((a, b), (b, a)):
                node = me.core.table.get(other.core.name)
                if node is None or node.in_handshake or node.link_ctime is None:
                    return False
            return True

        await _until(met)
        saved = load_nodes_conf(b.settings.config_file)
        assert saved is not None and {n.name for n in saved.nodes} == {a.core.name, b.core.name}
        assert a.bus.sent["meet"] == 1 and b.bus.received["meet"] == 1

        commands = ClusterCommands(a)
        assert commands([b"ADDSLOTS", b"0", b"1", b"2", b"5"]) == OK
        info = commands([b"INFO"])
        assert isinstance(info, VerbatimString) and b"cluster_known_nodes:2" in info.value
        assert b"cluster_slots_assigned:4" in info.value
        slots = commands([b"SLOTS"])
        assert isinstance(slots, Array)
        assert [(r.items[0], r.items[1]) for r in slots.items] == [  # type: ignore[union-attr]
            (Integer(0), Integer(2)),
            (Integer(5), Integer(5)),
        ]
        assert commands([b"ADDSLOTS", b"2"]) == SimpleError(b"ERR Slot 2 is already busy")
        nodes = commands([b"NODES"])
        assert isinstance(nodes, VerbatimString) and nodes.value.count(b"\n") == 2

        # The other node learns the slots by gossip.
        await _until(lambda: b.core.table.owner(5) is not None)
        owner = b.owner(5)
        assert owner is not None and owner.name == a.core.name

        # A link that breaks is reported down and reopened by the cron.
        link = a.core.table.get(b.core.name)
        assert link is not None
        a.bus.links[link.link_address].close()
        await _until(lambda: link.link_ctime is not None and link.link_address in a.bus.links)
    finally:
        await a.close()
        await b.close()
