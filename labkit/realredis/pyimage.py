"""The Python image: our components (sentinel_lab, redis_raft, ...) in containers.

``redis-lab/python:<project version>`` is built here with ``docker import`` from a root
filesystem that this module assembles from the machine, not from a registry:

* the Redis image's root filesystem (:func:`labkit.realredis.images.rootfs_entries`):
  ``redis-server`` and its names, ``redis-cli``, ``/bin/sh``, their shared libraries and the
  loader, ``/data``, ``/tmp``; redis_raft's ``--data-server auto`` starts a ``redis-server``
  found on ``PATH``, so every node owns its backing server inside its container;
* the interpreter that runs this code (the venv's base Python): ``bin/python3.11`` as
  ``/usr/local/bin/python3.11`` (with ``python3`` and ``python`` links), ``libpython`` and
  every library ``ldd`` lists for it and for the extension modules kept, and its standard
  library as ``/usr/local/lib/python3.11`` *without* ``site-packages``, the test suites,
  ``config-*``, ``idlelib``, ``tkinter``, ``turtledemo``, ``lib2to3``, ``ensurepip``,
  ``distutils``, ``sqlite3``, ``curses``, ``pydoc_data`` (and their extension modules),
  and only the plain ``.pyc`` files (no ``.opt-1``/``.opt-2``); files keep their times, so
  the interpreter's own ``.pyc`` files stay valid;
* the runtime dependencies (:data:`DEPENDENCIES`, the files each distribution's ``RECORD``
  lists in the venv, ``.dist-info`` included) and the project's packages
  (:data:`PROJECT_PACKAGES`, their source trees, not the editable link), all in
  ``/opt/redis-lab/lib`` (``PYTHONPATH``), with checked-hash ``.pyc`` files compiled here
  (so the image does not depend on what the venv's ``__pycache__`` holds);
* a one-line ``/etc/passwd`` and ``/etc/group``, and ``/etc/nsswitch.conf``.

The entrypoint is ``/usr/local/bin/python3``: ``docker run IMAGE -m sentinel_lab CONF``.

The image is a cached build product, not a test artifact. It carries a hash of everything
that goes in (the label ``redis-lab.content-hash``), so it is rebuilt only when the code,
the interpreter or the Redis binaries change (in CI, once per run). Three tags name it:
``redis-lab/python:<version>-<hash>`` (what the lab runs: it cannot move under a running
session), ``redis-lab/python:<version>`` and ``redis-lab/python:dev`` (the stable name the
compose files use). A new build removes the builds it replaces once they are an hour old
(a test session may still be starting containers from one) and unused. Test images built with other tags and a run label are removed by their tests.

Where a registry exists, ``compose/python.Dockerfile`` (``FROM python:3.11-slim``) builds an
equivalent image instead. ``REDIS_LAB_PYTHON_IMAGE`` names an image to use instead of this
one. Run ``python -m labkit.realredis.pyimage`` (or ``scripts/build-images.sh``) to build.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from labkit.realredis.binaries import RedisBinaries, find_binaries
from labkit.realredis.dockercli import BASE_IMAGE_LABEL, ContainerError, docker
from labkit.realredis.images import (
    HASH_LABEL,
    _image_id,
    _in_image,
    _label,
    _libraries,
    image_exists,
    rootfs_entries,
)

__all__ = [
    "APP_LIB",
    "DEPENDENCIES",
    "IMAGE_ENV",
    "PROJECT_PACKAGES",
    "PYTHON_REPO",
    "STABLE_TAG",
    "ImageFile",
    "build_python_image",
    "ensure_python_image",
    "project_version",
    "python_image_tags",
    "python_rootfs",
]

PYTHON_REPO = "redis-lab/python"
STABLE_TAG = f"{PYTHON_REPO}:dev"
IMAGE_ENV = "REDIS_LAB_PYTHON_IMAGE"
PROJECT = "redis-consensus-lab"
PROJECT_PACKAGES = ("labkit", "sentinel_lab", "redis_raft", "gossip_cluster", "commit_lab")
DEPENDENCIES = ("redis", "hiredis")  # redis[hiredis] without extras, for Python >= 3.11.3
PREFIX = PurePosixPath("/usr/local")
APP_LIB = PurePosixPath("/opt/redis-lab/lib")
PROJECT_VERSION_LABEL = "redis-lab.project-version"
PYTHON_VERSION_LABEL = "redis-lab.python-version"
RECIPE = "redis-lab/python rootfs v1"  # change it when the layout below changes
REPLACED_GRACE_S = 3600.0
_STRIP = shutil.which("strip")  # binutils; without it, ELF files go in as they are

_PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
_CHANGES = (
    'ENTRYPOINT ["/usr/local/bin/python3"]',
    "WORKDIR /data",
    "ENV PATH=/usr/local/bin:/usr/bin:/bin",
    f"ENV PYTHONPATH={APP_LIB}",
    "ENV PYTHONUNBUFFERED=1",
    "ENV LANG=C.UTF-8",
    "EXPOSE 6379 26379",
)
_ETC = {
    "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
    "/etc/group": b"root:x:0:\n",
    "/etc/nsswitch.conf": b"hosts: files dns\n",
}
# Parts of the standard library that no component imports (directories at any depth).
_SKIP_DIRS = frozenset(
    {
        "site-packages",
        "test",
        "tests",
        "idle_test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "ensurepip",
        "distutils",
        "sqlite3",
        "curses",
        "pydoc_data",
        "__phello__",
    }
)
# Extension modules left out with them, or for their libraries (Tk, ncurses, NIS, ...).
_SKIP_EXTENSIONS = frozenset(
    {
        "_tkinter",
        "_curses",
        "_curses_panel",
        "readline",
        "_sqlite3",
        "nis",
        "_dbm",
        "_gdbm",
        "ossaudiodev",
        "_ctypes_test",
        "_xxtestfuzz",
        "xxlimited",
        "xxlimited_35",
    }
)


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One member of the root filesystem: a directory, a file, a symlink, or a ``.pyc``.

    ``pyc_of`` is a source file to compile (checked-hash) into this member, with
    ``source_name`` the path that tracebacks show (the source's path in the image).
    ``strip``: an ELF file whose debugging symbols are left out (``strip --strip-unneeded``).
    """

    path: str
    mode: int
    source: Path | None = None
    link: str | None = None
    mtime: int = 0
    pyc_of: Path | None = None
    source_name: str | None = None
    strip: bool = False

    def digest(self) -> str:
        if self.source is not None:
            content = hashlib.sha256(self.source.read_bytes()).hexdigest()
        elif self.pyc_of is not None:
            content = f"pyc {self.source_name} {sys.version_info[:2]}"
        else:
            content = self.link or "dir"
        stripped = " stripped" if self.strip and _STRIP else ""
        return f"{self.path} {self.mode:o} {self.mtime} {content}{stripped}"


def project_version() -> str:
    """The installed project's version (``0.1.0``), from its metadata."""
    try:
        return importlib.metadata.version(PROJECT)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ContainerError(f"{PROJECT} is not installed (pip install -e .)") from exc


def python_image_tags(version: str, content: str) -> list[str]:
    """The content tag first (what to run), then the version tag and the stable ``dev``."""
    return [f"{PYTHON_REPO}:{version}-{content[:12]}", f"{PYTHON_REPO}:{version}", STABLE_TAG]


class _Tree:
    """The root filesystem being assembled, with parent directories added as needed."""

    def __init__(self) -> None:
        self.entries: dict[str, ImageFile] = {}

    def add(self, entry: ImageFile) -> None:
        parent = PurePosixPath(entry.path).parent
        while str(parent) != "/" and str(parent) not in self.entries:
            self.entries[str(parent)] = ImageFile(str(parent), 0o755)
            parent = parent.parent
        self.entries[entry.path] = entry

    def copy(
        self, host: Path, image_path: PurePosixPath, *, keep_time: bool, strip: bool = False
    ) -> None:
        st = host.stat()
        mtime = int(st.st_mtime) if keep_time else 0
        mode = stat.S_IMODE(st.st_mode)
        self.add(ImageFile(str(image_path), mode, source=host, mtime=mtime, strip=strip))

    def source(self, host: Path, image_path: PurePosixPath) -> None:
        """A file of a package; a ``.py`` gets a checked-hash ``.pyc``, an ELF file is stripped.

        The bytecode is compiled here, not taken from the host, whose ``__pycache__`` holds
        whatever imports happened to write (it would change the content hash)."""
        self.copy(host, image_path, keep_time=False, strip=host.suffix == ".so")
        if host.suffix == ".py":
            cache = f"{host.stem}.{sys.implementation.cache_tag}.pyc"
            pyc = image_path.parent / "__pycache__" / cache
            self.add(ImageFile(str(pyc), 0o644, pyc_of=host, source_name=str(image_path)))


def _walk(root: Path, skip_dirs: frozenset[str]) -> Iterator[Path]:
    """Regular files under ``root`` (sorted), leaving out directories named in ``skip_dirs``
    and ``config-*`` (the stdlib's build configuration)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs and not d.startswith("config-"))
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _keep_stdlib_file(path: Path) -> bool:
    if path.parent.name == "__pycache__":
        # Only the plain bytecode, and only of a source that is kept.
        source = path.parent.parent / f"{path.name.split('.')[0]}.py"
        return ".opt-" not in path.name and source.exists()
    if path.parent.name == "lib-dynload":
        module = path.name.split(".")[0]
        return module not in _SKIP_EXTENSIONS and not module.startswith("_test")
    return path.suffix != ".exe"


def _add_interpreter(tree: _Tree) -> list[str]:
    """The interpreter and its standard library; returns the binaries to ``ldd``."""
    base = Path(sys.base_prefix)
    executable = Path(os.path.realpath(base / "bin" / _PY))
    if not executable.is_file():
        raise ContainerError(f"no interpreter at {base / 'bin' / _PY} (sys.base_prefix)")
    tree.copy(executable, PREFIX / "bin" / _PY, keep_time=False, strip=True)
    for name in ("python3", "python"):
        tree.add(ImageFile(str(PREFIX / "bin" / name), 0o777, link=_PY))
    stdlib = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["stdlib"])
    binaries = [str(executable)]
    for path in _walk(stdlib, _SKIP_DIRS):
        if not _keep_stdlib_file(path):
            continue
        image_path = PREFIX / "lib" / _PY / path.relative_to(stdlib).as_posix()
        tree.copy(path, image_path, keep_time=True, strip=path.suffix == ".so")
        if path.suffix == ".so":
            binaries.append(str(path))
    return binaries


def _add_dependencies(tree: _Tree) -> list[str]:
    """The dependencies' installed files (from ``RECORD``); returns their extension modules."""
    binaries = []
    for name in DEPENDENCIES:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ContainerError(f"the dependency {name} is not installed in this venv") from exc
        for item in dist.files or []:
            if item.parts[0] == ".." or item.suffix in {".pth", ".pyc"}:
                continue  # console scripts, path hooks, and bytecode, which is made afresh
            host = Path(str(dist.locate_file(item)))
            if not host.is_file():
                continue
            tree.source(host, APP_LIB / item.as_posix())
            if host.suffix == ".so":
                binaries.append(str(host))
    return binaries


def _add_project(tree: _Tree) -> None:
    """Our packages' source trees, each ``.py`` with a checked-hash ``.pyc`` beside it."""
    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue  # a component that has not landed yet
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in _walk(root, frozenset({"__pycache__"})):
            if path.suffix not in {".pyc", ".pyo"}:
                tree.source(path, APP_LIB / name / path.relative_to(root).as_posix())


def python_rootfs(binaries: RedisBinaries | None = None) -> list[ImageFile]:
    """The Python image's root filesystem (see the module's docstring), sorted by path."""
    tree = _Tree()
    for entry in rootfs_entries(binaries or find_binaries()):
        tree.add(ImageFile(entry.path, entry.mode, source=entry.source, link=entry.link))
    libc = next((p for p in _libraries(sys.executable) if "/libc.so" in p), "/lib/libc.so.6")
    libdir = PurePosixPath(_in_image(libc)).parent
    elf = _add_interpreter(tree) + _add_dependencies(tree)
    _add_project(tree)
    system = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")
    for lib in sorted({lib for binary in elf for lib in _libraries(binary)}):
        host = Path(os.path.realpath(lib))
        # The interpreter's own libpython (found through its RUNPATH) goes beside libc.
        own = not lib.startswith(system)
        where = str(libdir / Path(lib).name) if own else _in_image(lib)
        if where not in tree.entries:
            tree.add(ImageFile(where, 0o755, source=host, strip=own))
    return sorted(tree.entries.values(), key=lambda e: e.path)


def _content_hash(entries: Sequence[ImageFile]) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for line in [*(e.digest() for e in entries), *_CHANGES, *map(repr, sorted(_ETC.items()))]:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:32]


def _info(name: str, kind: bytes, mode: int, mtime: int = 0, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.size = size
    return info


def _stripped(source: Path, scratch: Path) -> bytes:
    assert _STRIP is not None
    out = scratch / "stripped"
    done = subprocess.run(
        [_STRIP, "--strip-unneeded", "-o", str(out), str(source)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ContainerError(f"strip {source} failed: {done.stderr.decode(errors='replace')}")
    return out.read_bytes()


def _content(entry: ImageFile, scratch: Path) -> bytes:
    if entry.pyc_of is not None:
        return _pyc(entry, scratch)
    assert entry.source is not None
    return _stripped(entry.source, scratch) if entry.strip and _STRIP else entry.source.read_bytes()


def _pyc(entry: ImageFile, scratch: Path) -> bytes:
    assert entry.pyc_of is not None
    out = scratch / "out.pyc"
    py_compile.compile(
        str(entry.pyc_of),
        cfile=str(out),
        dfile=entry.source_name,
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    return out.read_bytes()


def _tar(entries: Sequence[ImageFile]) -> bytes:
    buf = io.BytesIO()
    with (
        tempfile.TemporaryDirectory(prefix="redis-lab-pyc-") as scratch,
        tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        tar.addfile(_info("etc", tarfile.DIRTYPE, 0o755))
        for path, data in sorted(_ETC.items()):
            tar.addfile(_info(path, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
        for entry in entries:
            if entry.link is not None:
                info = _info(entry.path, tarfile.SYMTYPE, entry.mode)
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.source is not None or entry.pyc_of is not None:
                data = _content(entry, Path(scratch))
                info = _info(entry.path, tarfile.REGTYPE, entry.mode, entry.mtime, len(data))
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(_info(entry.path, tarfile.DIRTYPE, entry.mode))
    return buf.getvalue()


def _log(message: str, enabled: bool) -> None:
    if enabled:
        print(f"pyimage: {message}", file=sys.stderr)


def _age_s(ref: str) -> float:
    done = docker("image", "inspect", "--format", "{{.Created}}", ref, check=False, timeout_s=30)
    text = done.stdout.decode().strip()
    try:  # RFC 3339 with nanoseconds: 2026-11-26T05:59:39.123456789Z
        created = datetime.fromisoformat(
            re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
        )
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - created).total_seconds()


def _remove_replaced(content: str) -> None:
    """Untag (and so delete) earlier base builds with other contents, once they are older
    than :data:`REPLACED_GRACE_S`: a test session started from one a while ago (another
    checkout's, or before the code changed) may still be about to run it."""
    done = docker("image", "ls", PYTHON_REPO, "--format", "{{.Repository}}:{{.Tag}}", timeout_s=30)
    for ref in done.stdout.decode().split():
        if _label(ref, BASE_IMAGE_LABEL) != "true" or _label(ref, HASH_LABEL) == content:
            continue
        if _age_s(ref) > REPLACED_GRACE_S:
            docker("image", "rm", ref, check=False, timeout_s=60)  # kept while a container uses it


def build_python_image(
    binaries: RedisBinaries | None = None,
    *,
    tags: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    force: bool = False,
    log: bool = True,
) -> str:
    """Build (or find cached) the Python image; returns its first tag.

    By default the tags are :func:`python_image_tags` (the content tag first). With
    ``tags``/``labels`` given, builds a separate image (tests do, with their run label, and
    remove it afterwards); only the default build replaces earlier builds.
    """
    entries = python_rootfs(binaries)
    content = _content_hash(entries)
    version = project_version()
    tags = list(tags or python_image_tags(version, content))
    current = [tag for tag in tags if _label(tag, HASH_LABEL) == content]
    if current and not force:
        for tag in tags:
            if tag not in current:
                docker("tag", current[0], tag, timeout_s=30)
        _log(f"{tags[0]} is up to date ({HASH_LABEL}={content})", log)
        return tags[0]
    all_labels = {
        HASH_LABEL: content,
        PROJECT_VERSION_LABEL: version,
        PYTHON_VERSION_LABEL: ".".join(map(str, sys.version_info[:3])),
        **({} if labels else {BASE_IMAGE_LABEL: "true"}),
        **(labels or {}),
    }
    changes = [*_CHANGES, *(f"LABEL {key}={value}" for key, value in sorted(all_labels.items()))]
    _log(f"building {tags[0]} ({len(entries)} files) with docker import", log)
    previous = {_image_id(tag) for tag in tags} - {None}
    args = ["import", *(arg for change in changes for arg in ("-c", change)), "-", tags[0]]
    docker(*args, input_bytes=_tar(entries), timeout_s=600)
    for tag in tags[1:]:
        docker("tag", tags[0], tag, timeout_s=30)
    for old in sorted(str(i) for i in previous if i != _image_id(tags[0])):
        # A same-content build that lost all its tags to this one (a concurrent or forced
        # build); removed unless a container still uses it.
        done = docker("image", "inspect", "--format", "{{len .RepoTags}}", old, check=False)
        if done.stdout.decode().strip() == "0":
            docker("image", "rm", old, check=False, timeout_s=60)
    if labels is None:
        _remove_replaced(content)
    _log(f"built {tags[0]} ({_image_id(tags[0])})", log)
    return tags[0]


def ensure_python_image(*, force_build: bool = False, log: bool = True) -> str:
    """The image to run our components from: ``REDIS_LAB_PYTHON_IMAGE``, else the local build."""
    chosen = os.environ.get(IMAGE_ENV)
    if chosen:
        if not image_exists(chosen):
            raise ContainerError(
                f"{IMAGE_ENV}={chosen} is not a local image "
                "(build it with compose/python.Dockerfile, or unset it)"
            )
        return chosen
    return build_python_image(force=force_build, log=log)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m labkit.realredis.pyimage``: print the image to use, building it if needed."""
    parser = argparse.ArgumentParser(prog="python -m labkit.realredis.pyimage", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild the image")
    args = parser.parse_args(argv)
    try:
        ref = ensure_python_image(force_build=args.force)
    except ContainerError as exc:
        print(f"pyimage: {exc}", file=sys.stderr)
        return 1
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
