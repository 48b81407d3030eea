"""The Redis image that the container backend runs.

Which image, in this order:

1. ``REDIS_LAB_IMAGE`` when set (it must exist locally or be pullable);
2. the official ``redis:<version>`` of the installed Redis, when it is already local, or when
   ``REDIS_LAB_PULL=1`` asks to try a ``docker pull`` (with a short timeout). The default
   makes no pull attempt: the lab sends nothing off the machine unless told to;
3. ``redis-lab/redis:<version>`` (also tagged ``redis-lab/redis:<major>.<minor>``), built here
   with ``docker import`` from the installed binaries: ``redis-server`` (with the names
   ``redis-sentinel``, ``redis-check-rdb`` and ``redis-check-aof`` linked to it),
   ``redis-cli``, ``/bin/sh`` (for entrypoint scripts), the shared libraries ``ldd`` lists, the
   dynamic loader, a one-line ``/etc/passwd`` and ``/etc/group``, ``/tmp`` and ``/data``.

The local image is a cached build product, not a test artifact: it carries a hash of its
contents in the label ``redis-lab.content-hash`` and is rebuilt only when that hash
changes. It carries no run label, so a run's cleanup leaves it; ``docker image rm
redis-lab/redis:<version>`` removes it. Both images serve, replicate and run ``--sentinel``
alike; the containers run as root inside the container, and ``protected-mode`` is off, as
in the official image.

Run ``python -m labkit.realredis.images`` (``scripts/build-images.sh``) to build or check it,
and the Python image (:mod:`labkit.realredis.pyimage`) with it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from labkit.realredis.binaries import RedisBinaries, find_binaries
from labkit.realredis.dockercli import BASE_IMAGE_LABEL, ContainerError, docker

__all__ = [
    "HASH_LABEL",
    "LOCAL_REPO",
    "OFFICIAL_REPO",
    "RootfsEntry",
    "build_local_image",
    "ensure_redis_image",
    "image_exists",
    "local_image_tags",
    "parse_ldd",
    "rootfs_entries",
]

LOCAL_REPO = "redis-lab/redis"
OFFICIAL_REPO = "redis"
HASH_LABEL = "redis-lab.content-hash"
VERSION_LABEL = "redis-lab.redis-version"
RECIPE = "redis-lab/redis rootfs v1"  # change it when the layout below changes
_CHANGES = (
    'ENTRYPOINT ["/usr/bin/redis-server"]',
    'CMD ["--protected-mode", "no"]',
    "WORKDIR /data",
    "ENV PATH=/usr/local/bin:/usr/bin:/bin",
    "EXPOSE 6379 26379",
)
_TOP_LEVEL_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


@dataclass(frozen=True, slots=True)
class RootfsEntry:
    """One member of the image's root filesystem: a directory, a file or a symlink."""

    path: str  # absolute path in the image
    mode: int
    source: Path | None = None  # file content
    link: str | None = None  # symlink target

    def digest(self) -> str:
        if self.source is not None:
            content = hashlib.sha256(self.source.read_bytes()).hexdigest()
        else:
            content = self.link or "dir"
        return f"{self.path} {self.mode:o} {content}"


def parse_ldd(text: str) -> list[str]:
    """The absolute library paths in ``ldd`` output (the loader included, vdso excluded)."""
    paths = []
    for line in text.splitlines():
        if "not found" in line:
            raise ContainerError(f"ldd: a library is missing: {line.strip()}")
        match = _LDD_PATH.search(line)
        if match is not None:
            paths.append(match.group(1))
    return paths


def _libraries(binary: str) -> list[str]:
    done = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=False)
    if "not a dynamic executable" in done.stdout + done.stderr:
        return []  # a static binary needs no libraries
    if done.returncode != 0:
        raise ContainerError(f"ldd {binary} failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse_ldd(done.stdout)


def _in_image(host_path: str) -> str:
    """Where a host file goes: its directory resolved (merged /usr), its own name kept."""
    return str(PurePosixPath(os.path.realpath(os.path.dirname(host_path))) / Path(host_path).name)


def rootfs_entries(binaries: RedisBinaries, shell: str = "/bin/sh") -> list[RootfsEntry]:
    """The image's root filesystem, built from the installed binaries."""
    server = os.path.realpath(binaries.server)
    cli = os.path.realpath(binaries.cli)
    sh = os.path.realpath(shell)
    entries: dict[str, RootfsEntry] = {}

    def add(entry: RootfsEntry) -> None:
        parent = PurePosixPath(entry.path).parent
        while str(parent) != "/" and str(parent) not in entries:
            entries[str(parent)] = RootfsEntry(str(parent), 0o755)
            parent = parent.parent
        entries[entry.path] = entry

    for top in _TOP_LEVEL_LINKS:
        if os.path.islink(top):
            target = os.readlink(top)
            entries[top] = RootfsEntry(top, 0o777, link=target.lstrip("/"))
    add(RootfsEntry("/usr/bin/redis-server", 0o755, source=Path(server)))
    for name in ("redis-sentinel", "redis-check-rdb", "redis-check-aof"):
        add(RootfsEntry(f"/usr/bin/{name}", 0o777, link="redis-server"))
    add(RootfsEntry("/usr/bin/redis-cli", 0o755, source=Path(cli)))
    add(RootfsEntry(_in_image("/bin/sh"), 0o755, source=Path(sh)))
    for lib in sorted({*_libraries(server), *_libraries(cli), *_libraries(sh)}):
        add(RootfsEntry(_in_image(lib), 0o755, source=Path(os.path.realpath(lib))))
    add(RootfsEntry("/data", 0o755))
    add(RootfsEntry("/tmp", 0o1777))
    add(RootfsEntry("/root", 0o700))
    return sorted(entries.values(), key=lambda e: e.path)


_ETC = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
    "/etc/group": b"root:x:0:\n",
    "/etc/nsswitch.conf": b"hosts: files dns\n",
}


def _content_hash(entries: Iterable[RootfsEntry]) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for line in [*(e.digest() for e in entries), *_CHANGES, *map(repr, sorted(_ETC.items()))]:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _tar(entries: Iterable[RootfsEntry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info("etc", tarfile.DIRTYPE, 0o755))
        for path, data in sorted(_ETC.items()):
            info = _info(path.lstrip("/"), tarfile.REGTYPE, 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for entry in entries:
            name = entry.path.lstrip("/")
            if entry.link is not None:
                info = _info(name, tarfile.SYMTYPE, entry.mode)
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.source is not None:
                data = entry.source.read_bytes()
                info = _info(name, tarfile.REGTYPE, entry.mode)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(_info(name, tarfile.DIRTYPE, entry.mode))
    return buf.getvalue()


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    return info


def image_exists(ref: str) -> bool:
    """True when ``ref`` is an image in the local engine."""
    return docker("image", "inspect", ref, check=False, timeout_s=30).returncode == 0


def _label(ref: str, label: str) -> str | None:
    fmt = '{{index .Config.Labels "' + label + '"}}'
    done = docker("image", "inspect", "--format", fmt, ref, check=False, timeout_s=30)
    value = done.stdout.decode(errors="replace").strip()
    return value if done.returncode == 0 and value and value != "<no value>" else None


def local_image_tags(version: tuple[int, int, int]) -> list[str]:
    """``redis-lab/redis:7.0.15`` and ``redis-lab/redis:7.0`` for version (7, 0, 15)."""
    major, minor, patch = version
    return [f"{LOCAL_REPO}:{major}.{minor}.{patch}", f"{LOCAL_REPO}:{major}.{minor}"]


def build_local_image(
    binaries: RedisBinaries | None = None,
    *,
    tags: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    force: bool = False,
    log: bool = True,
) -> str:
    """Build (or find cached) ``redis-lab/redis:<version>`` from the installed binaries.

    Returns the first tag. With ``tags``/``labels`` given, builds a separate image (tests
    do that, with their run label, and remove it afterwards).
    """
    binaries = binaries or find_binaries()
    tags = list(tags or local_image_tags(binaries.version))
    entries = rootfs_entries(binaries)
    content = _content_hash(entries)
    if not force and all(_label(tag, HASH_LABEL) == content for tag in tags):
        if log:
            print(f"images: {tags[0]} is up to date ({HASH_LABEL}={content})", file=sys.stderr)
        return tags[0]
    previous = [_image_id(tag) for tag in tags]
    all_labels = {
        HASH_LABEL: content,
        VERSION_LABEL: binaries.version_text,
        **({} if labels else {BASE_IMAGE_LABEL: "true"}),
        **(labels or {}),
    }
    changes = [*_CHANGES, *(f"LABEL {key}={value}" for key, value in sorted(all_labels.items()))]
    args = ["import", *(arg for change in changes for arg in ("-c", change)), "-", tags[0]]
    if log:
        print(
            f"images: building {tags[0]} from {binaries.server} with docker import", file=sys.stderr
        )
    docker(*args, input_bytes=_tar(entries), timeout_s=300)
    for tag in tags[1:]:
        docker("tag", tags[0], tag, timeout_s=30)
    new_id = _image_id(tags[0])
    for old in {old for old in previous if old and old != new_id}:
        # The replaced build, now untagged; keep it if a container still uses it.
        docker("image", "rm", old, check=False, timeout_s=60)
    return tags[0]


def _image_id(ref: str) -> str | None:
    done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False, timeout_s=30)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _try_pull(ref: str, timeout_s: float) -> bool:
    try:
        done = docker("pull", "--quiet", ref, check=False, timeout_s=timeout_s)
    except ContainerError:
        return False
    return done.returncode == 0


def ensure_redis_image(
    *, pull: bool | None = None, pull_timeout_s: float = 20.0, force_build: bool = False
) -> str:
    """The image reference to run Redis from, building the local one when needed."""
    chosen = os.environ.get("REDIS_LAB_IMAGE")
    if chosen:
        if not image_exists(chosen) and not _try_pull(chosen, pull_timeout_s):
            raise ContainerError(f"REDIS_LAB_IMAGE={chosen} is not local and cannot be pulled")
        return chosen
    binaries = find_binaries()
    if pull is None:
        pull = os.environ.get("REDIS_LAB_PULL", "0").lower() in {"1", "yes", "true"}
    official = f"{OFFICIAL_REPO}:{binaries.version_text}"
    if not force_build:
        if image_exists(official):
            return official
        if pull and _try_pull(official, pull_timeout_s):
            return official
    return build_local_image(binaries, force=force_build)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m labkit.realredis.images``: print the images to use (the Redis image, then
    the Python image of :mod:`labkit.realredis.pyimage`), building them if needed."""
    from labkit.realredis.pyimage import ensure_python_image

    parser = argparse.ArgumentParser(prog="python -m labkit.realredis.images", description=__doc__)
    parser.add_argument("--no-pull", action="store_true", help="do not try the official image")
    parser.add_argument("--force", action="store_true", help="rebuild the local images")
    parser.add_argument("--redis-only", action="store_true", help="skip the Python image")
    args = parser.parse_args(argv)
    try:
        ref = ensure_redis_image(pull=False if args.no_pull else None, force_build=args.force)
        print(ref, flush=True)
        if not args.redis_only:
            print(ensure_python_image(force_build=args.force))
    except ContainerError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
