"""The Sentinel core: ``step``/``tick`` in, actions out (see ``labkit.core.Core``).

Inputs it handles:

* ``RedisReply(target, args, value)`` for the commands it sent (PING, INFO, SUBSCRIBE,
  PUBLISH, the SLAVEOF transaction); ``value`` as in :mod:`sentinel_lab.core.replies`;
* ``RedisPush(target, b"__sentinel__:hello", payload)`` from its subscriptions;
* ``Received(sender, message)`` from other sentinels (:mod:`sentinel_lab.core.messages`);
* ``ClientRequest(client, IsMasterDownRequest | FailoverRequest)``.

``tick(now_ms)`` is Redis's ``sentinelTimer``; drive it as Redis does, 10 to 19 times a
second, and also at :meth:`SentinelCore.next_deadline_ms`.

Where we react sooner than Redis (never to a different rule; each saves the wait for
the next timer run, 0-100 ms, on the way from the kill to the switch):

* an IS-MASTER-DOWN-BY-ADDR answer is acted on at once: the ODOWN check, the leader
  check of WAIT_START, and the first fast INFO round to the replicas of a master that
  just went ODOWN; Redis waits for its next timer run. Starting a failover (with its
  vote requests in the same step) stays with the timer, whose runs are out of phase
  between sentinels as in Redis, so one candidate usually asks first. The later failover states
  (selecting and promoting a replica) still move one per timer run, as in Redis, so
  that the replicas' INFO sent at ODOWN is in before one is chosen;
* the timer also runs at a master's replicas' fast INFO deadlines (:mod:`sentinel_lab.core.wakeup`);
* hellos with the new address go out as soon as the promotion is seen
  (:func:`sentinel_lab.core.commands.send_hellos_now`), not at the next timer run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from labkit.actions import Action, Reply
from labkit.core import ClientRequest, Input, Received, RedisPush, RedisReply
from sentinel_lab.core import admin, discovery, election, failover, monitor, query, wakeup
from sentinel_lab.core.config import HELLO_CHANNEL, MasterConfig, SentinelIdentity, Timing
from sentinel_lab.core.context import WARNING, Context
from sentinel_lab.core.errors import InfoFormatError, InvalidCoreConfigError
from sentinel_lab.core.info import parse_info
from sentinel_lab.core.instances import FailoverState, Instance, Link, Master, Peer
from sentinel_lab.core.messages import (
    FailoverRequest,
    HelloMessage,
    IsMasterDownReply,
    IsMasterDownRequest,
    MonitorRequest,
    PeerLinkError,
    RemoveRequest,
    ResetRequest,
    SentinelPing,
    SentinelPong,
    SetRequest,
)
from sentinel_lab.core.records import SentinelState
from sentinel_lab.core.replies import ErrorReply, LinkError
from sentinel_lab.core.scripts import ScriptJob
from sentinel_lab.core.selection import select_replica
from sentinel_lab.core.table import add_master, add_peer, add_replica, find_instance

__all__ = ["NO_SUCH_MASTER", "SentinelCore"]

NO_SUCH_MASTER = ErrorReply("ERR No such master with that name")
_HELLO_CHANNEL_BYTES = HELLO_CHANNEL.encode()


def _new_myid(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


class SentinelCore(Context):
    """One sentinel. Build it from its identity and masters, or from a snapshot."""

    def __init__(
        self,
        identity: SentinelIdentity,
        masters: Sequence[MasterConfig],
        rng: random.Random,
        *,
        timing: Timing | None = None,
        source: str | None = None,
    ) -> None:
        myid = identity.myid if identity.myid is not None else _new_myid(rng)
        address = (identity.announce_ip, identity.announce_port)
        super().__init__(
            myid,
            identity.current_epoch,
            address,
            timing=timing or Timing(),
            rng=rng,
            source=source or f"{identity.announce_ip}:{identity.announce_port}",
        )
        self.peer_links: dict[str, Link] = {}
        self._started = False
        self._restored = False
        for config in masters:
            if config.name in self.masters:
                raise InvalidCoreConfigError(f"duplicate master name {config.name!r}")
            add_master(self, config)

    @classmethod
    def from_state(
        cls,
        state: SentinelState,
        rng: random.Random,
        *,
        timing: Timing | None = None,
        source: str | None = None,
    ) -> SentinelCore:
        """A core resuming from a snapshot (e.g. a rewritten sentinel.conf)."""
        if state.announce_ip is None or state.announce_port is None:
            raise InvalidCoreConfigError("the snapshot has no announce address")
        identity = SentinelIdentity(state.announce_ip, state.announce_port, state.myid)
        core = cls(identity, [], rng, timing=timing, source=source)
        core.restore([state])
        return core

    # -- durable state -----------------------------------------------------------------
    def durable_state(self) -> tuple[SentinelState]:
        """One record: the full snapshot."""
        return (self.snapshot(),)

    def restore(self, durable_state: Sequence[object]) -> None:
        """Resume from the last snapshot among ``durable_state`` (none: a first start)."""
        states = [r for r in durable_state if isinstance(r, SentinelState)]
        if not states:
            return
        state = states[-1]
        self.myid = state.myid
        self.current_epoch = state.current_epoch
        if state.announce_ip is not None and state.announce_port is not None:
            self.announce_ip, self.announce_port = state.announce_ip, state.announce_port
        self.masters = {}
        self.peer_links = {}
        for record in state.masters:
            master = add_master(self, record.config)
            master.config_epoch = record.config_epoch
            master.leader_epoch = record.leader_epoch
            for known in record.known_replicas:
                add_replica(self, master, known.ip, known.port)
            for peer in record.known_sentinels:
                add_peer(self, master, peer.runid, peer.ip, peer.port, self.peer_links)
        self._restored = True

    # -- the core interface --------------------------------------------------------------
    def tick(self, now_ms: int) -> list[Action]:
        """One run of the Sentinel timer."""
        self._begin(now_ms)
        self._check_tilt()
        switch: Master | None = None
        for master in list(self.masters.values()):
            self._handle(master, master)
            for replica in list(master.replicas.values()):
                self._handle(replica, master)
            for peer in list(master.sentinels.values()):
                self._handle(peer, master)
            if master.failover_state == FailoverState.UPDATE_CONFIG:
                switch = master
        if switch is not None:
            failover.switch_to_promoted(self, switch, self.peer_links)
        return self._end()

    def step(self, event: Input, now_ms: int) -> list[Action]:
        """Handle one input."""
        self._begin(now_ms)
        if isinstance(event, RedisReply):
            self._on_redis_reply(event)
        elif isinstance(event, RedisPush):
            self._on_push(event)
        elif isinstance(event, Received):
            self._on_received(event.sender, event.message)
        elif isinstance(event, ClientRequest):
            self._on_request(event)
        return self._end()

    def next_deadline_ms(self, now_ms: int) -> int | None:
        """When the timer should also run, if before its next regular run: the next
        deadline after ``now_ms`` that a failover waits on (see
        :mod:`sentinel_lab.core.wakeup`); None if there is none."""
        return wakeup.next_deadline_ms(self, now_ms)

    # -- scripts (run by the driver) ----------------------------------------------------
    def scripts_due(self, now_ms: int) -> list[ScriptJob]:
        """Queued scripts to start now (marked running)."""
        return self.scripts.due(now_ms)

    def script_started(self, job_id: int, pid: int) -> None:
        """The driver started ``job_id`` as process ``pid``."""
        self.scripts.started(job_id, pid)

    def script_ended(self, job_id: int, status: int, signal: int, now_ms: int) -> list[Action]:
        """A script exited (``signal`` 0 if it was not killed): retried, or dropped with
        ``-script-error <path> <signal> <status>`` if it failed for good."""
        self._begin(now_ms)
        details = self.scripts.exited(job_id, status, signal, now_ms)
        if details is not None:
            self.emit(WARNING, "-script-error", None, details)
        return self._end()

    def scripts_timed_out(self, now_ms: int) -> tuple[list[ScriptJob], list[Action]]:
        """Running scripts past 60 s, to be killed (``-script-timeout <path> <pid>``)."""
        self._begin(now_ms)
        late = self.scripts.timed_out(now_ms)
        for job in late:
            self.emit(WARNING, "-script-timeout", None, f"{job.argv[0]} {job.pid}")
        return late, self._end()

    def pending_scripts(self) -> list[list[tuple[str, object]]]:
        """SENTINEL PENDING-SCRIPTS."""
        return self.scripts.pending(self.clock.now_ms)

    # -- queries (SENTINEL ...) ----------------------------------------------------------
    def masters_info(self) -> list[query.Fields]:
        """SENTINEL MASTERS."""
        return [query.fields_of(self, m) for m in self.masters.values()]

    def master_info(self, name: str) -> query.Fields | ErrorReply:
        """SENTINEL MASTER <name>."""
        master = self.masters.get(name)
        return NO_SUCH_MASTER if master is None else query.fields_of(self, master)

    def replicas_info(self, name: str) -> list[query.Fields] | ErrorReply:
        """SENTINEL REPLICAS <name> (and SLAVES)."""
        master = self.masters.get(name)
        if master is None:
            return NO_SUCH_MASTER
        return [query.fields_of(self, r) for r in master.replicas.values()]

    def sentinels_info(self, name: str) -> list[query.Fields] | ErrorReply:
        """SENTINEL SENTINELS <name>."""
        master = self.masters.get(name)
        if master is None:
            return NO_SUCH_MASTER
        return [query.fields_of(self, p) for p in master.sentinels.values()]

    def get_master_addr_by_name(self, name: str) -> tuple[str, str] | None:
        """SENTINEL GET-MASTER-ADDR-BY-NAME <name>: (ip, port) or None for nil."""
        return query.get_master_addr_by_name(self, name)

    def ckquorum(self, name: str) -> str | ErrorReply:
        """SENTINEL CKQUORUM <name>: a status text or an error reply."""
        master = self.masters.get(name)
        return NO_SUCH_MASTER if master is None else query.ckquorum(self, master)

    def my_id(self) -> str:
        """SENTINEL MYID."""
        return self.myid

    # -- internals -------------------------------------------------------------------------
    def _begin(self, now_ms: int) -> None:
        self.clock.now_ms = now_ms
        self.out = []
        if not self._started:
            self._start()

    def _end(self) -> list[Action]:
        out, self.out = self.out, []
        return out

    def _start(self) -> None:
        self._started = True
        now = self.now
        for master in self.masters.values():
            items: list[Instance | Peer] = [master, *master.replicas.values()]
            items += master.sentinels.values()
            for item in items:
                item.link.created_ms = now
                item.link.act_ping_ms = item.link.last_avail_ms = item.link.last_pong_ms = now
                item.last_pub_ms = now
                if isinstance(item, Instance):
                    item.role_reported_ms = now
                else:
                    item.last_hello_ms = item.last_master_down_reply_ms = now
            self.emit(WARNING, "+monitor", master, f"quorum {master.quorum}")
        if not self._restored:
            self.flush_config()

    def _check_tilt(self) -> None:
        now = self.now
        previous = self.clock.previous_ms
        if previous is not None:
            delta = now - previous
            if delta < 0 or delta > self.timing.tilt_trigger_ms:
                self.tilt = True
                self.tilt_start_ms = now
                self.emit(WARNING, "+tilt", None, "#tilt mode entered")
        self.clock.previous_ms = now

    def _handle(self, item: Instance | Peer, master: Master) -> None:
        monitor.reconnect(self, item)
        monitor.send_periodic(self, item, master)
        if self.tilt:
            if self.now - self.tilt_start_ms < self.timing.tilt_period_ms:
                return
            self.tilt = False
            self.emit(WARNING, "-tilt", None, "#tilt mode exited")
        monitor.check_sdown(self, item, master)
        if item is master:
            election.check_odown(self, master)
            if failover.start_failover_if_needed(self, master):
                election.ask_master_state(self, master, forced=True)
            failover.run_state_machine(self, master, self.peer_links)
            election.ask_master_state(self, master, forced=False)

    def _act_on_answer(self, master: Master) -> None:
        """What the next timer run would do about ``master`` after a sentinel's answer,
        done now (see the module docstring): ODOWN, the leader check, and the replicas'
        INFO once ODOWN begins."""
        if self.tilt:
            return
        was_odown = master.o_down
        election.check_odown(self, master)
        # Starting a failover waits for the timer, as in Redis: the sentinels' timers run
        # out of phase (hz 10-19), so the first to start asks the others for their votes
        # before they start too, and having voted they stay out (+vote-for-leader sets
        # their own failover_start_time). Starting on the answer put two candidates in
        # one epoch in about a third of our failovers, against rarely in Redis's.
        if master.failover_state == FailoverState.WAIT_START:
            failover.run_state_machine(self, master, self.peer_links)
        if master.o_down and not was_odown:
            for replica in list(master.replicas.values()):
                monitor.send_periodic(self, replica, master)

    def _on_redis_reply(self, event: RedisReply) -> None:
        found = find_instance(self, event.target)
        if not found or not event.args:
            return
        command = (
            str(event.args[0]).upper()
            if not isinstance(event.args[0], bytes)
            else (event.args[0].decode(errors="replace").upper())
        )
        value = event.value
        for master, item in found:
            link = item.link
            if command == "PING":
                monitor.on_ping_reply(self, link, value)
                continue
            link.pending_commands = max(0, link.pending_commands - 1)
            if isinstance(value, LinkError):
                link.close()
                continue
            if command == "INFO" and not isinstance(value, ErrorReply):
                try:
                    report = parse_info(value)
                except InfoFormatError:
                    continue
                monitor.on_info(self, master, item, report)
            elif command == "SUBSCRIBE":
                link.pubsub_activity_ms = self.now
            elif command == "PUBLISH" and isinstance(value, ErrorReply):
                item.last_pub_ms = 0  # retry at the next timer run, as Redis does

    def _on_push(self, event: RedisPush) -> None:
        for _, item in find_instance(self, event.target):
            item.link.pubsub_activity_ms = self.now
        if event.channel == _HELLO_CHANNEL_BYTES:
            discovery.on_hello_payload(self, event.message, self.peer_links)

    def _on_received(self, sender: str, message: object) -> None:
        if isinstance(message, IsMasterDownRequest):
            self.send(sender, election.answer_is_master_down(self, message))
        elif isinstance(message, IsMasterDownReply):
            master = election.on_is_master_down_reply(self, sender, message)
            if master is not None:
                self._act_on_answer(master)
        elif isinstance(message, HelloMessage):
            discovery.on_hello_payload(self, message.payload, self.peer_links)
        elif isinstance(message, SentinelPing):
            self.send(sender, SentinelPong())
        elif isinstance(message, SentinelPong):
            link = self.peer_links.get(sender)
            if link is not None:
                monitor.on_ping_reply(self, link, message.payload)
        elif isinstance(message, PeerLinkError):
            link = self.peer_links.get(sender)
            if link is not None:
                link.close()

    def _on_request(self, event: ClientRequest) -> None:
        request = event.request
        if isinstance(request, IsMasterDownRequest):
            answer = election.answer_is_master_down(self, request)
            self.out.append(Reply(event.client, answer))
        elif isinstance(request, FailoverRequest):
            self.out.append(Reply(event.client, self._failover_command(request.master_name)))
        elif isinstance(request, MonitorRequest):
            self.out.append(Reply(event.client, admin.monitor(self, request)))
        elif isinstance(request, RemoveRequest):
            removed = admin.remove(self, request.master_name, self.peer_links)
            self.out.append(Reply(event.client, removed))
        elif isinstance(request, ResetRequest):
            count = admin.reset(self, request.pattern, self.peer_links)
            self.out.append(Reply(event.client, count))
        elif isinstance(request, SetRequest):
            self.out.append(Reply(event.client, admin.set_options(self, request)))
        else:
            self.out.append(Reply(event.client, ErrorReply("ERR unknown request")))

    def _failover_command(self, name: str) -> str | ErrorReply:
        master = self.masters.get(name)
        if master is None:
            return NO_SUCH_MASTER
        if master.failover_in_progress:
            return ErrorReply("INPROG Failover already in progress")
        if select_replica(master, self.now, self.timing) is None:
            return ErrorReply("NOGOODSLAVE No suitable replica to promote")
        failover.start_failover(self, master)
        master.force_failover = True
        return "OK"
