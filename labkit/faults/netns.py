"""Kernel-level faults: hosts in network namespaces on a private bridge, cut with iptables.

The optional backend beside the fault proxy (it needs root, ``ip``, ``iptables`` and
``tc``). A :class:`NetnsLab` creates, in the root namespace, a bridge with the address
``198.18.<n>.254/24`` (RFC 2544's benchmarking range) and, per :class:`Host`, a network
namespace joined to the bridge by a veth pair (``eth0`` inside, address
``198.18.<n>.<i>``, no default route). The test process reaches every host through the
bridge; real ``redis-server``/``--sentinel`` processes run inside the hosts
(:meth:`NetnsLab.server`, :meth:`NetnsLab.sentinel`), each on its own address with the
usual ports 6379 and 26379.

Faults, each recorded as an :class:`~labkit.events.Event` (source ``nemesis``, the
proxy's names ``+partition``/``+throttle``/``-fault``):

* :meth:`~NetnsLab.partition` and :meth:`~NetnsLab.isolate`: iptables ``DROP`` rules on
  the *receiving* side's INPUT (inside its namespace; for ``control``, the root
  namespace, in the run's own chain), so packets vanish silently as on a cut wire;
* :meth:`~NetnsLab.link_down`: the host's veth goes down;
* :meth:`~NetnsLab.limit`: a ``tbf`` qdisc (this kernel has no ``netem``: latency,
  jitter and loss come from the fault proxy);
* :meth:`~NetnsLab.heal`.

What it changes in the root namespace: the bridge, the veths, and two chains named after
the run (``<run id>-fwd``, ``<run id>-in``) hooked into FORWARD and INPUT only for the
bridge. The FORWARD chain accepts host-to-host traffic on the bridge (with
``br_netfilter`` loaded, bridged frames pass iptables, where Docker's FORWARD policy is
DROP) and drops anything routed between the bridge and another interface. Everything is
removed on :meth:`~NetnsLab.close`, on an error while building, at exit, and by
:func:`remove_leftovers` (``redis-lab cleanup``) once the owner process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from labkit.events import Event
from labkit.faults import netns_names as names
from labkit.faults.netns_apply import KernelFaults
from labkit.faults.netns_cmd import NetnsError, find_tools, missing_capability
from labkit.faults.netns_faults import (
    CONTROL,
    CutDirection,
    FaultBook,
    LimitDirection,
    TbfLimit,
    isolate_fault,
    limit_fault,
    link_fault,
    partition_fault,
)
from labkit.faults.netns_host import Host, bridge_netfilter, build_host, build_root, used_networks
from labkit.faults.netns_redis import NetnsRedisProcess
from labkit.faults.netns_registry import (
    REGISTRY_DIR,
    NetnsLeftovers,
    RunRecord,
    find_leftovers,
    process_start_time,
    read_records,
    registry_lock,
    remove_leftovers,
    teardown,
)
from labkit.realredis import reaper
from labkit.realredis.binaries import RedisBinaries, find_binaries
from labkit.realredis.lab import Lab
from labkit.realredis.process import ConfigValue, Kind, RedisProcess
from labkit.realredis.topology import sentinel_directives

__all__ = [
    "CONTROL",
    "Host",
    "NetnsError",
    "NetnsLab",
    "NetnsLeftovers",
    "NetnsRedisProcess",
    "find_leftovers",
    "missing_capability",
    "remove_leftovers",
]

REDIS_PORT = 6379
SENTINEL_PORT = 26379


_live: set[NetnsLab] = set()
_live_lock = threading.Lock()


@atexit.register
def _close_live_labs() -> None:
    with _live_lock:
        labs = list(_live)
    for lab in labs:
        with contextlib.suppress(Exception):
            lab.close()


class NetnsLab:
    """Hosts in network namespaces on a private bridge, with kernel-level faults.

    ``NetnsLab(["a", "b"], lab=redis_lab)`` shares the :class:`Lab`'s run id, folder and
    process list (its processes are then also killed by ``lab.close()`` and shown by the
    ``redis_lab`` fixture). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        hosts: Sequence[str] = (),
        *,
        lab: Lab | None = None,
        run_id: str | None = None,
        base_dir: Path | None = None,
        registry_dir: Path = REGISTRY_DIR,
    ) -> None:
        self.tools = find_tools()
        self.lab = lab
        self.run_id = names.validate_run_id(
            lab.run_id if lab is not None else run_id or reaper.new_run_id()
        )
        self.registry_dir = registry_dir
        self.hosts: dict[str, Host] = {}
        self.processes: list[RedisProcess] = []
        self.events: list[Event] = []
        self._book = FaultBook()
        self._lock = threading.RLock()
        self._closed = False
        self._own_dir: Path | None = None
        self._base_dir = base_dir
        self._binaries: RedisBinaries | None = lab.binaries if lab is not None else None
        self.chain_forward, self.chain_input = names.chain_names(self.run_id)
        self._record = self._reserve()
        self.tag = self._record.tag
        self.bridge = self._record.bridge
        self.subnet = ipaddress.IPv4Network(self._record.subnet)
        self.control_ip = str(names.host_address(self.subnet, names.CONTROL_HOST))
        self._kernel = KernelFaults(self.tools, self.chain_input, self.host, self.ip_of)
        with _live_lock:
            _live.add(self)
        try:
            build_root(
                self.tools,
                bridge=self.bridge,
                control_ip=self.control_ip,
                chains=(self.chain_forward, self.chain_input),
                alias=self._alias,
            )
            for name in hosts:
                self.add_host(name)
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise

    def __repr__(self) -> str:
        return f"<NetnsLab {self.run_id} {self.subnet} hosts={','.join(self.hosts) or '-'}>"

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- building -----------------------------------------------------------------------

    def _reserve(self) -> RunRecord:
        """Choose a free tag and /24 and save the run's record, before creating anything."""
        with registry_lock(self.registry_dir):
            records = read_records(self.registry_dir)
            if any(record.run_id == self.run_id for record in records):
                raise NetnsError(
                    f"run {self.run_id} already has a netns lab: one per run (close it first)"
                )
            existing = set(os.listdir("/sys/class/net"))
            tags = {record.tag for record in records}
            for attempt in range(16):
                tag = names.tag_for(self.run_id, attempt)
                if tag not in tags and names.bridge_name(tag) not in existing:
                    break
            else:
                raise NetnsError(f"no free interface name for run {self.run_id}")
            used = used_networks(self.tools)
            used += [ipaddress.IPv4Network(record.subnet) for record in records]
            try:
                subnet = names.choose_subnet(names.preferred_slot(tag), used)
            except ValueError as exc:
                raise NetnsError(f"{exc}; run `redis-lab cleanup`") from exc
            record = RunRecord(
                run_id=self.run_id,
                owner_pid=os.getpid(),
                owner_start=process_start_time(os.getpid()),
                tag=tag,
                subnet=str(subnet),
                bridge=names.bridge_name(tag),
                chains=[self.chain_forward, self.chain_input],
            )
            record.save(self.registry_dir)
        return record

    @property
    def _alias(self) -> str:
        return names.alias_for(self.run_id, self._record.owner_pid)

    def add_host(self, name: str) -> Host:
        """A new namespace joined to the bridge, with the next address of the subnet."""
        with self._lock:
            self._check_open()
            names.validate_host_name(name)
            if name in self.hosts:
                raise NetnsError(f"a host named {name!r} already exists in {self.run_id}")
            index = len(self.hosts) + 1
            host = Host(
                name=name,
                index=index,
                ip=str(names.host_address(self.subnet, index)),
                netns=names.netns_name(self.run_id, name),
                veth=names.veth_name(self.tag, index),
                run_id=self.run_id,
                ip_tool=self.tools.ip,
            )
            self._record.namespaces.append(host.netns)
            self._record.links.append(host.veth)
            self._record.save(self.registry_dir)
            build_host(self.tools, host, bridge=self.bridge, alias=self._alias)
            self.hosts[name] = host
            return host

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise NetnsError(
                f"no host named {name!r} in {self.run_id} (hosts: {', '.join(self.hosts) or '-'})"
            ) from None

    def ip_of(self, name: str) -> str:
        """A host's address, or the bridge's for ``control`` (the root namespace)."""
        return self.control_ip if name == CONTROL else self.host(name).ip

    @property
    def bridge_netfilter(self) -> bool:
        """Whether bridged frames pass iptables here (``br_netfilter`` loaded and enabled)."""
        return bridge_netfilter()

    # -- real Redis in the hosts --------------------------------------------------------

    def _workdir(self, name: str) -> Path:
        if self.lab is not None:
            return self.lab.base_dir / name
        if self._base_dir is not None:
            return self._base_dir / name
        if self._own_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix=f"redis-lab-{self.run_id}-netns-"))
        return self._own_dir / name

    def _spawn(
        self,
        host_name: str,
        name: str,
        kind: Kind,
        directives: list[tuple[str, ConfigValue]],
        *,
        port: int,
        password: str | None,
        start: bool,
    ) -> NetnsRedisProcess:
        host = self.host(host_name)
        taken = {p.name for p in self.processes}
        taken |= {p.name for p in self.lab.processes} if self.lab is not None else set()
        if name in taken:
            raise ValueError(f"a process named {name!r} already exists in this lab")
        if self._binaries is None:
            self._binaries = find_binaries()
        proc = NetnsRedisProcess(
            name,
            kind,
            self._workdir(name),
            host.ip,
            port,
            directives,
            run_id=self.run_id,
            password=password,
            binaries=self._binaries,
            argv_prefix=host.command([]),
            netns=host.netns,
        )
        self.processes.append(proc)
        if self.lab is not None:
            self.lab.processes.append(proc)
        return proc.start() if start else proc

    def server(
        self,
        host: str,
        name: str | None = None,
        *,
        port: int = REDIS_PORT,
        password: str | None = None,
        replica_of: RedisProcess | None = None,
        extra: list[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> NetnsRedisProcess:
        """A real ``redis-server`` in ``host`` (a replica of ``replica_of`` if given)."""
        directives: list[tuple[str, ConfigValue]] = list(extra or [])
        if replica_of is not None:
            directives.append(("replicaof", [replica_of.host, str(replica_of.port)]))
        return self._spawn(
            host,
            name or f"redis-{host}",
            Kind.SERVER,
            directives,
            port=port,
            password=password,
            start=start,
        )

    def sentinel(
        self,
        host: str,
        master: RedisProcess,
        *,
        master_name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 30000,
        failover_timeout_ms: int = 180000,
        parallel_syncs: int = 1,
        name: str | None = None,
        port: int = SENTINEL_PORT,
        extra: list[tuple[str, ConfigValue]] | None = None,
        start: bool = True,
    ) -> NetnsRedisProcess:
        """A real ``redis-server --sentinel`` in ``host`` monitoring ``master``."""
        directives = sentinel_directives(
            master_name,
            master.host,
            master.port,
            quorum=quorum,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
            parallel_syncs=parallel_syncs,
            auth_pass=master.password,
        )
        directives += extra or []
        return self._spawn(
            host,
            name or f"sentinel-{host}",
            Kind.SENTINEL,
            directives,
            port=port,
            password=None,
            start=start,
        )

    # -- faults -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise NetnsError(f"netns lab {self.run_id} is closed")

    def _peer(self, name: str) -> str:
        if name != CONTROL:
            self.host(name)
        return name

    def _change(self, change: Callable[[FaultBook], list[tuple[str, str, str]]]) -> None:
        """Apply ``change`` to the fault book, bring the kernel in line, record the events."""
        with self._lock:
            self._check_open()
            before = dict(self._book.active)
            events = change(self._book)
            try:
                self._kernel.sync(self._book)
            except BaseException:
                self._book.active = before
                with contextlib.suppress(Exception):
                    self._kernel.sync(self._book)
                raise
            for name, instance, details in events:
                self.events.append(
                    Event(
                        source="nemesis",
                        name=name,
                        wall_ns=time.time_ns(),
                        mono_ns=time.monotonic_ns(),
                        instance=instance,
                        details=details,
                    )
                )

    def partition(self, a: str, b: str, direction: CutDirection = "both") -> None:
        """Drop packets between hosts ``a`` and ``b`` (either may be ``control``).

        ``a_to_b`` drops only what ``a`` sends to ``b`` (TCP then stalls both ways, as on
        a one-way cut); ``b_to_a`` the reverse.
        """
        fault = partition_fault(self._peer(a), self._peer(b), direction)
        self._change(lambda book: book.add(fault))

    def isolate(self, a: str, *, control: bool = False) -> None:
        """Cut ``a`` from every other host (and from the root namespace if ``control``).

        Hosts added afterwards are not cut.
        """
        self._peer(a)
        others = [*self.hosts, CONTROL] if control else list(self.hosts)
        fault = isolate_fault(a, others)
        self._change(lambda book: book.add(fault))

    def link_down(self, a: str) -> None:
        """Take ``a``'s veth down: nothing reaches or leaves ``a``, the test process included."""
        self.host(a)
        fault = link_fault(a)
        self._change(lambda book: book.add(fault))

    def link_up(self, a: str) -> None:
        """Bring ``a``'s veth back up."""
        self.host(a)
        self._change(lambda book: book.remove([("link", a)]))

    def limit(
        self,
        a: str,
        rate: str = "1mbit",
        *,
        burst_bytes: int = 32 * 1024,
        latency_ms: float = 200.0,
        direction: LimitDirection = "both",
    ) -> None:
        """Rate-limit ``a`` with tbf: ``egress`` (what ``a`` sends), ``ingress``, or both.

        ``rate`` is in tc's syntax (``1mbit``, ``500kbit``, ``125kbps``). Packets that
        would wait longer than ``latency_ms`` are dropped (TCP retransmits them).
        """
        self.host(a)
        names.parse_rate_bits(rate)
        if burst_bytes < 2048:
            raise ValueError(f"burst_bytes must be at least 2048 (an MTU), got {burst_bytes}")
        if latency_ms <= 0:
            raise ValueError(f"latency_ms must be positive, got {latency_ms}")
        fault = limit_fault(a, TbfLimit(rate, burst_bytes, latency_ms, direction))
        self._change(lambda book: book.add(fault))

    def unlimit(self, a: str) -> None:
        """Remove ``a``'s rate limit."""
        self.host(a)
        self._change(lambda book: book.remove([("limit", a)]))

    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """End faults: every one; those on ``a``; or the partition between ``a`` and ``b``."""
        if a is not None:
            self._peer(a)
        if b is not None:
            self._peer(b)
        self._change(lambda book: book.remove(book.keys_for(a, b)))

    # -- teardown -----------------------------------------------------------------------

    def leftovers(self) -> NetnsLeftovers:
        """What of this run exists on the machine now (nothing after :meth:`close`)."""
        return find_leftovers(self.run_id, include_live_owners=True, directory=self.registry_dir)

    def close(self) -> None:
        """Kill the hosts' processes and remove every namespace, veth, chain and the bridge.

        Raises :class:`NetnsError` (after trying everything) if something stayed; the
        run's record then stays too, so that ``redis-lab cleanup`` can retry.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with _live_lock:
            _live.discard(self)
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.kill()
        errors = teardown(
            self.tools,
            namespaces=list(self._record.namespaces),
            links=[*self._record.links, self.bridge],
            chains=list(self._record.chains),
        )
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
        if errors:
            raise NetnsError(
                f"netns lab {self.run_id} left: {'; '.join(errors)}; run `redis-lab cleanup`"
            )
        (self.registry_dir / f"{self.run_id}.json").unlink(missing_ok=True)
