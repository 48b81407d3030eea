"""Free loopback ports for lab processes.

Each port handed out is remembered for the life of this process so that two servers
started close together never get the same one. A port is only offered when it and
``port + 10000`` (the cluster bus port Redis derives from it) are both free.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["free_port", "is_listening"]

_handed_out: set[int] = set()
_lock = threading.Lock()
_BUS_OFFSET = 10000


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, with_bus_port: bool = True) -> int:
    """A port on ``host`` that is free now and was not handed out before."""
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port in _handed_out:
                continue
            if with_bus_port and (
                port + _BUS_OFFSET > 65535 or not _bindable(host, port + _BUS_OFFSET)
            ):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port found on {host} after 200 tries")


def is_listening(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
