"""Running the core's script queue as real processes (asyncio subprocesses).

The core (:mod:`sentinel_lab.core.scripts`) decides what runs and when; this module
starts each job as ``argv[0] argv[1:]`` with the sentinel's environment (stdin, stdout
and stderr on /dev/null, as a daemonized Redis has them), reports its end, and kills it
on timeout or when the sentinel stops. Each child gets the parent-death signal, so a
killed sentinel does not leave its scripts behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Callable, Iterable

from labkit.actions import Action
from sentinel_lab.core import SentinelCore

__all__ = ["ScriptRunner", "script_refusal"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_SCRIPT_OPTIONS = {
    "notification-script": "ERR Notification script seems non existing or non executable",
    "client-reconfig-script": (
        "ERR Client reconfiguration script seems non existing or non executable"
    ),
}
_SCRIPTS_DENIED = (
    "ERR Reconfiguration of scripts path is denied for security reasons. Check the "
    "deny-scripts-reconfig configuration directive in your Sentinel configuration"
)


def script_refusal(deny: bool, option: str, value: str | None) -> str | None:
    """Why SENTINEL SET refuses this script path (Redis checks at run time), or None."""
    message = _SCRIPT_OPTIONS.get(option.lower())
    if message is None or value is None:
        return None
    if deny:
        return _SCRIPTS_DENIED
    if value and not os.access(value, os.X_OK):
        return message
    return None


class ScriptRunner:
    """Starts due jobs, kills timed-out ones, and feeds their ends back to the core."""

    def __init__(
        self,
        core: SentinelCore,
        execute: Callable[[Iterable[Action]], None],
        clock: Callable[[], int],
    ) -> None:
        self.core = core
        self.execute = execute
        self.clock = clock
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def run_due(self) -> None:
        """One timer run: kill scripts past their time, start the due ones."""
        now = self.clock()
        to_kill, actions = self.core.scripts_timed_out(now)
        self.execute(actions)
        for job in to_kill:
            proc = self._procs.get(job.job_id)
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        for job in self.core.scripts_due(now):
            task = asyncio.ensure_future(self._run(job.job_id, job.argv))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: int, argv: tuple[str, ...]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        except OSError:
            # Redis's child exits with status 2 when execve fails ("don't retry").
            self.execute(self.core.script_ended(job_id, 2, 0, self.clock()))
            return
        self.core.script_started(job_id, proc.pid)
        self._procs[job_id] = proc
        try:
            code = await proc.wait()
        finally:
            self._procs.pop(job_id, None)
        status, killed_by = (0, -code) if code < 0 else (code, 0)
        self.execute(self.core.script_ended(job_id, status, killed_by, self.clock()))

    async def close(self) -> None:
        """Kill every running script and wait for them."""
        for proc in list(self._procs.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for proc in list(self._procs.values()):
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 1.0)
