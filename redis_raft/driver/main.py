"""Run one node process: check the flags, open the log, start the backing server, serve.

Exit status: 0 after SIGTERM/SIGINT or ``SHUTDOWN``; 2 for bad flags or a data folder
that belongs to another cluster or node (one line on stderr, no traceback); 1 when the
node cannot start or dies (a backing server that went away, a port in use).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import TextIO

from labkit.errors import LabError, UsageError
from labkit.resp.server import ServerConfig
from redis_raft.driver.backing import BackingServer, copy_rdb_into
from redis_raft.driver.failpoints import Failpoints
from redis_raft.driver.node import RaftNode
from redis_raft.driver.options import NodeOptions, add_arguments, options_from_args
from redis_raft.driver.respclient import LinkError
from redis_raft.errors import RaftError, StorageError
from redis_raft.statemachine import StateMachine
from redis_raft.storage import WriteAheadLog

__all__ = ["build_parser", "main", "run"]

PROG = "redis_raft"


def build_parser(prog: str = f"python -m {PROG}") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run one Raft node in front of a real redis-server."
    )
    add_arguments(parser)
    return parser


def open_wal(options: NodeOptions, failpoints: Failpoints) -> WriteAheadLog:
    def fsync(fd: int) -> None:
        failpoints.hit("before-fsync")
        os.fsync(fd)

    return WriteAheadLog.open(
        options.dir,
        cluster_id=options.cluster_id,
        node_id=options.node_id,
        fsync=options.fsync,
        fsync_hook=fsync,
    )


def run(args: argparse.Namespace) -> int:
    """Run a node from parsed flags; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    failpoints = Failpoints.from_env()
    try:
        options = options_from_args(args)
        wal = open_wal(options, failpoints)
    except (UsageError, StorageError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(options, wal, failpoints))
    except (RaftError, LabError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        wal.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


async def _open_state_machine(options: NodeOptions, wal: WriteAheadLog) -> StateMachine:
    snapshot = wal.snapshot
    if options.data_server == "auto":
        backing = BackingServer.auto(options.dir)
        backing.start(snapshot.data if snapshot is not None else None)
    else:
        backing = BackingServer.external(options.data_server)
    sm = StateMachine(backing)
    try:
        await sm.open()
    except LinkError as exc:
        backing.stop()
        raise RaftError(f"cannot use the data server {backing.address}: {exc}") from None
    if snapshot is not None and sm.floor < snapshot.meta.index:
        await copy_rdb_into(sm._conn(), snapshot.data, applied_index=snapshot.meta.index)
        sm.floor = sm.applied_in_redis = snapshot.meta.index
    return sm


async def _serve(options: NodeOptions, wal: WriteAheadLog, failpoints: Failpoints) -> None:
    from redis_raft.server import RaftServer

    sm = await _open_state_machine(options, wal)
    log_stream: TextIO = (
        open(options.logfile, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        if options.logfile
        else sys.stdout
    )
    events = open(options.dir / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    node = RaftNode(
        options, wal, sm, failpoints=failpoints, log_stream=log_stream, events_stream=events
    )
    if sm.floor > node.core.log.last_index:
        node.say(
            f"the backing server is at index {sm.floor}, past this node's log "
            f"({node.core.log.last_index}): was the log lost (fsync {options.fsync})?"
        )
    config = ServerConfig(host=options.bind, port=options.port, requirepass=options.requirepass)
    server = RaftServer(node, config)
    try:
        await server.start()
        await node.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        closed = loop.create_task(server.wait_closed())
        stopped = loop.create_task(stop.wait())
        await asyncio.wait([closed, stopped], return_when=asyncio.FIRST_COMPLETED)
        node.say("shutting down", level="*")
        for task in (closed, stopped):
            task.cancel()
    finally:
        await server.close()
        await node.close()
        await sm.close()
        sm.backing.stop()
        events.close()
        if log_stream is not sys.stdout:
            with contextlib.suppress(OSError):
                log_stream.close()
