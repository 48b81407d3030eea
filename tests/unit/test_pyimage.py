"""The Python image's root filesystem, as assembled (no Docker needed)."""

from __future__ import annotations

import pytest

from labkit.realredis.pyimage import (
    APP_LIB,
    PYTHON_REPO,
    STABLE_TAG,
    ImageFile,
    python_image_tags,
    python_rootfs,
)

pytestmark = pytest.mark.realredis  # the Redis binaries go in too


@pytest.fixture(scope="module")
def rootfs() -> dict[str, ImageFile]:
    return {entry.path: entry for entry in python_rootfs()}


def test_tags_put_the_content_tag_first() -> None:
    tags = python_image_tags("0.1.0", "ab" * 16)
    assert tags == [f"{PYTHON_REPO}:0.1.0-abababababab", f"{PYTHON_REPO}:0.1.0", STABLE_TAG]


def test_interpreter_and_its_libraries_are_in(rootfs: dict[str, ImageFile]) -> None:
    assert rootfs["/usr/local/bin/python3.11"].source is not None
    assert rootfs["/usr/local/bin/python3"].link == "python3.11"
    assert rootfs["/usr/local/lib/python3.11/os.py"].mtime > 0  # keeps its .pyc valid
    assert any(path.endswith("/libpython3.11.so.1.0") for path in rootfs)
    assert any("ld-linux" in path for path in rootfs)
    assert any(path.endswith("/_ctypes.cpython-311-x86_64-linux-gnu.so") for path in rootfs)


def test_no_site_packages_tests_or_unused_parts(rootfs: dict[str, ImageFile]) -> None:
    stdlib = "/usr/local/lib/python3.11/"
    for part in ("site-packages", "test", "idlelib", "tkinter", "ensurepip", "lib2to3"):
        assert not any(p.startswith(f"{stdlib}{part}/") or p == stdlib + part for p in rootfs)
    assert not any(".opt-" in path for path in rootfs)
    assert not any(path.startswith(f"{stdlib}config-") for path in rootfs)
    assert not any("_tkinter" in path or "/_test" in path for path in rootfs)


def test_components_dependencies_and_redis_are_in(rootfs: dict[str, ImageFile]) -> None:
    for module in ("sentinel_lab/app.py", "redis_raft/driver/main.py", "redis/__init__.py"):
        assert rootfs[f"{APP_LIB}/{module}"].source is not None
    pyc = rootfs[f"{APP_LIB}/sentinel_lab/__pycache__/app.cpython-311.pyc"]
    assert pyc.pyc_of is not None and pyc.source_name == f"{APP_LIB}/sentinel_lab/app.py"
    assert any(path.startswith(f"{APP_LIB}/hiredis/hiredis.") for path in rootfs)
    assert any(path.startswith(f"{APP_LIB}/redis-") and ".dist-info/" in path for path in rootfs)
    assert not any(path.endswith(".pth") for path in rootfs)  # no editable link
    assert rootfs["/usr/bin/redis-server"].source is not None
    assert rootfs["/usr/bin/redis-cli"].source is not None
    assert rootfs["/tmp"].mode == 0o1777
