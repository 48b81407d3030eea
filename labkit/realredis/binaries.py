"""Finding the real Redis binaries: ``REDIS_SERVER``/``REDIS_CLI`` first, then PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from labkit.realredis.errors import RedisNotInstalledError

__all__ = ["MIN_VERSION", "RedisBinaries", "find_binaries"]

MIN_VERSION = (7, 0, 0)

INSTALL_HINT = (
    "Install Redis >= 7.0 with sentinel mode and redis-cli "
    "(Debian/Ubuntu: apt-get install redis-server redis-sentinel redis-tools), "
    "or point REDIS_SERVER and REDIS_CLI at the binaries."
)


@dataclass(frozen=True, slots=True)
class RedisBinaries:
    """Paths of the binaries the lab runs, and the server's version."""

    server: str
    cli: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


def _locate(env_name: str, program: str) -> str:
    given = os.environ.get(env_name)
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            raise RedisNotInstalledError(
                f"{env_name}={given!r} is not an executable file. {INSTALL_HINT}"
            )
        return given
    found = shutil.which(program)
    if found is None:
        raise RedisNotInstalledError(f"{program} was not found on PATH. {INSTALL_HINT}")
    return found


def _server_version(server: str) -> tuple[int, int, int]:
    try:
        out = subprocess.run(
            [server, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError as exc:
        raise RedisNotInstalledError(f"cannot run {server}: {exc}. {INSTALL_HINT}") from exc
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise RedisNotInstalledError(f"{server} --version printed {out.strip()!r}. {INSTALL_HINT}")
    major, minor, patch = (int(group) for group in match.groups())
    return (major, minor, patch)


@cache
def find_binaries() -> RedisBinaries:
    """Locate ``redis-server`` and ``redis-cli`` and check the version (cached)."""
    server = _locate("REDIS_SERVER", "redis-server")
    cli = _locate("REDIS_CLI", "redis-cli")
    version = _server_version(server)
    if version < MIN_VERSION:
        found = ".".join(map(str, version))
        raise RedisNotInstalledError(
            f"{server} is version {found}; the lab needs >= 7.0. {INSTALL_HINT}"
        )
    return RedisBinaries(server=server, cli=cli, version=version)
