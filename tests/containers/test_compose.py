"""compose/sentinel: the compose project comes up, fails over a killed master, and goes away."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis

from labkit.realredis import reaper
from labkit.realredis.container_node import port_clash, wait_for
from labkit.realredis.dockercli import docker, find_labelled, leftovers

pytestmark = [pytest.mark.containers, pytest.mark.slow]

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "sentinel" / "docker-compose.yml"


class Project:
    """One compose project with a unique name (``-p``), driven through the compose CLI."""

    def __init__(self, compose: list[str], image: str) -> None:
        self.run_id = reaper.new_run_id()
        self.name = self.run_id
        self.compose = compose
        self.env = {
            **os.environ,
            "REDIS_LAB_IMAGE": image,
            "REDIS_LAB_RUN": self.run_id,
            "SENTINEL_DOWN_AFTER_MS": "1000",
            "SENTINEL_FAILOVER_TIMEOUT_MS": "5000",
        }
        self.env.pop("COMPOSE_PROJECT_NAME", None)
        self._ids: dict[str, str] = {}

    def run(self, *args: str, timeout_s: float = 120.0) -> str:
        argv = [*self.compose, "-p", self.name, "-f", str(COMPOSE_FILE), *args]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def up(self) -> None:
        """``up -d``, again when Docker's random host port was taken by another program."""
        for attempt in range(3):
            try:
                self.run("up", "-d", timeout_s=180)
                return
            except AssertionError as exc:
                if attempt == 2 or not port_clash(str(exc)):
                    raise

    def down(self) -> None:
        """``down -v``; if it fails, remove what carries the project's label, then re-raise."""
        try:
            self.run("down", "-v", "--remove-orphans", "--timeout", "2", timeout_s=180)
        except AssertionError:
            label = f"com.docker.compose.project={self.name}"
            for name in find_labelled("container", label):
                docker("rm", "-f", "-v", name, check=False)
            for name in find_labelled("network", label):
                docker("network", "rm", name, check=False)
            raise

    def container(self, service: str) -> str:
        if service not in self._ids:
            self._ids[service] = self.run("ps", "-q", service).splitlines()[0]
        return self._ids[service]

    def ip(self, service: str) -> str:
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return docker("inspect", "--format", fmt, self.container(service)).stdout.decode().strip()

    def sentinel_cli(self, *args: str) -> list[str]:
        out = docker("exec", self.container("sentinel-1"), "redis-cli", "-p", "26379", *args)
        return out.stdout.decode().split()


def test_compose_sentinels_fail_over_a_killed_master(compose: list[str], redis_image: str) -> None:
    project = Project(compose, redis_image)
    try:
        project.up()

        def discovered() -> bool:
            state = project.sentinel_cli("SENTINEL", "MASTER", "mymaster")
            fields = dict(zip(state[::2], state[1::2], strict=False))
            return fields["num-slaves"] == "2" and fields["num-other-sentinels"] == "2"

        wait_for(discovered, timeout_s=40, what="the compose Sentinels to discover everything")
        old_ip = project.sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
        assert old_ip == project.ip("master")
        replicas = {project.ip(name): name for name in ("replica-1", "replica-2")}

        project.run("kill", "master")
        wait_for(
            lambda: (
                project.sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
                in replicas
            ),
            timeout_s=45,
            what="a failover to a replica",
        )
        new_ip = project.sentinel_cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[0]
        host, port = project.run("port", replicas[new_ip], "6379").rsplit(":", 1)
        assert host == "127.0.0.1"

        def writable() -> bool:
            with redis.Redis(host=host, port=int(port), socket_timeout=2.0) as conn:
                return conn.set("after-compose-failover", "1") is True

        wait_for(writable, timeout_s=20, what="a write on the new master")
    finally:
        project.down()
    left = leftovers(project.run_id)
    assert not left, f"compose left {left.describe()}"
    label = f"com.docker.compose.project={project.name}"
    assert not find_labelled("container", label) and not find_labelled("network", label)
