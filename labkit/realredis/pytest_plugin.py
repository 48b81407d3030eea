"""pytest fixtures for real Redis: ``redis_lab`` gives a :class:`Lab` that is always torn down.

Installed as a pytest plugin (entry point ``redis_lab``), so any project that installs
this package can use the fixture. On a failing test the log tails of every process are
attached to the report. A real Sentinel that logged ``+tilt`` fails the test: a starved
CPU is a broken test, not a pass.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from labkit.realredis.lab import Lab
from labkit.realredis.process import Kind

__all__ = ["redis_lab"]

_REPORT_KEY = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_REPORT_KEY] = report
    return report


@pytest.fixture
def redis_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A :class:`Lab` in a temporary folder; every process in it is killed afterwards."""
    lab = Lab()
    try:
        yield lab
        report = request.node.stash.get(_REPORT_KEY, None)
        if report is not None and report.failed:
            for proc in lab.processes:
                request.node.add_report_section(
                    "teardown", f"log of {proc.name} ({proc.address})", proc.log_tail(40)
                )
        tilted = [
            proc.name
            for proc in lab.processes
            if proc.kind is Kind.SENTINEL and "+tilt" in proc.log_text()
        ]
        if tilted:
            pytest.fail(
                f"real Sentinel entered TILT ({', '.join(tilted)}): the machine starved it, "
                "so its timings mean nothing",
                pytrace=False,
            )
    finally:
        lab.close()
