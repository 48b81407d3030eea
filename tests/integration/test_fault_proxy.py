"""The fault proxy acting on real Redis traffic: replication links and Sentinel pings."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from labkit.faults import ProxyHub
from labkit.realredis import Lab, RedisProcess, wait_until

pytestmark = pytest.mark.realredis


def _link(replica: RedisProcess) -> str:
    return str(replica.info("replication").get("master_link_status"))


def _flags(sentinel: RedisProcess) -> str:
    with sentinel.client() as conn:
        return str(conn.sentinel_master("m")["flags"])


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    with ProxyHub(seed=7) as opened:
        yield opened


@pytest.mark.slow
def test_partition_cuts_one_source_and_heal_restores(redis_lab: Lab, hub: ProxyHub) -> None:
    master = redis_lab.server("master", extra=[("repl-ping-replica-period", 1)])
    proxy = hub.add("master", (master.host, master.port))
    listen_host, listen_port = proxy.listen
    replica = redis_lab.server(
        "replica",
        host="127.0.0.2",
        extra=[("replicaof", [listen_host, str(listen_port)]), ("repl-timeout", 2)],
    )
    watched = [  # both sentinels reach the master only through the proxy
        redis_lab.sentinel(
            master,
            name=f"sentinel-{n}",
            host=f"127.0.0.{n}",
            master_name="m",
            quorum=2,  # ODOWN needs both: the partitioned one alone cannot fail over
            down_after_ms=1000,
            via=proxy.listen,
        )
        for n in (3, 4)
    ]
    wait_until(lambda: _link(replica) == "up", timeout_s=10, what="replication through the proxy")
    with master.client() as conn:
        clients = conn.client_list()
    assert any(c["addr"].startswith("127.0.0.2:") for c in clients), (
        "the proxy must keep the source address"
    )

    hub.partition("master", source="127.0.0.2")
    hub.partition("master", source="127.0.0.3")
    wait_until(lambda: _link(replica) == "down", timeout_s=10, what="the replica to lose its link")
    wait_until(
        lambda: "s_down" in _flags(watched[0]), timeout_s=10, what="sentinel-3 to mark +sdown"
    )
    assert "s_down" not in _flags(watched[1]), "a partition of one source must not cut another"

    hub.heal("master")
    wait_until(lambda: _link(replica) == "up", timeout_s=15, what="the replica link to come back")
    wait_until(
        lambda: "s_down" not in _flags(watched[0]), timeout_s=10, what="sentinel-3 to clear sdown"
    )
    assert "+sdown master m" in watched[0].log_text() and "-sdown master m" in watched[0].log_text()
    assert "+sdown master m" not in watched[1].log_text()
    assert [e.name for e in hub.events] == ["+partition", "+partition", "-fault"]


def _roundtrip_s(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"
        return time.monotonic() - started


def test_delay_slows_replies_and_reset_breaks_connections(redis_lab: Lab, hub: ProxyHub) -> None:
    server = redis_lab.server()
    proxy = hub.add("server", (server.host, server.port))
    port = proxy.listen[1]
    hub.delay("server", 150, direction="from_upstream")
    assert _roundtrip_s(port) >= 0.15
    hub.heal("server")
    assert _roundtrip_s(port) < 0.15
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64) == b"+PONG\r\n"
        wait_until(lambda: hub.reset("server") == 1, timeout_s=5, what="the connection to be reset")
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"PING\r\n")
            sock.recv(64)


def test_throttle_limits_bandwidth(redis_lab: Lab, hub: ProxyHub) -> None:
    server = redis_lab.server()
    with server.client() as conn:
        conn.set("big", "x" * 200_000)
    proxy = hub.add("server", (server.host, server.port))
    hub.throttle("server", 1_000_000, direction="from_upstream")
    with server.client(port=proxy.listen[1]) as conn:
        started = time.monotonic()
        assert len(conn.get("big") or "") == 200_000
        assert time.monotonic() - started >= 0.18
    with pytest.raises(ValueError, match="must be positive"):
        hub.throttle("server", 0)


def test_closing_the_hub_leaves_nothing_listening(redis_lab: Lab) -> None:
    server = redis_lab.server()
    hub = ProxyHub(seed=1)
    try:
        ports = [hub.add(f"link-{i}", (server.host, server.port)).listen[1] for i in range(3)]
        conn = socket.create_connection(("127.0.0.1", ports[0]), timeout=5)
    finally:
        hub.close()
    with conn, pytest.raises(OSError):
        conn.settimeout(5)
        conn.sendall(b"PING\r\n")
        if conn.recv(64) == b"":
            raise ConnectionResetError("closed by the proxy")
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
