"""Replication between modelled Redis servers (see :mod:`labkit.sim.redis_model`).

A replica connects to its master when both can reach each other: the first contact
is a full sync (the dataset and offset are copied), then each round streams the
master's backlog past the replica's offset and records the replica's ack. A replica
that loses contact for ``repl_timeout_ms`` marks its link down; a master forgets a
replica that stops acking or follows another master.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence

from labkit.actions import RedisArg
from labkit.sim.redis_model import RedisModel, ReplicaLink, copy_data

__all__ = ["RedisFleet"]


class RedisFleet:
    """The modelled servers of one run, by ``host:port``, and replication between them."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.servers: dict[str, RedisModel] = {}

    def add(self, host: str, port: int) -> RedisModel:
        """Create a master at ``host:port`` and return it."""
        model = RedisModel.create(host, port, self._rng)
        self.servers[model.name] = model
        return model

    def __getitem__(self, name: str) -> RedisModel:
        return self.servers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.servers

    def crash(self, name: str) -> None:
        """Kill server ``name`` (commands to it are refused until ``restart``)."""
        self.servers[name].crash()

    def restart(self, name: str, now_ms: int) -> None:
        """Start a crashed server again (a new run id)."""
        server = self.servers[name]
        if not server.alive:
            server.restart(self._rng, now_ms)

    def pause(self, name: str, paused: bool = True) -> None:
        """SIGSTOP (``paused=True``) or SIGCONT a server: a paused one never answers."""
        server = self.servers[name]
        if server.alive:
            server.paused = paused

    def execute(self, name: str, args: Sequence[RedisArg], *, client: str, now_ms: int) -> object:
        """Run a command on server ``name``."""
        return self.servers[name].execute(args, client=client, now_ms=now_ms, rng=self._rng)

    def replicate(
        self, now_ms: int, reachable: Callable[[str, str], bool] = lambda a, b: True
    ) -> None:
        """One replication round: connect, full-sync, stream writes and acks, time out links.

        ``reachable(a, b)`` says whether server ``a`` can reach server ``b`` now.
        """
        for replica in self.servers.values():
            if replica.role != "slave" or not replica.alive or replica.paused:
                continue
            master = self.servers.get(f"{replica.master_host}:{replica.master_port}")
            if master is not None and not master.alive:
                master = None
            both_ways = (
                master is not None
                and not master.paused
                and reachable(replica.name, master.name)
                and reachable(master.name, replica.name)
            )
            if master is None or not both_ways:
                self._lose_contact(replica, master, now_ms)
                continue
            behind = bool(master.backlog) and replica.offset + 1 < master.backlog_first_offset()
            if not replica.master_link_up or replica.replid != master.replid or behind:
                self._full_sync(replica, master, now_ms)
            start = bisect.bisect_right(master.backlog, replica.offset, key=lambda e: e[0])
            for end, argv in master.backlog[start:]:
                replica.apply_replicated(argv, end)
            replica.master_last_io_ms = now_ms
            link = master.replicas.setdefault(replica.name, ReplicaLink(replica.host, replica.port))
            link.ack_offset, link.last_ack_ms = replica.offset, now_ms
        for master in self.servers.values():
            for name in list(master.replicas):
                other = self.servers.get(name)
                attached = (
                    other is not None
                    and other.alive
                    and other.role == "slave"
                    and other.master_host == master.host
                    and other.master_port == master.port
                )
                timed_out = now_ms - master.replicas[name].last_ack_ms > master.repl_timeout_ms
                if not attached or timed_out:
                    del master.replicas[name]

    def _lose_contact(self, replica: RedisModel, master: RedisModel | None, now_ms: int) -> None:
        if replica.master_link_up and (
            master is None or now_ms - replica.master_last_io_ms > replica.repl_timeout_ms
        ):
            replica.master_link_up = False
            replica.master_link_down_since_ms = now_ms

    @staticmethod
    def _full_sync(replica: RedisModel, master: RedisModel, now_ms: int) -> None:
        replica.data = copy_data(master.data)
        replica.offset = master.offset
        replica.replid, replica.replid2 = master.replid, master.replid2
        replica.second_repl_offset = master.second_repl_offset
        replica.backlog = []
        replica.master_link_up = True
        replica.master_last_io_ms = now_ms
