"""The Python image: cached by content, small, runs our components; test images go away."""

from __future__ import annotations

import os

import pytest

from labkit.realredis import reaper
from labkit.realredis.dockercli import OWNER_LABEL, RUN_LABEL, docker, leftovers
from labkit.realredis.images import HASH_LABEL
from labkit.realredis.pyimage import (
    IMAGE_ENV,
    PYTHON_REPO,
    STABLE_TAG,
    build_python_image,
    project_version,
)

pytestmark = pytest.mark.containers

MAX_SIZE_MB = 120  # the build is about 60 MB; a much larger one took in something it should not

CHECK = """
import os, sys
import hiredis, redis, sentinel_lab.app, redis_raft.driver.main, labkit.realredis.reaper
from labkit.realredis.binaries import find_binaries
assert sys.prefix == "/usr/local", sys.prefix
assert not any("site-packages" in p for p in sys.path), sys.path
assert not os.path.exists(os.path.join(sys.prefix, "lib", "python3.11", "site-packages"))
assert callable(labkit.realredis.reaper.child_preexec())  # ctypes and libffi are there
print(find_binaries().version_text, redis.__version__, sys.version.split()[0])
"""


def _image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()


def test_python_image_is_cached_by_content(python_image: str) -> None:
    if os.environ.get(IMAGE_ENV):
        pytest.skip(f"{IMAGE_ENV}={python_image} is used; no local build to check")
    assert python_image.startswith(f"{PYTHON_REPO}:{project_version()}-")
    # The session's image, or a newer one if the code changed since the session began.
    current = build_python_image(log=False)
    before = _image_id(current)
    assert build_python_image(log=False) == current  # nothing changed: no new build
    assert _image_id(current) == before
    for tag in (STABLE_TAG, f"{PYTHON_REPO}:{project_version()}"):
        assert _image_id(tag) == before, f"{tag} does not name the latest build"
    fmt = '{{index .Config.Labels "' + HASH_LABEL + '"}}'
    content = docker("image", "inspect", "--format", fmt, current).stdout.decode().strip()
    assert current.endswith(content[:12])
    size = int(docker("image", "inspect", "--format", "{{.Size}}", current).stdout)
    print(f"\n{current}: {size / 1e6:.1f} MB")
    assert size < MAX_SIZE_MB * 1e6


def test_python_test_image_runs_our_components_and_is_removed(python_image: str) -> None:
    run_id = reaper.new_run_id()
    tag = f"redis-lab-test/python:{run_id}"
    labels = {RUN_LABEL: run_id, OWNER_LABEL: str(os.getpid())}
    run = ["run", "--rm", "--label", f"{RUN_LABEL}={run_id}"]
    try:
        assert build_python_image(tags=[tag], labels=labels, log=False) == tag
        assert leftovers(run_id).images
        out = docker(*run, tag, "-c", CHECK).stdout.decode().split()
        assert out[0] == "7.0.15" and out[2].startswith("3.11"), out
        help_text = docker(*run, tag, "-m", "redis_raft", "--help").stdout.decode()
        assert "--peers" in help_text
        cli = docker(*run, "--entrypoint", "redis-cli", tag, "--version").stdout.decode()
        assert cli.startswith("redis-cli 7.")
    finally:
        docker("image", "rm", "-f", tag, check=False)
    assert not leftovers(run_id), leftovers(run_id).describe()
