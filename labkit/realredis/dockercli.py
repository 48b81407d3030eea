"""The ``docker`` command line, and the labels that mark what the lab makes with it.

Everything the container backend creates (containers, networks, test images) carries
``redis-lab.run=<run id>`` and ``redis-lab.owner=<pid>``, so that a cleanup can find the
leftovers of a run, or of every run whose Python process is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from labkit.realredis.errors import RealRedisError

__all__ = [
    "BASE_IMAGE_LABEL",
    "OWNER_LABEL",
    "RUN_LABEL",
    "ContainerError",
    "DockerNotAvailableError",
    "Leftovers",
    "compose_command",
    "docker",
    "engine_version",
    "find_labelled",
    "leftovers",
    "remove_leftovers",
]

RUN_LABEL = "redis-lab.run"
OWNER_LABEL = "redis-lab.owner"
BASE_IMAGE_LABEL = "redis-lab.base-image"

ENABLE_HINT = (
    "Run scripts/ensure-docker.sh as root (or `make docker`): it installs docker.io and "
    "docker-compose when missing and starts dockerd."
)

ResourceKind = Literal["container", "network", "image"]


class ContainerError(RealRedisError):
    """A Docker command failed, or a container did not reach the state asked for."""


class DockerNotAvailableError(ContainerError):
    """No ``docker`` client, or no engine answers; the message says how to get one."""


def docker(
    *args: str, input_bytes: bytes | None = None, timeout_s: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run ``docker ARGS``; raise :class:`ContainerError` with its stderr when it fails."""
    exe = shutil.which("docker")
    if exe is None:
        raise DockerNotAvailableError(f"the docker client is not on PATH. {ENABLE_HINT}")
    try:
        done = subprocess.run(
            [exe, *args],
            input=input_bytes,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ContainerError(f"docker {' '.join(args)} took more than {timeout_s:.0f}s") from exc
    if check and done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise ContainerError(f"docker {' '.join(args)} failed ({done.returncode}): {stderr}")
    return done


def engine_version(timeout_s: float = 10.0) -> str | None:
    """The engine's version when one answers ``docker info``, else None."""
    if shutil.which("docker") is None:
        return None
    try:
        done = docker("info", "--format", "{{.ServerVersion}}", timeout_s=timeout_s, check=False)
    except ContainerError:
        return None
    version = done.stdout.decode(errors="replace").strip()
    return version if done.returncode == 0 and version else None


def compose_command() -> list[str] | None:
    """``["docker-compose"]`` (Debian's v1.29) or ``["docker", "compose"]``, whichever works."""
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    if shutil.which("docker") is not None:
        done = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if done.returncode == 0:
            return ["docker", "compose"]
    return None


def find_labelled(kind: ResourceKind, label: str) -> list[str]:
    """Names (containers, networks) or ids (images) of what carries ``label`` (``k`` or ``k=v``)."""
    if kind == "container":
        args = ["ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"]
    elif kind == "network":
        args = ["network", "ls", "--filter", f"label={label}", "--format", "{{.Name}}"]
    else:
        args = ["image", "ls", "-q", "--no-trunc", "--filter", f"label={label}"]
    out = docker(*args, timeout_s=30).stdout.decode(errors="replace")
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


@dataclass(frozen=True, slots=True)
class Leftovers:
    """What Docker still holds that carries a run's label."""

    containers: list[str]
    networks: list[str]
    images: list[str]

    def __bool__(self) -> bool:
        return bool(self.containers or self.networks or self.images)

    def describe(self) -> str:
        parts = [
            f"{what}: {', '.join(names)}"
            for what, names in (
                ("containers", self.containers),
                ("networks", self.networks),
                ("images", self.images),
            )
            if names
        ]
        return "; ".join(parts) or "nothing"


def leftovers(run_id: str | None = None) -> Leftovers:
    """Containers, networks and images of ``run_id`` (of every lab run when None)."""
    label = RUN_LABEL if run_id is None else f"{RUN_LABEL}={run_id}"
    return Leftovers(
        find_labelled("container", label),
        find_labelled("network", label),
        find_labelled("image", label),
    )


def _owner_alive(kind: ResourceKind, name: str) -> bool:
    labels = ".Labels" if kind == "network" else ".Config.Labels"
    fmt = "{{index " + labels + ' "' + OWNER_LABEL + '"}}'
    done = docker(kind, "inspect", "--format", fmt, name, check=False, timeout_s=30)
    owner = done.stdout.decode(errors="replace").strip()
    if not owner.isdigit():
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(run_id: str | None = None, *, include_live_owners: bool = False) -> Leftovers:
    """Remove what a run left behind (whose owner process is gone, unless told otherwise).

    Containers go first (forced, with their anonymous volumes), then networks, then the
    images that tests made. The cached base image carries no run label and stays.
    """
    found = leftovers(run_id)
    removed: dict[ResourceKind, list[str]] = {"container": [], "network": [], "image": []}
    order: list[tuple[ResourceKind, list[str]]] = [
        ("container", found.containers),
        ("network", found.networks),
        ("image", found.images),
    ]
    for kind, names in order:
        for name in names:
            if not include_live_owners and _owner_alive(kind, name):
                continue
            if kind == "container":
                docker("rm", "-f", "-v", name, check=False, timeout_s=60)
            elif kind == "network":
                docker("network", "rm", name, check=False, timeout_s=60)
            else:
                docker("image", "rm", "-f", name, check=False, timeout_s=60)
            removed[kind].append(name)
    return Leftovers(removed["container"], removed["network"], removed["image"])
