"""One commit agent as its own process, over TCP, against a real redis-server shard.

The test plays the world (the control stream) and the coordinator (a TCP listener);
the agent is ``python -m commit_lab agent``, SIGKILLed and started again.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commit_lab.agent import AgentSpec, agent_argv
from commit_lab.control import decode_actions, decode_line, encode_line
from commit_lab.core.messages import Decided, Decision, Inquiry, Leg, Prepare, Prepared, Vote
from commit_lab.errors import CommitLabError
from commit_lab.procworld import AgentProcess, ProcessWorld
from commit_lab.shard import SHARD_DIRECTIVES, ShardStore
from commit_lab.wire import Frame, FrameReader, encode
from labkit.actions import Action, Persist, Send
from labkit.realredis import Lab
from labkit.realredis.ports import free_port
from labkit.realredis.topology import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.realredis


class World:
    """The control side: accepts the agent, answers every step with a go."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(15)
        self.conn: socket.socket | None = None
        self.buffer = b""
        self.steps: list[list[Action]] = []

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.getsockname()[:2]
        return str(host), int(port)

    def hello(self) -> dict[str, Any]:
        self.conn, _ = self.server.accept()
        self.buffer = b""
        line = self._line(15.0)
        assert line is not None and line["op"] == "hello"
        return line

    def _line(self, timeout_s: float) -> dict[str, Any] | None:
        assert self.conn is not None
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.conn.settimeout(left)
            try:
                data = self.conn.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return decode_line(line)

    def until(self, found: Callable[[list[Action]], bool], what: str) -> list[Action]:
        """Answer steps until one satisfies ``found``."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = self._line(deadline - time.monotonic())
            if line is None or line["op"] != "step":
                continue
            actions = decode_actions(line["actions"])
            self.steps.append(actions)
            assert self.conn is not None
            self.conn.sendall(encode_line({"op": "go"}))
            if found(actions):
                return actions
        raise AssertionError(f"no step with {what} within 10 s")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


class Coordinator:
    """A stand-in coordinator ``c``: reads the agent's frames, sends it frames."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.conns: list[socket.socket] = []
        self.frames: list[Frame] = []

    def receive(self, kind: type, what: str) -> Frame:
        reader = FrameReader()

        def arrived() -> bool:
            try:
                conn, _ = self.server.accept()
                conn.settimeout(0.2)
                self.conns.append(conn)
            except TimeoutError:
                pass
            for conn in self.conns:
                try:
                    self.frames += reader.feed(conn.recv(65536))
                except (TimeoutError, BlockingIOError):
                    continue
            return any(isinstance(f.message, kind) for f in self.frames)

        self.server.settimeout(0.05)
        wait_until(arrived, timeout_s=10, what=what)
        return next(f for f in self.frames if isinstance(f.message, kind))

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.server.close()


def _send(address: tuple[str, int], data: bytes) -> None:
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(data)


def _persisted(kind: type) -> Callable[[list[Action]], bool]:
    return lambda actions: any(
        isinstance(a, Persist) and isinstance(a.record, kind) for a in actions
    )


@pytest.mark.slow
def test_participant_agent_survives_sigkill_in_doubt_and_asks(
    redis_lab: Lab, tmp_path: Path
) -> None:
    proc = redis_lab.server("shard-p1", extra=list(SHARD_DIRECTIVES))
    store = ShardStore("p1", proc.client())
    store.seed({"A1": 100, "A2": 100, "A3": 100})
    world, coordinator = World(), Coordinator()
    listen = ("127.0.0.1", free_port(with_bus_port=False))
    spec = AgentSpec(
        node_id="p1",
        protocol="2pc",
        role="participant",
        store=proc.address,
        listen=listen,
        peers={"c": coordinator.server.getsockname()[:2]},
        control=world.address,
    )
    agent = AgentProcess("p1", list(agent_argv(spec)), tmp_path / "p1.log", redis_lab.run_id)
    try:
        agent.start()
        assert world.hello()["state"]["balances"] == {"A1": 100, "A2": 100, "A3": 100}
        _send(listen, b'{"from": "c", "to": "p1", "type": "Vote"}\n')  # garbage is refused
        legs = (Leg("A1", -20),)
        _send(listen, encode(Frame("c", "p1", Prepare("t1", "c", ("p1", "p2"), legs))))
        world.until(_persisted(Prepared), "the prepare persisted")
        vote = coordinator.receive(Vote, "p1's vote")
        assert vote.message == Vote("t1", True) and vote.sender == "p1"
        assert store.locks() == {"A1": "t1"}

        agent.kill()  # SIGKILL while in doubt: the lock and intent are in the shard
        assert world.conn is not None
        world.conn.close()
        agent.start()
        state = world.hello()["state"]
        assert state["pending"] == ["t1"] and state["locks"] == {"A1": "t1"}
        world.until(
            lambda actions: any(
                isinstance(a, Send) and isinstance(a.message, Inquiry) for a in actions
            ),
            "an inquiry from the restarted agent",
        )
        coordinator.receive(Inquiry, "the inquiry to reach the coordinator")
        _send(listen, encode(Frame("c", "p1", Decision("t1", False))))
        world.until(_persisted(Decided), "the abort persisted")
        assert store.locks() == {} and store.balances()["A1"] == 100
        assert agent.running
        assert "-bad-frame" in agent.log_path.read_text()
    finally:
        agent.kill()
        world.close()
        coordinator.close()
    assert not agent.running


def test_agent_exits_cleanly_when_its_shard_is_unreachable(tmp_path: Path) -> None:
    port = free_port(with_bus_port=False)  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "commit_lab", "agent", "--id", "p1", "--protocol", "2pc",
         "--shard", f"127.0.0.1:{port}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "commit_lab agent p1: cannot start" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "commit_lab", "agent", "--id", "p1", "--protocol", "2pc",
         "--shard", "127.0.0.1:99999"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--shard '127.0.0.1:99999': port 99999 is out of range" in (
        done.stderr
    )


def test_world_names_an_agent_that_cannot_start(redis_lab: Lab, tmp_path: Path) -> None:
    world = ProcessWorld(redis_lab, tmp_path, protocol="2pc")
    (tmp_path / "c.wal").write_text("garbage\n")
    world.add_coordinator("c", "c.wal")
    try:
        with pytest.raises(CommitLabError, match=r"agent c exited before reporting") as info:
            world.start()
        assert "c.wal:1: expected '<crc32 hex> <json>'" in str(info.value)
        assert "Traceback" not in str(info.value)
    finally:
        world.close()
    assert not any(n.agent is not None and n.agent.running for n in world.nodes.values())
