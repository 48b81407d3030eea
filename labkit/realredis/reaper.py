"""Making sure that no process the lab starts outlives it.

Three layers, so that even a SIGKILLed test run leaves nothing behind:

* every child gets ``PR_SET_PDEATHSIG(SIGKILL)``: the kernel kills it when the
  thread that started it dies (children are started from the main thread);
* every child is registered here, and an ``atexit`` hook kills what is still alive;
* every child carries ``REDIS_LAB_RUN`` and ``REDIS_LAB_OWNER`` in its environment, so
  ``redis-lab cleanup`` can find the leftovers of any run by reading ``/proc``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "OWNER_ENV",
    "RUN_ENV",
    "LabProcessInfo",
    "child_preexec",
    "find_lab_processes",
    "kill_leftovers",
    "new_run_id",
    "register",
    "unregister",
]

RUN_ENV = "REDIS_LAB_RUN"
OWNER_ENV = "REDIS_LAB_OWNER"
_PR_SET_PDEATHSIG = 1

_live: dict[int, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


def new_run_id() -> str:
    """A short unique id that names one run's processes, folders and containers."""
    return f"rl{os.getpid()}-{secrets.token_hex(3)}"


def _set_pdeathsig() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def child_preexec() -> Callable[[], None] | None:
    """The ``preexec_fn`` for a child: die with the parent (main thread only).

    A death signal is tied to the thread that forked, so it is only set up when the
    caller is the main thread; elsewhere the ``atexit`` hook and ``cleanup`` remain.
    """
    if threading.current_thread() is threading.main_thread():
        return _set_pdeathsig
    return None


def register(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        _live[proc.pid] = proc


def unregister(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        _live.pop(proc.pid, None)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)


@atexit.register
def _kill_registered() -> None:
    with _lock:
        procs = list(_live.values())
        _live.clear()
    for proc in procs:
        if proc.poll() is None:
            _kill_group(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


@dataclass(frozen=True, slots=True)
class LabProcessInfo:
    """A process found in ``/proc`` that carries the lab's run marker."""

    pid: int
    run_id: str
    owner_pid: int | None
    cmdline: str

    @property
    def orphaned(self) -> bool:
        """True when the Python process that started it is gone."""
        return self.owner_pid is None or not _pid_alive(self.owner_pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_lab_processes(proc_root: Path = Path("/proc")) -> list[LabProcessInfo]:
    """Every live process whose environment carries ``REDIS_LAB_RUN``."""
    found: list[LabProcessInfo] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if ") Z " in stat:  # a zombie has already exited
            continue
        values = dict(item.split(b"=", 1) for item in environ.split(b"\0") if b"=" in item)
        run = values.get(RUN_ENV.encode())
        if run is None:
            continue
        owner_raw = values.get(OWNER_ENV.encode(), b"")
        owner = int(owner_raw) if owner_raw.isdigit() else None
        found.append(
            LabProcessInfo(
                pid=int(entry.name),
                run_id=run.decode(errors="replace"),
                owner_pid=owner,
                cmdline=cmdline.replace(b"\0", b" ").decode(errors="replace").strip(),
            )
        )
    return found


def kill_leftovers(*, include_live_owners: bool = False) -> list[LabProcessInfo]:
    """Kill lab processes whose owner is gone (or all of them); return what was killed."""
    me = os.getpid()
    killed = []
    for info in find_lab_processes():
        if info.pid == me:
            continue
        if include_live_owners or info.orphaned:
            _kill_group(info.pid)
            killed.append(info)
    return killed
