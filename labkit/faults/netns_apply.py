"""Bringing the kernel in line with a :class:`~labkit.faults.netns_faults.FaultBook`.

:class:`KernelFaults` remembers what it has applied (cut rules, links down, tbf limits)
and, on :meth:`~KernelFaults.sync`, adds and removes only the difference. A cut
``(x, y)`` is a DROP of packets from x on y's INPUT: inside y's namespace, or, for
``control`` (the root namespace), in the run's own INPUT chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from labkit.faults.netns_cmd import Tools, run_tool
from labkit.faults.netns_faults import CONTROL, FaultBook, TbfLimit
from labkit.faults.netns_host import Host

__all__ = ["KernelFaults"]


@dataclass(slots=True)
class KernelFaults:
    """What has been applied to the kernel; :meth:`sync` applies a fault book's difference."""

    tools: Tools
    input_chain: str
    host: Callable[[str], Host]
    ip_of: Callable[[str], str]
    cuts: set[tuple[str, str]] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    limits: dict[str, TbfLimit] = field(default_factory=dict)

    def sync(self, book: FaultBook) -> None:
        """Add and remove rules, link states and qdiscs until they match ``book``."""
        wanted_cuts = book.cuts()
        for cut in sorted(self.cuts - wanted_cuts):
            self._cut_rule("-D", cut)
            self.cuts.discard(cut)
        for cut in sorted(wanted_cuts - self.cuts):
            self._cut_rule("-A", cut)
            self.cuts.add(cut)
        wanted_down = book.down_links()
        for name in sorted(self.down - wanted_down):
            run_tool([self.tools.ip, "link", "set", self.host(name).veth, "up"])
            self.down.discard(name)
        for name in sorted(wanted_down - self.down):
            run_tool([self.tools.ip, "link", "set", self.host(name).veth, "down"])
            self.down.add(name)
        wanted_limits = book.limits()
        for name, old in sorted(self.limits.items()):
            if wanted_limits.get(name) != old:
                self._tbf(name, None)
                del self.limits[name]
        for name, new in sorted(wanted_limits.items()):
            if name not in self.limits:
                self._tbf(name, new)
                self.limits[name] = new

    def _cut_rule(self, action: str, cut: tuple[str, str]) -> None:
        """Add (``-A``) or delete (``-D``) the DROP of packets ``cut[0]`` -> ``cut[1]``."""
        source, target = cut
        match = ["-s", f"{self.ip_of(source)}/32", "-j", "DROP"]
        if target == CONTROL:
            run_tool([self.tools.iptables, "-w", "5", action, self.input_chain, *match])
        else:
            self.host(target).run([self.tools.iptables, "-w", "5", action, "INPUT", *match])

    def _tbf(self, name: str, limit: TbfLimit | None) -> None:
        """Put ``limit`` on ``name``'s veth ends, or remove both ends' limits with None.

        ``egress`` (what the host sends) is the qdisc of ``eth0`` inside the namespace;
        ``ingress`` (what it receives) that of its veth end on the bridge.
        """
        host = self.host(name)
        tc = self.tools.tc
        ends = {
            "egress": ([tc, "-n", host.netns, "qdisc"], ["dev", host.inner_if, "root"]),
            "ingress": ([tc, "qdisc"], ["dev", host.veth, "root"]),
        }
        for direction, (head, tail) in ends.items():
            if limit is None:
                run_tool([*head, "del", *tail], check=False)
            elif limit.direction in ("both", direction):
                shape = ["rate", limit.rate, "burst", str(limit.burst_bytes)]
                shape += ["latency", f"{limit.latency_ms:g}ms"]
                run_tool(
                    [*head, "replace", *tail, "tbf", *shape],
                    hint="tbf is missing from this kernel (CONFIG_NET_SCH_TBF)",
                )
