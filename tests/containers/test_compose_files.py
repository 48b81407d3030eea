"""Every compose file is valid for the compose tool here; compose/raft comes up, loses its
leader, elects another, and goes away leaving nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from labkit.realredis.container_node import wait_for
from labkit.realredis.labraft import parse_info
from tests.containers.compose_project import COMPOSE_DIR, Project

pytestmark = pytest.mark.containers

COMPOSE_FILES = sorted(COMPOSE_DIR.glob("*/docker-compose.yml"))
RAFT_FILE = COMPOSE_DIR / "raft" / "docker-compose.yml"
NODES = ("raft-1", "raft-2", "raft-3")


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=lambda p: p.parent.name)
def test_compose_file_is_valid(compose: list[str], compose_file: Path) -> None:
    project = Project(compose, compose_file, {})
    project.run("config", "-q")
    services = project.run("config", "--services").split()
    assert services, f"{compose_file} has no services"
    assert not project.left()


def test_compose_files_include_the_studies() -> None:
    names = {p.parent.name for p in COMPOSE_FILES}
    assert {"sentinel", "sentinel-side-by-side", "raft", "gossip-mixed"} <= names


@pytest.mark.slow
def test_compose_raft_cluster_elects_a_new_leader(compose: list[str], python_image: str) -> None:
    project = Project(compose, RAFT_FILE, {"REDIS_LAB_PYTHON_IMAGE": python_image})

    def info(service: str) -> dict[str, str]:
        port = project.host_port(service, 6379)
        with redis.Redis("127.0.0.1", port, socket_timeout=1.0, decode_responses=True) as conn:
            return parse_info(str(conn.execute_command("RAFT.INFO")))

    def agreed_leader(services: tuple[str, ...]) -> str | None:
        try:
            infos = [info(s) for s in services]
        except redis.exceptions.RedisError:
            return None
        leaders = {i["leader_id"] for i in infos}
        if len(leaders) != 1 or len({i["term"] for i in infos}) != 1:
            return None
        leader = leaders.pop()
        return leader if f"raft-{leader}" in services else None  # not a dead one's name

    def leader_of(services: tuple[str, ...]) -> str:
        found: list[str] = []

        def agreed() -> bool:
            leader = agreed_leader(services)
            found[:] = [leader] if leader else []
            return bool(found)

        wait_for(agreed, timeout_s=30, what=f"one Raft leader among {', '.join(services)}")
        return f"raft-{found[0]}"

    def write(service: str, key: str) -> bool:
        try:
            with redis.Redis("127.0.0.1", project.host_port(service, 6379), socket_timeout=3) as r:
                return r.set(key, "1") is True
        except redis.exceptions.RedisError:
            return False

    try:
        project.up()
        old = leader_of(NODES)
        follower = next(s for s in NODES if s != old)
        wait_for(lambda: write(follower, "before"), timeout_s=20, what="a write via a follower")

        project.run("kill", old)
        rest = tuple(s for s in NODES if s != old)
        new = leader_of(rest)
        assert new != old
        wait_for(lambda: write(rest[0], "after"), timeout_s=20, what="a write after the kill")

        project.run("start", old)
        wait_for(
            lambda: agreed_leader(NODES) == new.removeprefix("raft-"),
            timeout_s=30,
            what=f"{old} to rejoin as a follower of {new}",
        )
    finally:
        project.down()
    left = project.left()
    assert not left, f"compose left {left.describe()}"
