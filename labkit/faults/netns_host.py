"""A test host (a network namespace on the lab's bridge) and the steps that build one.

:func:`build_root` makes the root-namespace side of a lab (the run's chains, their hooks,
the bridge); :func:`build_host` adds one namespace joined to the bridge by a veth pair.
Removing is :func:`labkit.faults.netns_registry.teardown`'s job.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from labkit.faults import netns_names as names
from labkit.faults.netns_cmd import Tools, run_tool
from labkit.realredis import reaper

__all__ = ["Host", "bridge_netfilter", "build_host", "build_root", "used_networks"]

_IPV4_RE = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?)\b")


@dataclass(frozen=True, slots=True)
class Host:
    """One test host: a network namespace with one address on the lab's bridge."""

    name: str
    index: int
    ip: str
    netns: str
    veth: str  # the root-namespace end of its veth pair, a port of the bridge
    run_id: str
    ip_tool: str
    inner_if: str = names.INNER_IF

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed with ``ip netns exec <namespace>``."""
        return [self.ip_tool, "netns", "exec", self.netns, *argv]

    def run(
        self, argv: Sequence[str], *, timeout_s: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace and wait; with ``check``, failure raises."""
        return run_tool(self.command(argv), check=check, timeout_s=timeout_s)

    def popen(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        stdout: int | IO[bytes] | None = subprocess.DEVNULL,
        stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace as a lab process (dies with its owner)."""
        env = dict(os.environ)
        env[reaper.RUN_ENV] = self.run_id
        env[reaper.OWNER_ENV] = str(os.getpid())
        proc = subprocess.Popen(
            self.command(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=reaper.child_preexec(),  # noqa: PLW1509 - PDEATHSIG needs it
        )
        reaper.register(proc)
        return proc


def used_networks(tools: Tools) -> list[ipaddress.IPv4Network]:
    """Every IPv4 address and route of the root namespace, as networks."""
    text = run_tool([tools.ip, "-4", "-o", "addr", "show"]).stdout
    text += run_tool([tools.ip, "-4", "route", "show", "table", "all"]).stdout
    found = []
    for token in _IPV4_RE.findall(text):
        with contextlib.suppress(ValueError):
            found.append(ipaddress.IPv4Network(token, strict=False))
    return found


def bridge_netfilter() -> bool:
    """Whether bridged frames pass iptables here (``br_netfilter`` loaded and enabled)."""
    try:
        return Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
    except OSError:
        return False


def build_root(
    tools: Tools, *, bridge: str, control_ip: str, chains: tuple[str, str], alias: str
) -> None:
    """The run's chains and their hooks, then the bridge with the control address.

    The FORWARD chain accepts host-to-host frames on the bridge (needed where
    ``br_netfilter`` hands them to iptables and the FORWARD policy is DROP, as Docker
    sets it) and drops anything routed between the bridge and another interface.
    """
    fwd, inp = chains

    def iptables(*args: str) -> None:
        run_tool([tools.iptables, "-w", "5", *args])

    iptables("-N", fwd)
    iptables("-A", fwd, "-i", bridge, "-o", bridge, "-j", "ACCEPT")
    iptables("-A", fwd, "-j", "DROP")
    iptables("-N", inp)
    iptables("-I", "FORWARD", "1", "-o", bridge, "-j", fwd)
    iptables("-I", "FORWARD", "1", "-i", bridge, "-j", fwd)
    iptables("-I", "INPUT", "1", "-i", bridge, "-j", inp)
    run_tool([tools.ip, "link", "add", bridge, "type", "bridge"])
    run_tool([tools.ip, "link", "set", bridge, "alias", alias])
    run_tool([tools.ip, "addr", "add", f"{control_ip}/24", "dev", bridge])
    run_tool([tools.ip, "link", "set", bridge, "up"])


def build_host(tools: Tools, host: Host, *, bridge: str, alias: str) -> None:
    """The namespace, its veth pair (``eth0`` inside, ``host.veth`` on the bridge), ``lo`` up.

    No default route is added: a host reaches its /24 and nothing else.
    """
    ip, ns = tools.ip, host.netns
    run_tool([ip, "netns", "add", ns], hint="network namespaces need root")
    peer = ["peer", "name", host.inner_if, "netns", ns]
    run_tool([ip, "link", "add", host.veth, "type", "veth", *peer])
    run_tool([ip, "link", "set", host.veth, "alias", alias])
    run_tool([ip, "link", "set", host.veth, "master", bridge, "up"])
    run_tool([ip, "-n", ns, "addr", "add", f"{host.ip}/24", "dev", host.inner_if])
    run_tool([ip, "-n", ns, "link", "set", host.inner_if, "up"])
    run_tool([ip, "-n", ns, "link", "set", "lo", "up"])
