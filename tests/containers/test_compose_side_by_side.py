"""compose/sentinel-side-by-side: 3 real Sentinels and 3 sentinel_lab in one group come up,
fail over a killed master together, and go away leaving nothing."""

from __future__ import annotations

import pytest
import redis

from labkit.realredis.container_node import wait_for
from tests.containers.compose_project import COMPOSE_DIR, Project

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COMPOSE_FILE = COMPOSE_DIR / "sentinel-side-by-side" / "docker-compose.yml"
REAL = ("sentinel-1", "sentinel-2", "sentinel-3")
OURS = ("lab-sentinel-1", "lab-sentinel-2", "lab-sentinel-3")
FAST = {"SENTINEL_DOWN_AFTER_MS": "1000", "SENTINEL_FAILOVER_TIMEOUT_MS": "5000"}


def test_side_by_side_compose_fails_over_with_both_kinds(
    compose: list[str], redis_image: str, python_image: str
) -> None:
    images = {"REDIS_LAB_IMAGE": redis_image, "REDIS_LAB_PYTHON_IMAGE": python_image}
    project = Project(compose, COMPOSE_FILE, {**images, **FAST})

    def state(service: str) -> dict[str, str]:
        out = project.cli(service, 26379, "SENTINEL", "MASTER", "mymaster")
        return dict(zip(out[::2], out[1::2], strict=False))

    def masters() -> set[str]:
        """The master address each sentinel gives, asked inside the network."""
        return {
            project.cli(s, 26379, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
            for s in REAL + OURS
        }

    try:
        project.up()

        def discovered() -> bool:
            states = [state(s) for s in REAL + OURS]
            return all(
                st.get("num-slaves") == "2" and st.get("num-other-sentinels") == "5"
                for st in states
            )

        wait_for(discovered, timeout_s=60, what="all six sentinels to discover everything")
        assert masters() == {project.ip("master")}
        replicas = {project.ip(name): name for name in ("replica-1", "replica-2")}

        project.run("kill", "master")
        named: list[str] = []

        def failed_over() -> bool:
            now = masters()
            named[:] = sorted(now)
            return len(now) == 1 and now <= replicas.keys()

        wait_for(failed_over, timeout_s=60, what="every sentinel, real and ours, on one replica")
        port = project.host_port(replicas[named[0]], 6379)

        def writable() -> bool:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0) as conn:
                return conn.set("after-side-by-side-failover", "1") is True

        wait_for(writable, timeout_s=20, what="a write on the new master")
    finally:
        project.down()
    left = project.left()
    assert not left, f"compose left {left.describe()}"
