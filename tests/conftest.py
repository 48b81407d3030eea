"""Suite-wide options: ``--seed N`` replays one simulation run."""

from __future__ import annotations

import contextlib

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed",
        action="store",
        type=int,
        default=None,
        help="run the simulation tests with this one seed (replays a failing run)",
    )


@pytest.fixture
def replay_seed(request: pytest.FixtureRequest) -> int | None:
    """The seed given with ``--seed``, or None for the suite's fixed seed list."""
    value = request.config.getoption("seed")
    assert value is None or isinstance(value, int)
    return value


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any lab process started by this pytest is still alive at the end."""
    import os
    import signal

    from labkit.realredis.reaper import find_lab_processes

    if os.environ.get("CI") == "true":  # in CI nothing may be skipped silently
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = reporter.stats.get("skipped", []) if reporter is not None else []
        if skipped:
            names = "\n".join(f"  {r.nodeid}" for r in skipped)
            print(f"\nERROR: CI=true and {len(skipped)} test(s) were skipped:\n{names}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    mine = [p for p in find_lab_processes() if p.owner_pid == os.getpid()]
    if not mine:
        return
    for proc in mine:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    listing = "\n".join(f"  pid {p.pid}: {p.cmdline}" for p in mine)
    print(f"\nERROR: the test run left {len(mine)} lab process(es) running:\n{listing}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
