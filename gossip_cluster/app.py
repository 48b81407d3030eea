"""The node process: the CLUSTER command front, and the assembly of a node.

:class:`ClusterCommands` answers ``CLUSTER <subcommand>`` as Redis 7.0 does: the
subcommands that change the cluster (MEET, ADDSLOTS, ADDSLOTSRANGE, DELSLOTS,
DELSLOTSRANGE, FLUSHSLOTS, SETSLOT, BUMPEPOCH, FORGET, RESET, REPLICATE, SET-CONFIG-EPOCH,
FAILOVER) and NODES go through the core; INFO, SLOTS, SHARDS, LINKS, REPLICAS, MYID,
KEYSLOT, COUNT-FAILURE-REPORTS and SAVECONFIG are views of its node table
(COUNTKEYSINSLOT and GETKEYSINSLOT scan the backing server, see :mod:`.server`, which also
counts the keys that SETSLOT NODE, FLUSHSLOTS and RESET need). ``LAB-DATA-SERVER`` is ours:
the backing server's address, so that a MIGRATE from another node can go straight to it.

:func:`serve` runs a node: the backing server (started first, from the main thread, so
that it dies with the node), the driver (core + bus), then the client port, until
SIGTERM/SIGINT or SHUTDOWN.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from gossip_cluster.bus import Bus
from gossip_cluster.core import ClusterCore
from gossip_cluster.core.inputs import (
    AddSlots,
    BumpEpoch,
    ClusterCommand,
    CommandError,
    DelSlots,
    FlushSlots,
    Forget,
    Reset,
    SetSlot,
    Status,
)
from gossip_cluster.core.persist import node_line
from gossip_cluster.core.table import ClusterNode
from gossip_cluster.dataplane import CLUSTER_SLOTS, BackingServer, key_hash_slot
from gossip_cluster.driver import ClusterDriver, DriverSettings, write_nodes_conf
from gossip_cluster.errors import GossipClusterError
from gossip_cluster.nodes_conf import render_line
from gossip_cluster.server import ClientPort
from gossip_cluster.wire import SlotBitmap
from labkit.resp.frames import (
    OK,
    Array,
    Frame,
    Integer,
    Map,
    SimpleString,
    bulk,
    error,
    verbatim,
)

__all__ = ["ClusterCommands", "serve"]


class ClusterCommands:
    """``CLUSTER ...`` on one node; see the module docstring."""

    def __init__(self, driver: ClusterDriver) -> None:
        self.driver = driver
        self._keys_in_slot = 0
        self._db_keys = 0

    def __call__(self, args: list[bytes], keys_in_slot: int = 0, db_keys: int = 0) -> Frame:
        """``CLUSTER <args>`` (``args[0]`` is the subcommand) as Redis 7.0 answers it.

        ``keys_in_slot``: whether the backing server holds keys in the slot of a SETSLOT
        NODE; ``db_keys``: its DBSIZE (FLUSHSLOTS, RESET)."""
        self._keys_in_slot, self._db_keys = keys_in_slot, db_keys
        sub = args[0].decode("utf-8", "replace").lower()
        text = [a.decode("utf-8", "surrogateescape") for a in args]
        arity = CLUSTER_ARITY.get(sub)
        if arity is None:
            shown = text[0][:128].replace("\r", " ").replace("\n", " ")
            return error(f"ERR unknown subcommand '{shown}'. Try CLUSTER HELP.")
        argc = len(args) + 1
        if (arity > 0 and argc != arity) or (arity < 0 and argc < -arity):
            return error(f"ERR wrong number of arguments for 'cluster|{sub}' command")
        handler = getattr(self, "_cluster_" + sub.replace("-", "_"), None)
        if handler is not None:
            result: Frame = handler(text[1:])
            return result
        return self._via_core(text)

    def _via_core(self, text: list[str]) -> Frame:
        sub = text[0].lower()
        if (sub == "meet" and len(text) > 4) or (sub == "failover" and len(text) > 2):
            return error(
                f"ERR unknown subcommand or wrong number of arguments for '{text[0][:128]}'. "
                "Try CLUSTER HELP."
            )
        if sub == "addslotsrange" and len(text) % 2 == 0:
            return error("ERR wrong number of arguments for 'cluster|addslotsrange' command")
        if sub == "set-config-epoch" and not _is_int(text[1]):
            return error("ERR value is not an integer or out of range")
        return self._core_reply(ClusterCommand(tuple(text)))

    def _core_reply(self, request: object) -> Frame:
        value = self.driver.request(request)
        if isinstance(value, CommandError):
            return error(value.message)
        if isinstance(value, Status):
            return SimpleString(value.text.encode())
        if value == "OK":
            return OK
        if isinstance(value, str):
            return verbatim(value)
        return error(f"ERR unexpected reply {value!r}")

    def _cluster_addslots(self, rest: list[str]) -> Frame:
        slots: list[int] = []
        seen: set[int] = set()
        for item in rest:
            if not _is_int(item) or not 0 <= int(item) < CLUSTER_SLOTS:
                return error("ERR Invalid or out of range slot")
            slot = int(item)
            if slot in seen:
                return error(f"ERR Slot {slot} specified multiple times")
            seen.add(slot)
            slots.append(slot)
        owned = self.driver.core.table.assigned()
        for slot in slots:
            if owned >> slot & 1:
                return error(f"ERR Slot {slot} is already busy")
        ranges = SlotBitmap.from_ranges((s, s) for s in slots).ranges()
        return self._core_reply(AddSlots(tuple(ranges)))

    def _cluster_delslots(self, rest: list[str]) -> Frame:
        slots: list[int] = []
        for item in rest:
            if not _is_int(item) or not 0 <= int(item) < CLUSTER_SLOTS:
                return error("ERR Invalid or out of range slot")
            slots.append(int(item))
        return self._del_slots([(s, s) for s in slots])

    def _cluster_delslotsrange(self, rest: list[str]) -> Frame:
        if len(rest) % 2:
            return error("ERR wrong number of arguments for 'cluster|delslotsrange' command")
        ranges: list[tuple[int, int]] = []
        for first, last in zip(rest[::2], rest[1::2], strict=True):
            for item in (first, last):
                if not _is_int(item) or not 0 <= int(item) < CLUSTER_SLOTS:
                    return error("ERR Invalid or out of range slot")
            start, end = int(first), int(last)
            if start > end:
                return error(f"ERR start slot number {start} is greater than end slot number {end}")
            ranges.append((start, end))
        return self._del_slots(ranges)

    def _del_slots(self, ranges: list[tuple[int, int]]) -> Frame:
        """checkSlotAssignmentsOrReply's order: per slot, unassigned first, then repeated."""
        owned = self.driver.core.table.assigned()
        seen: set[int] = set()
        for first, last in ranges:
            for slot in range(first, last + 1):
                if not owned >> slot & 1:
                    return error(f"ERR Slot {slot} is already unassigned")
                if slot in seen:
                    return error(f"ERR Slot {slot} specified multiple times")
                seen.add(slot)
        return self._core_reply(DelSlots(tuple(SlotBitmap.from_ranges(ranges).ranges())))

    def _cluster_flushslots(self, rest: list[str]) -> Frame:
        return self._core_reply(FlushSlots(self._db_keys))

    def _cluster_setslot(self, rest: list[str]) -> Frame:
        slot = int(rest[0]) if _is_int(rest[0]) else -1
        action = rest[1].upper()
        if len(rest) != (2 if action == "STABLE" else 3):
            action = "?"
        node = rest[2] if len(rest) == 3 else ""
        return self._core_reply(SetSlot(slot, action, node, self._keys_in_slot))

    def _cluster_bumpepoch(self, rest: list[str]) -> Frame:
        return self._core_reply(BumpEpoch())

    def _cluster_forget(self, rest: list[str]) -> Frame:
        return self._core_reply(Forget(rest[0]))

    def _cluster_reset(self, rest: list[str]) -> Frame:
        if len(rest) > 1:
            return error(
                "ERR unknown subcommand or wrong number of arguments for 'reset'. Try CLUSTER HELP."
            )
        mode = rest[0].lower() if rest else "soft"
        if mode not in ("soft", "hard"):
            return error("ERR syntax error")
        return self._core_reply(Reset(mode == "hard", self._db_keys))

    def _cluster_lab_data_server(self, rest: list[str]) -> Frame:
        backing = self.driver.backing
        if backing is None:
            return error("ERR this node has no data server (--data-server none)")
        return bulk(backing.address)

    def _cluster_myid(self, rest: list[str]) -> Frame:
        return bulk(self.driver.core.name)

    def _cluster_keyslot(self, rest: list[str]) -> Frame:
        return Integer(key_hash_slot(rest[0].encode("utf-8", "surrogateescape")))

    def _cluster_saveconfig(self, rest: list[str]) -> Frame:
        try:
            write_nodes_conf(
                self.driver.settings.config_file, self.driver.core.nodes_conf(), sync=True
            )
        except OSError as exc:
            return error(f"ERR error saving the cluster node config: {exc}")
        return OK

    def _cluster_info(self, rest: list[str]) -> Frame:
        return verbatim(cluster_info_text(self.driver))

    def _cluster_slots(self, rest: list[str]) -> Frame:
        return cluster_slots_frame(self.driver.core)

    def _cluster_shards(self, rest: list[str]) -> Frame:
        return cluster_shards_frame(self.driver.core, self.driver.myself_offset())

    def _cluster_links(self, rest: list[str]) -> Frame:
        return cluster_links_frame(self.driver.core, self.driver.bus)

    def _cluster_replicas(self, rest: list[str]) -> Frame:
        node = self.driver.core.table.get(rest[0])
        if node is None:
            return error(f"ERR Unknown node {rest[0]}")
        if not node.is_master:
            return error("ERR The specified node is not a master")
        table = self.driver.core.table
        return Array(
            tuple(bulk(render_line(node_line(table, r))) for r in table.slaves_of(node.name))
        )

    _cluster_slaves = _cluster_replicas

    def _cluster_count_failure_reports(self, rest: list[str]) -> Frame:
        node = self.driver.core.table.get(rest[0])
        if node is None:
            return error(f"ERR Unknown node {rest[0]}")
        validity = self.driver.settings.cluster.fail_report_validity_ms
        now = self.driver.now()
        return Integer(sum(1 for t in node.fail_reports.values() if now - t <= validity))

    def _cluster_help(self, rest: list[str]) -> Frame:
        return Array(tuple(SimpleString(line.encode()) for line in HELP))


# -- views of the node table ----------------------------------------------------------------------
CLUSTER_ARITY = {
    "addslots": -3, "addslotsrange": -4, "bumpepoch": 2, "count-failure-reports": 3,
    "countkeysinslot": 3, "delslots": -3, "delslotsrange": -4, "failover": -2,
    "flushslots": 2, "forget": 3, "getkeysinslot": 4, "help": 2, "info": 2, "keyslot": 3,
    "lab-data-server": 2, "links": 2, "meet": -4, "myid": 2, "nodes": 2, "replicas": 3, "replicate": 3,
    "reset": -2, "saveconfig": 2, "set-config-epoch": 3, "setslot": -4, "shards": 2,
    "slaves": 3, "slots": 2,
}  # fmt: skip
"""Redis 7.0's CLUSTER subcommands and their arity (counting ``CLUSTER``)."""

HELP = (
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. gossip_cluster answers:",
    "ADDSLOTS, ADDSLOTSRANGE, BUMPEPOCH, COUNT-FAILURE-REPORTS, COUNTKEYSINSLOT, DELSLOTS,",
    "DELSLOTSRANGE, FAILOVER [FORCE|TAKEOVER], FLUSHSLOTS, FORGET, GETKEYSINSLOT, INFO, KEYSLOT,",
    "LINKS, MEET, MYID, NODES, REPLICAS, REPLICATE, RESET [HARD|SOFT], SAVECONFIG,",
    "SET-CONFIG-EPOCH, SETSLOT <slot> (IMPORTING <id>|MIGRATING <id>|STABLE|NODE <id>),",
    "SHARDS, SLAVES, SLOTS, HELP.",
    "LAB-DATA-SERVER (gossip_cluster only): the address of this node's backing redis-server.",
)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def cluster_info_text(driver: ClusterDriver) -> str:
    """CLUSTER INFO."""
    core = driver.core
    table = core.table
    me = core.myself
    ok = pfail = fail = 0
    for node in table.slot_masters():
        count = node.numslots
        if node.failed:
            fail += count
        elif node.pfail:
            pfail += count
        else:
            ok += count
    master = table.master_of(me) if me.is_slave else me
    lines = [
        f"cluster_state:{'ok' if driver.cluster_ok else 'fail'}",
        f"cluster_slots_assigned:{table.assigned().bit_count()}",
        f"cluster_slots_ok:{ok}",
        f"cluster_slots_pfail:{pfail}",
        f"cluster_slots_fail:{fail}",
        f"cluster_known_nodes:{len(table)}",
        f"cluster_size:{table.size()}",
        f"cluster_current_epoch:{core.current_epoch}",
        f"cluster_my_epoch:{(master or me).config_epoch}",
    ]
    for direction, counter in (("sent", driver.bus.sent), ("received", driver.bus.received)):
        for name in MESSAGE_NAMES:
            if counter[name]:
                lines.append(f"cluster_stats_messages_{name}_{direction}:{counter[name]}")
        lines.append(f"cluster_stats_messages_{direction}:{sum(counter.values())}")
    lines.append("total_cluster_links_buffer_limit_exceeded:0")
    return "\r\n".join(lines) + "\r\n"


MESSAGE_NAMES = (
    "ping", "pong", "meet", "fail", "publish", "publishshard", "auth-req", "auth-ack",
    "update", "mfstart", "module",
)  # fmt: skip


def _node_entry(node: ClusterNode) -> Frame:
    """addNodeToNodeReply: ip, port, id and a map of other endpoints (the hostname)."""
    extra = ((bulk("hostname"), bulk(node.hostname)),) if node.hostname else ()
    return Array((bulk(node.ip), Integer(node.port), bulk(node.name), Map(extra)))


def cluster_slots_frame(core: ClusterCore) -> Frame:
    """CLUSTER SLOTS: one entry per contiguous range, in slot order (7.0)."""
    table = core.table
    ranges: list[tuple[int, int, ClusterNode]] = []
    for node in table.slot_masters():
        ranges += [(a, b, node) for a, b in SlotBitmap(node.slots).ranges()]
    entries = []
    for first, last, node in sorted(ranges, key=lambda r: r[0]):
        replicas = [_node_entry(r) for r in table.slaves_of(node.name) if not r.failed]
        entries.append(Array((Integer(first), Integer(last), _node_entry(node), *replicas)))
    return Array(tuple(entries))


def cluster_shards_frame(core: ClusterCore, my_offset: int) -> Frame:
    """CLUSTER SHARDS: every master with its replicas, slots as start/end pairs."""
    table = core.table

    def details(node: ClusterNode) -> Frame:
        offset = my_offset if node is core.myself else node.repl_offset
        health = "fail" if node.failed else "loading" if node.is_slave and offset == 0 else "online"
        pairs: list[tuple[Frame, Frame]] = [
            (bulk("id"), bulk(node.name)),
            (bulk("port"), Integer(node.port)),
            (bulk("ip"), bulk(node.ip)),
            (bulk("endpoint"), bulk(node.ip)),
        ]
        if node.hostname:
            pairs.append((bulk("hostname"), bulk(node.hostname)))
        pairs += [
            (bulk("role"), bulk("master" if node.is_master else "replica")),
            (bulk("replication-offset"), Integer(offset)),
            (bulk("health"), bulk(health)),
        ]
        return Map(tuple(pairs))

    shards = []
    for node in table:
        if not node.is_master or node.in_handshake:
            continue
        slots = [Integer(x) for pair in SlotBitmap(node.slots).ranges() for x in pair]
        members = [node, *table.slaves_of(node.name)]
        shards.append(
            Map(
                (
                    (bulk("slots"), Array(tuple(slots))),
                    (bulk("nodes"), Array(tuple(details(n) for n in members))),
                )
            )
        )
    return Array(tuple(shards))


def cluster_links_frame(core: ClusterCore, bus: Bus) -> Frame:
    """CLUSTER LINKS: the outbound link of each node ("to") and known inbound ones ("from")."""
    out = []
    for node in core.table:
        for direction, name in (("to", node.link_address or None), ("from", node.inbound_link)):
            link = bus.links.get(name) if name else None
            if link is None:
                continue
            used = link.writer.transport.get_write_buffer_size() if link.writer is not None else 0
            out.append(
                Map(
                    (
                        (bulk("direction"), bulk(direction)),
                        (bulk("node"), bulk(node.name)),
                        (bulk("create-time"), Integer(node.link_ctime or 0)),
                        (bulk("events"), bulk("r" if direction == "from" else "rw")),
                        (bulk("send-buffer-allocated"), Integer(used)),
                        (bulk("send-buffer-used"), Integer(used)),
                    )
                )
            )
    return Array(tuple(out))


# -- running a node -----------------------------------------------------------------------------
async def serve(
    settings: DriverSettings,
    backing: BackingServer | None,
    *,
    log_stream: TextIO,
    events_stream: TextIO | None,
) -> None:
    """Run one node until SIGTERM/SIGINT or SHUTDOWN (the backing server is already up)."""
    driver = ClusterDriver(
        settings, backing=backing, log_stream=log_stream, events_stream=events_stream
    )
    stop = asyncio.Event()
    port = ClientPort(
        driver,
        backing,
        host=settings.bind,
        port=settings.port,
        cluster_command=ClusterCommands(driver),
        on_shutdown=stop.set,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    lost: list[str] = []

    async def watch_backing() -> None:
        """An owned data server that exits takes the node down (its data is gone)."""
        while backing is not None:
            await asyncio.sleep(0.5)
            if not backing.running:
                lost.append(f"the data server {backing.address} exited")
                driver.say(f"The data server {backing.address} exited: shutting down", "#")
                stop.set()
                return

    watchdog = loop.create_task(watch_backing())
    try:
        await driver.start()
        await port.start()
        driver.say(
            f"Ready to accept connections tcp on {settings.bind}:{settings.port} "
            f"(cluster bus {settings.cport})",
            "*",
        )
        await stop.wait()
        if not lost:
            driver.say("User requested shutdown...", "#")
    finally:
        watchdog.cancel()
        await port.close()
        await driver.close()
        with contextlib.suppress(OSError, ValueError):
            log_stream.flush()
        if log_stream is not sys.stdout:
            with contextlib.suppress(OSError):
                log_stream.close()
    if lost:
        raise GossipClusterError(lost[0])
