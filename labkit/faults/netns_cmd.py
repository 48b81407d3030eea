"""The namespace backend's errors, its tools (``ip``, ``iptables``, ``tc``) and how it runs them.

Every command is an argument list (no shell). A failing command raises
:class:`NetnsError` with the command, its output and, where known, how to fix it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabError

__all__ = ["NetnsError", "Tools", "find_tools", "missing_capability", "run_tool", "which"]

_SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"
_PACKAGES = {"ip": "iproute2", "tc": "iproute2", "iptables": "iptables"}
_TIMEOUT_S = 30.0


class NetnsError(LabError):
    """A namespace, veth, bridge, iptables or tc step failed; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Tools:
    """Absolute paths of the programs the backend runs."""

    ip: str
    iptables: str
    tc: str


def which(name: str) -> str | None:
    """Where ``name`` is, looking in the sbin folders too (they are not on every PATH)."""
    path = os.environ.get("PATH", "")
    return shutil.which(name, path=f"{path}:{_SBIN_PATH}" if path else _SBIN_PATH)


def missing_capability() -> str | None:
    """Why the backend cannot run here (a sentence with the fix), or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return (
            "network namespaces, veths and iptables need root: run as root "
            "(or with CAP_NET_ADMIN and CAP_SYS_ADMIN)"
        )
    missing = [name for name in ("ip", "iptables", "tc") if which(name) is None]
    if missing:
        packages = sorted({_PACKAGES[name] for name in missing})
        return f"{', '.join(missing)} not found: apt-get install {' '.join(packages)}"
    if not Path("/proc/self/ns/net").exists():
        return "this kernel has no network namespaces (/proc/self/ns/net is missing)"
    return None


def find_tools() -> Tools:
    """The tools, or :class:`NetnsError` saying what is missing and how to get it."""
    reason = missing_capability()
    if reason is not None:
        raise NetnsError(reason)
    ip, iptables, tc = (which(name) for name in ("ip", "iptables", "tc"))
    assert ip is not None and iptables is not None and tc is not None
    return Tools(ip=ip, iptables=iptables, tc=tc)


def run_tool(
    argv: Sequence[str],
    *,
    check: bool = True,
    hint: str = "",
    timeout_s: float = _TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; with ``check``, a non-zero exit raises :class:`NetnsError` with its output."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise NetnsError(f"{argv[0]} not found: apt-get install iproute2 iptables") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"`{' '.join(argv)}` did not finish within {timeout_s:.0f}s") from exc
    if check and done.returncode != 0:
        output = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise NetnsError(f"`{' '.join(argv)}` failed: {output}" + (f" ({hint})" if hint else ""))
    return done
