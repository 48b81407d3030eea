"""Fixtures for the container tests: a Docker engine, the images, a ContainerLab.

No engine: with ``CI=true`` the tests fail (CI must run them); elsewhere they skip and say
how to get one. The images are found or built once per session (see
:mod:`labkit.realredis.images` and :mod:`labkit.realredis.pyimage`); they are cached build
products, which the tests leave in place. A test that asks for ``python_image`` gets a
``container_lab`` that runs our components from it.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from labkit.realredis.containers import ContainerLab, configure_testcontainers
from labkit.realredis.dockercli import ContainerError, compose_command, engine_version
from labkit.realredis.images import ensure_redis_image
from labkit.realredis.process import Kind
from labkit.realredis.pyimage import ensure_python_image

ENABLE = (
    "Start one with `sudo scripts/ensure-docker.sh` (or `sudo make docker`): it installs "
    "docker.io and docker-compose when missing and starts dockerd."
)

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the container tests must run). {ENABLE}", pytrace=False)
    pytest.skip(f"{reason}: container tests skipped. {ENABLE}")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The engine's version; fails (CI) or skips (elsewhere) when no engine answers."""
    version = engine_version()
    if version is None:
        _unavailable("no Docker engine answers `docker info`")
    assert version is not None
    configure_testcontainers()
    return version


@pytest.fixture(autouse=True)
def _needs_docker(docker_engine: str) -> None:
    """Every test here needs the engine, even one that asks for no other fixture."""


@pytest.fixture(scope="session")
def redis_image(docker_engine: str) -> str:
    """The Redis image reference, built once per session when no official image is at hand."""
    try:
        return ensure_redis_image()
    except ContainerError as exc:
        pytest.fail(f"cannot get a Redis image: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def python_image(docker_engine: str) -> str:
    """The image of our components, built once per session (cached by content)."""
    try:
        return ensure_python_image()
    except ContainerError as exc:
        pytest.fail(f"cannot build the Python image: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def compose(docker_engine: str) -> list[str]:
    """The compose command: Debian's ``docker-compose`` (v1.29) or ``docker compose``."""
    command = compose_command()
    if command is None:
        _unavailable("neither docker-compose nor `docker compose` is installed")
    assert command is not None
    return command


@pytest.fixture
def container_lab(redis_image: str, request: pytest.FixtureRequest) -> Iterator[ContainerLab]:
    """A :class:`ContainerLab`; afterwards nothing with its run label may be left."""
    ours = (
        request.getfixturevalue("python_image") if "python_image" in request.fixturenames else None
    )
    lab = ContainerLab(redis_image, python_image=ours)
    try:
        with lab:
            yield lab
            report = request.node.stash.get(_CALL_REPORT, None)
            if report is not None and report.failed:
                for node in lab.containers:
                    request.node.add_report_section(
                        "teardown", f"log of {node.name} ({node.address})", node.log_tail(40)
                    )
            tilted = [
                n.name for n in lab.containers if n.kind is Kind.SENTINEL and "+tilt" in n.logs()
            ]
            if tilted:
                pytest.fail(
                    f"a Sentinel entered TILT ({', '.join(tilted)}): the machine starved it",
                    pytrace=False,
                )
    finally:
        left = lab.leftovers()
        assert not left, f"the lab left {left.describe()}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report
