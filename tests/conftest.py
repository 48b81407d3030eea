"""Suite-wide options: ``--seed N`` replays one simulation run."""

from __future__ import annotations

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
