"""The state every part of the core works on, and the helpers that produce actions.

:class:`Context` holds the sentinel's identity, epochs, TILT state, the instance table
and the action buffer of the step under way. The behaviour lives in small modules
(``table``, ``monitor``, ``discovery``, ``election``, ``failover``) as functions of a
``Context``; :class:`sentinel_lab.core.sentinel.SentinelCore` ties them together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from labkit.actions import Action, Emit, Persist, RedisArg, RedisCommand, Send
from labkit.events import Event
from labkit.timeline.redislog import split_message
from sentinel_lab.core.config import MasterConfig, Timing
from sentinel_lab.core.instances import Instance, Master, Peer, Replica
from sentinel_lab.core.quorum import election_winner
from sentinel_lab.core.records import KnownReplica, KnownSentinel, MasterRecord, SentinelState
from sentinel_lab.core.scripts import ScriptQueue
from sentinel_lab.core.simfailure import SimFailure, crash_action

__all__ = ["NOTICE", "VERBOSE", "WARNING", "Context", "instance_text"]

WARNING = "#"
NOTICE = "*"
VERBOSE = "-"

_NS_PER_MS = 1_000_000


def instance_text(item: Instance | Peer, master: Master | None) -> str:
    """Redis's ``%@``: ``<type> <name> <ip> <port>[ @ <master> <ip> <port>]``."""
    if isinstance(item, Master):
        return f"master {item.name} {item.host} {item.port}"
    if isinstance(item, Peer):
        head = f"sentinel {item.runid} {item.host} {item.port}"
    else:
        assert isinstance(item, Replica)
        head = f"slave {item.name} {item.host} {item.port}"
    assert master is not None
    return f"{head} @ {master.name} {master.host} {master.port}"


@dataclass(slots=True)
class _Clock:
    now_ms: int = 0
    previous_ms: int | None = None


class Context:
    """Identity, epochs, TILT, the instance table and the action buffer."""

    def __init__(
        self,
        myid: str,
        current_epoch: int,
        announce: tuple[str, int],
        *,
        timing: Timing,
        rng: random.Random,
        source: str,
    ) -> None:
        self.myid = myid
        self.current_epoch = current_epoch
        self.announce_ip, self.announce_port = announce
        self.timing = timing
        self.rng = rng
        self.source = source
        self.masters: dict[str, Master] = {}
        self.tilt = False
        self.tilt_start_ms = 0
        self.clock = _Clock()
        self.out: list[Action] = []
        self.scripts = ScriptQueue()
        self.early_switch = False
        """Not Redis: report the promoted replica to clients once promotion is confirmed
        (see :mod:`sentinel_lab.core.failover`). Off by default."""
        self.simfailure_flags = SimFailure.NONE
        """SENTINEL SIMULATE-FAILURE (see :mod:`sentinel_lab.core.simfailure`)."""

    @property
    def now(self) -> int:
        """The time of the step under way."""
        return self.clock.now_ms

    # -- actions ---------------------------------------------------------------------
    def emit(
        self,
        level: str,
        name: str,
        item: Instance | Peer | None,
        details: str = "",
        master: Master | None = None,
        *,
        about: Master | None = None,
    ) -> None:
        """Report an event the way ``sentinelEvent`` formats it.

        ``about`` is the master an event without an instance part concerns (Redis passes
        it for ``+new-epoch``, ``+vote-for-leader`` and ``+switch-master``): warning-level
        events about a master run its ``notification-script``.
        """
        parts = [name]
        if item is not None:
            parts.append(instance_text(item, master))
        if details:
            parts.append(details)
        ev_name, instance, rest = split_message(" ".join(parts))
        owner = item if isinstance(item, Master) else master if item is not None else about
        if level == WARNING and owner is not None and owner.config.notification_script:
            self.scripts.schedule((owner.config.notification_script, name, " ".join(parts[1:])))
        self.out.append(
            Emit(
                Event(
                    source=self.source,
                    name=ev_name,
                    wall_ns=self.now * _NS_PER_MS,
                    instance=instance,
                    details=rest,
                    mono_ns=self.now * _NS_PER_MS,
                    level=level,
                    role="X",
                )
            )
        )

    def command(self, target: str, *args: RedisArg) -> None:
        """Run a command on a master or replica."""
        self.out.append(RedisCommand(target, tuple(args)))

    def send(self, to: str, message: object) -> None:
        """Send a message to another sentinel (``host:port``)."""
        self.out.append(Send(to, message))

    def simulated_crash(self, flag: SimFailure, point: str) -> bool:
        """If ``flag`` is set, ask the driver to crash here (``sentinelSimFailureCrash``);
        True if it was, and the caller goes no further."""
        action = crash_action(self.simfailure_flags, flag, point)
        if action is None:
            return False
        self.out.append(action)
        return True

    def flush_config(self) -> None:
        """Redis's ``sentinelFlushConfig``: persist a full snapshot, synced."""
        self.out.append(Persist(self.snapshot()))

    # -- the two rules a planted bug may break (see sentinel_lab.sim_scenario) ------------
    def may_grant_vote(self, leader_epoch: int, req_epoch: int) -> bool:
        """Redis's vote rule: our last vote is older and our epoch is not newer."""
        return leader_epoch < req_epoch and self.current_epoch <= req_epoch

    def leader_from_votes(self, counts: dict[str, int], voters: int, quorum: int) -> str | None:
        """The winner: a majority of ``voters`` and at least ``quorum`` votes."""
        return election_winner(counts, voters, quorum)

    # -- durable state -----------------------------------------------------------------
    def snapshot(self) -> SentinelState:
        """What a config rewrite would write now."""
        records = []
        for master in self.masters.values():
            host, port = master.current_address()
            replicas = []
            for replica in master.replicas.values():
                r_host, r_port = replica.host, replica.port
                if (r_host, r_port) == (host, port):
                    r_host, r_port = master.host, master.port
                replicas.append(KnownReplica(r_host, r_port))
            peers = tuple(KnownSentinel(p.host, p.port, p.runid) for p in master.sentinels.values())
            config = master.config
            if (config.host, config.port) != (host, port):
                config = _with_address(config, host, port)
            records.append(
                MasterRecord(
                    config, master.config_epoch, master.leader_epoch, tuple(replicas), peers
                )
            )
        return SentinelState(
            self.myid, self.current_epoch, tuple(records), self.announce_ip, self.announce_port
        )

    def set_epoch(self, epoch: int, master: Master | None) -> None:
        """Adopt a higher current epoch: persist, then ``+new-epoch``."""
        self.current_epoch = epoch
        self.flush_config()
        self.emit(WARNING, "+new-epoch", None, str(epoch), about=master)

    def client_reconfig(
        self, master: Master, role: str, old: tuple[str, int], new: tuple[str, int]
    ) -> None:
        """Queue the master's ``client-reconfig-script`` (``sentinelCallClientReconfScript``;
        the state is always ``start``)."""
        script = master.config.client_reconfig_script
        if script:
            argv = (script, master.name, role, "start", old[0], str(old[1]), new[0], str(new[1]))
            self.scripts.schedule(argv)


def _with_address(config: MasterConfig, host: str, port: int) -> MasterConfig:
    from dataclasses import replace

    return replace(config, host=host, port=port)
