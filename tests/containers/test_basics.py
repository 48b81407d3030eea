"""A Redis container through plain testcontainers, the image cache, and cleanup on failure."""

from __future__ import annotations

import os
import subprocess

import pytest
import redis
from testcontainers.core.container import DockerContainer

from labkit.realredis import reaper
from labkit.realredis.containers import ContainerLab, publish_on_loopback, wait_for
from labkit.realredis.dockercli import (
    OWNER_LABEL,
    RUN_LABEL,
    ContainerError,
    docker,
    leftovers,
    remove_leftovers,
)
from labkit.realredis.images import HASH_LABEL, build_local_image, ensure_redis_image

pytestmark = pytest.mark.containers


def _labels(run_id: str) -> dict[str, str]:
    return {RUN_LABEL: run_id, OWNER_LABEL: str(os.getpid())}


def test_redis_container_answers_ping_on_loopback(redis_image: str) -> None:
    run_id = reaper.new_run_id()
    container = publish_on_loopback(DockerContainer(redis_image), 6379)
    container.with_kwargs(labels=_labels(run_id))
    with container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(6379))
        assert host == "127.0.0.1"
        bindings = container.get_wrapped_container().attrs["HostConfig"]["PortBindings"]
        assert [b["HostIp"] for b in bindings["6379/tcp"]] == ["127.0.0.1"]

        def pong() -> bool:
            with redis.Redis(host=host, port=port, socket_timeout=2.0) as conn:
                return bool(conn.ping())

        wait_for(pong, timeout_s=20, what=f"PING at {host}:{port}")
        assert leftovers(run_id).containers
    assert not leftovers(run_id), leftovers(run_id).describe()


def test_image_is_cached_by_content(redis_image: str) -> None:
    assert ensure_redis_image() == redis_image  # a second call finds the same image
    if not redis_image.startswith("redis-lab/"):
        pytest.skip(f"using the official {redis_image}; no local build to check")
    before = docker("image", "inspect", "--format", "{{.Id}}", redis_image).stdout
    assert build_local_image(log=False) == redis_image
    assert docker("image", "inspect", "--format", "{{.Id}}", redis_image).stdout == before


def test_test_image_runs_and_is_removed() -> None:
    run_id = reaper.new_run_id()
    tag = f"redis-lab-test/redis:{run_id}"
    try:
        assert build_local_image(tags=[tag], labels=_labels(run_id), log=False) == tag
        fmt = '{{index .Config.Labels "' + HASH_LABEL + '"}}'
        assert docker("image", "inspect", "--format", fmt, tag).stdout.strip()
        version = docker("run", "--rm", "--label", f"{RUN_LABEL}={run_id}", tag, "--version")
        assert b"Redis server v=" in version.stdout
        for name in ("redis-sentinel", "redis-cli"):
            done = docker(
                "run",
                "--rm",
                "--label",
                f"{RUN_LABEL}={run_id}",
                "--entrypoint",
                name,
                tag,
                "--version",
            )
            assert done.returncode == 0
        assert leftovers(run_id).images
    finally:
        docker("image", "rm", "-f", tag, check=False)
    assert not leftovers(run_id), leftovers(run_id).describe()


def test_lab_cleans_up_after_a_failure(redis_image: str) -> None:
    lab = ContainerLab(redis_image)
    with pytest.raises(RuntimeError, match="planted"), lab:
        paused = lab.server("paused")
        cut = lab.server("cut", replica_of=paused)
        stopped = lab.server("stopped")
        lab.server("unstarted", start=False)
        assert lab.leftovers().networks == [lab.network_name]
        paused.pause()
        cut.disconnect()
        stopped.kill()
        raise RuntimeError("planted failure")
    left = lab.leftovers()
    assert not left, f"after a failure the lab left {left.describe()}"


def test_remove_leftovers_takes_what_dead_owners_left(redis_image: str) -> None:
    run_id = reaper.new_run_id()
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = ["--label", f"{RUN_LABEL}={run_id}", "--label", f"{OWNER_LABEL}={gone.pid}"]
    alive = ["--label", f"{RUN_LABEL}={run_id}", "--label", f"{OWNER_LABEL}={os.getpid()}"]
    network = f"redis-lab-{run_id}"
    names = [f"{run_id}-orphan", f"{run_id}-owned"]
    try:
        docker("network", "create", *dead, network)
        docker("create", "--name", names[0], *dead, redis_image)
        docker("create", "--name", names[1], *alive, redis_image)
        removed = remove_leftovers(run_id)
        assert (removed.containers, removed.networks) == ([names[0]], [network])
        assert leftovers(run_id).containers == [names[1]]
        assert remove_leftovers(run_id, include_live_owners=True).containers == [names[1]]
    finally:
        docker("rm", "-f", *names, check=False)
        docker("network", "rm", network, check=False)
    assert not leftovers(run_id), leftovers(run_id).describe()


def test_a_bad_directive_fails_at_once_with_the_log(container_lab: ContainerLab) -> None:
    with pytest.raises(ContainerError, match="is exited") as caught:
        container_lab.server("bad", extra=[("no-such-directive", "1")])
    assert "no-such-directive" in str(caught.value)
