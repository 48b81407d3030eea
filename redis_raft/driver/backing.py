"""The backing redis-server of a node: one the node starts and owns, or one given to it.

``--data-server auto`` starts a ``redis-server`` on a free loopback port in
``<dir>/redis`` with persistence off (``save ""``, ``appendonly no``); it dies with the
node (``PR_SET_PDEATHSIG`` and the node's process group) and carries the lab's run id,
so ``redis-lab cleanup`` finds leftovers. Its data is volatile by design: on every
start the node writes its latest snapshot there as ``dump.rdb`` and the server loads
it, then the node replays its log after the snapshot. Installing a snapshot received
from the leader restarts the server on the new ``dump.rdb`` (no ``DEBUG RELOAD``).

``--data-server HOST:PORT`` uses a server the node does not own. Its data may outlive
the node: the applied index stored in it says which entries to skip after a restart.
Installing a snapshot there loads the RDB into a temporary private redis-server and
copies every key with ``DUMP``/``RESTORE ... ABSTTL`` (the applied index last).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from labkit.realredis.errors import RealRedisError
from labkit.realredis.ports import free_port
from labkit.realredis.process import RedisProcess
from labkit.resp.frames import Array, BulkString, Integer, Map, SimpleError
from redis_raft.driver.respclient import LinkError, RespClient
from redis_raft.errors import RaftError

__all__ = ["APPLIED_KEY", "BackingError", "BackingServer", "copy_rdb_into"]

APPLIED_KEY = b"__raft_applied_index"
"""The key holding the index of the last log entry applied to a backing server."""


class BackingError(RaftError):
    """The backing redis-server cannot be started, reached or loaded."""


class BackingServer:
    """Where the node's state machine lives; ``owned`` when the node started it."""

    def __init__(self, host: str, port: int, *, owned_dir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.owned_dir = owned_dir
        self._proc: RedisProcess | None = None

    @property
    def owned(self) -> bool:
        return self.owned_dir is not None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def external(cls, spec: str) -> BackingServer:
        host, _, port = spec.rpartition(":")
        return cls(host, int(port))

    @classmethod
    def auto(cls, node_dir: Path, host: str = "127.0.0.1") -> BackingServer:
        return cls(host, free_port(host), owned_dir=node_dir / "redis")

    def start(self, rdb: bytes | None) -> None:
        """Start the owned server, loading ``rdb`` (or nothing). Blocks until it answers."""
        assert self.owned_dir is not None
        self.owned_dir.mkdir(parents=True, exist_ok=True)
        dump = self.owned_dir / "dump.rdb"
        if rdb:
            tmp = dump.with_suffix(".tmp")
            tmp.write_bytes(rdb)
            os.replace(tmp, dump)
        else:
            dump.unlink(missing_ok=True)
        if self._proc is None:
            self._proc = RedisProcess.owned(
                "redis-raft", "backing", self.owned_dir, self.host, self.port
            )
        try:
            self._proc.start(ready_timeout_s=30.0)
        except RealRedisError as exc:
            raise BackingError(f"the backing redis-server did not start: {exc}") from None

    def stop(self) -> None:
        """Kill the owned server (its data is volatile anyway)."""
        if self._proc is not None:
            self._proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def rdb_path(self, client: RespClient) -> Path:
        """Where ``SAVE`` writes on this server (``CONFIG GET dir`` + ``dbfilename``)."""
        if self.owned_dir is not None:
            return self.owned_dir / "dump.rdb"
        parts: list[str] = []
        for name in (b"dir", b"dbfilename"):
            reply = await client.call(b"CONFIG", b"GET", name)
            value = reply.get(name) if isinstance(reply, Map) else None  # RESP3
            if isinstance(reply, Array) and len(reply.items) == 2:
                value = reply.items[1]
            if not isinstance(value, BulkString):
                raise BackingError(f"CONFIG GET {name.decode()} answered {reply!r}")
            parts.append(value.text)
        return Path(parts[0]) / parts[1]


async def _expect_ok(client: RespClient, *args: bytes) -> None:
    reply = await client.call(*args, timeout_s=60.0)
    if isinstance(reply, SimpleError):
        raise BackingError(f"{b' '.join(args[:2]).decode()} failed: {reply.text}")


async def copy_rdb_into(target: RespClient, rdb: bytes, *, applied_index: int) -> int:
    """Replace the data of ``target`` with the RDB's (see the module docstring).

    Returns the number of keys copied. The applied index is written last, so a crash
    in the middle leaves an index of 0 and the copy is done again.
    """
    workdir = Path(tempfile.mkdtemp(prefix="redis-raft-restore-"))
    (workdir / "dump.rdb").write_bytes(rdb)
    helper = RedisProcess.owned("redis-raft", "restore", workdir, "127.0.0.1", free_port())
    copied = 0
    try:
        try:
            await asyncio.to_thread(helper.start, ready_timeout_s=60.0)
        except RealRedisError as exc:
            raise BackingError(f"cannot load the snapshot into a helper server: {exc}") from None
        source = await RespClient.connect(helper.host, helper.port)
        try:
            await _expect_ok(target, b"FLUSHALL")
            cursor = b"0"
            while True:
                reply = await source.call(b"SCAN", cursor, b"COUNT", b"500")
                if not isinstance(reply, Array) or len(reply.items) != 2:
                    raise BackingError(f"SCAN answered {reply!r}")
                head, keys = reply.items
                assert isinstance(head, BulkString) and isinstance(keys, Array)
                cursor = head.value
                names = [k.value for k in keys.items if isinstance(k, BulkString)]
                names = [k for k in names if k != APPLIED_KEY]
                dumps = await source.call_many(
                    [[b"DUMP", k] for k in names] + [[b"PEXPIRETIME", k] for k in names]
                )
                restores: list[list[bytes | str | int]] = []
                for key, payload, expires in zip(
                    names, dumps[: len(names)], dumps[len(names) :], strict=True
                ):
                    if not isinstance(payload, BulkString):
                        continue  # expired in between
                    when = expires.value if isinstance(expires, Integer) else -1
                    ttl = when if when > 0 else 0
                    restores.append([b"RESTORE", key, ttl, payload.value, b"REPLACE", b"ABSTTL"])
                for reply in await target.call_many(restores, timeout_s=60.0):
                    if isinstance(reply, SimpleError):
                        raise BackingError(f"RESTORE failed: {reply.text}")
                copied += len(restores)
                if cursor == b"0":
                    break
            await _expect_ok(target, b"SET", APPLIED_KEY, b"%d" % applied_index)
        finally:
            source.close()
    except LinkError as exc:
        raise BackingError(f"copying the snapshot failed: {exc}") from None
    finally:
        await asyncio.to_thread(helper.kill)
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    return copied
