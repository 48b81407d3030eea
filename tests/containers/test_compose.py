"""compose/sentinel: the compose project comes up, fails over a killed master, and goes away."""

from __future__ import annotations

import pytest
import redis

from labkit.realredis.container_node import wait_for
from tests.containers.compose_project import COMPOSE_DIR, Project

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COMPOSE_FILE = COMPOSE_DIR / "sentinel" / "docker-compose.yml"
FAST = {"SENTINEL_DOWN_AFTER_MS": "1000", "SENTINEL_FAILOVER_TIMEOUT_MS": "5000"}


def test_compose_sentinels_fail_over_a_killed_master(compose: list[str], redis_image: str) -> None:
    project = Project(compose, COMPOSE_FILE, {"REDIS_LAB_IMAGE": redis_image, **FAST})

    def sentinel_cli(*args: str) -> list[str]:
        return project.cli("sentinel-1", 26379, *args)

    try:
        project.up()

        def discovered() -> bool:
            state = sentinel_cli("SENTINEL", "MASTER", "mymaster")
            fields = dict(zip(state[::2], state[1::2], strict=False))
            return fields["num-slaves"] == "2" and fields["num-other-sentinels"] == "2"

        wait_for(discovered, timeout_s=40, what="the compose Sentinels to discover everything")
        old_ip = sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
        assert old_ip == project.ip("master")
        replicas = {project.ip(name): name for name in ("replica-1", "replica-2")}

        project.run("kill", "master")
        wait_for(
            lambda: sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0] in replicas,
            timeout_s=45,
            what="a failover to a replica",
        )
        new_ip = sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
        port = project.host_port(replicas[new_ip], 6379)

        def writable() -> bool:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0) as conn:
                return conn.set("after-compose-failover", "1") is True

        wait_for(writable, timeout_s=20, what="a write on the new master")
    finally:
        project.down()
    left = project.left()
    assert not left, f"compose left {left.describe()}"
