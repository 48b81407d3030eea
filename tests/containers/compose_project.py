"""One compose project with a unique name (``-p``), driven through the compose CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from labkit.realredis import reaper
from labkit.realredis.container_node import port_clash
from labkit.realredis.dockercli import Leftovers, docker, find_labelled, leftovers

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "compose"


class Project:
    """``docker-compose -p <run id> -f <file> ...``, labelled with the run id."""

    def __init__(self, compose: list[str], compose_file: Path, env: Mapping[str, str]) -> None:
        self.run_id = reaper.new_run_id()
        self.name = self.run_id
        self.compose = compose
        self.compose_file = compose_file
        self.env = {**os.environ, "REDIS_LAB_RUN": self.run_id, **env}
        self.env.pop("COMPOSE_PROJECT_NAME", None)
        self._ids: dict[str, str] = {}

    def run(self, *args: str, timeout_s: float = 120.0) -> str:
        argv = [*self.compose, "-p", self.name, "-f", str(self.compose_file), *args]
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

    def left(self) -> Leftovers:
        """What carries the run's label, or the project's (nothing after :meth:`down`)."""
        label = f"com.docker.compose.project={self.name}"
        found = leftovers(self.run_id)
        return Leftovers(
            sorted({*found.containers, *find_labelled("container", label)}),
            sorted({*found.networks, *find_labelled("network", label)}),
            found.images,
        )

    def container(self, service: str) -> str:
        if service not in self._ids:
            self._ids[service] = self.run("ps", "-q", service).splitlines()[0]
        return self._ids[service]

    def ip(self, service: str) -> str:
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return docker("inspect", "--format", fmt, self.container(service)).stdout.decode().strip()

    def cli(self, service: str, port: int, *args: str) -> list[str]:
        """``redis-cli -p PORT ARGS`` inside the service's container (the lab network)."""
        out = docker("exec", self.container(service), "redis-cli", "-p", str(port), *args)
        return out.stdout.decode().split()

    def host_port(self, service: str, port: int) -> int:
        host, published = self.run("port", service, str(port)).rsplit(":", 1)
        assert host == "127.0.0.1", f"{service}:{port} is published on {host}"
        return int(published)
