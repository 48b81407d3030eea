"""The queue of ``notification-script`` and ``client-reconfig-script`` runs (pure).

Redis 7.0.15's rules (``sentinelScheduleScriptExecution``, ``sentinelRunPendingScripts``,
``sentinelCollectTerminatedScripts``, ``sentinelKillTimedoutScripts``):

- at most 256 jobs queued; past that the oldest job not running is dropped;
- at most 16 running at once, oldest first;
- a script killed by a signal or exiting with status 1 is retried, at most 10 runs in
  all, after 30 s, then 60 s, 120 s, ... (doubling);
- any other non-zero exit, or the last retry failing, gives ``-script-error <path>
  <signal> <status>``; a run longer than 60 s is killed with ``-script-timeout``.

The queue decides; the driver starts and kills the processes and reports their ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "SCRIPT_MAX_QUEUE",
    "SCRIPT_MAX_RETRY",
    "SCRIPT_MAX_RUNNING",
    "SCRIPT_MAX_RUNTIME_MS",
    "SCRIPT_RETRY_DELAY_MS",
    "ScriptJob",
    "ScriptQueue",
    "retry_delay_ms",
]

SCRIPT_MAX_QUEUE = 256
SCRIPT_MAX_RUNNING = 16
SCRIPT_MAX_RETRY = 10
SCRIPT_MAX_RUNTIME_MS = 60_000
SCRIPT_RETRY_DELAY_MS = 30_000


def retry_delay_ms(retry_num: int, base_ms: int = SCRIPT_RETRY_DELAY_MS) -> int:
    """The wait before run ``retry_num + 1``: base, doubled for each run after the first."""
    delay = base_ms
    for _ in range(retry_num - 1):
        delay *= 2
    return delay


@dataclass(slots=True)
class ScriptJob:
    """One script to run: ``argv[0]`` is the path, the rest Redis's arguments."""

    job_id: int
    argv: tuple[str, ...]
    running: bool = False
    pid: int = 0
    start_ms: int = 0
    """When it started (running) or may start again (a retry); 0: as soon as possible."""
    retry_num: int = 0


@dataclass(slots=True)
class ScriptQueue:
    """Jobs in the order they were scheduled."""

    jobs: list[ScriptJob] = field(default_factory=list)
    max_runtime_ms: int = SCRIPT_MAX_RUNTIME_MS
    retry_delay_ms: int = SCRIPT_RETRY_DELAY_MS
    _next_id: int = 1

    @property
    def running(self) -> int:
        return sum(1 for job in self.jobs if job.running)

    def schedule(self, argv: tuple[str, ...]) -> ScriptJob:
        """Queue a run; drop the oldest job not running when the queue is full."""
        job = ScriptJob(self._next_id, argv)
        self._next_id += 1
        self.jobs.append(job)
        if len(self.jobs) > SCRIPT_MAX_QUEUE:
            oldest = next((j for j in self.jobs if not j.running), None)
            if oldest is not None:
                self.jobs.remove(oldest)
        return job

    def due(self, now_ms: int) -> list[ScriptJob]:
        """Jobs to start now (marked running), oldest first, up to 16 running."""
        started: list[ScriptJob] = []
        running = self.running
        for job in self.jobs:
            if running >= SCRIPT_MAX_RUNNING:
                break
            if job.running or (job.start_ms and job.start_ms > now_ms):
                continue
            job.running = True
            job.start_ms = now_ms
            job.retry_num += 1
            running += 1
            started.append(job)
        return started

    def started(self, job_id: int, pid: int) -> None:
        """The driver's process for ``job_id`` has this pid."""
        job = self._find(job_id)
        if job is not None:
            job.pid = pid

    def exited(self, job_id: int, status: int, signal: int, now_ms: int) -> str | None:
        """A run ended: retry it, or drop it. The ``-script-error`` details, if any."""
        job = self._find(job_id)
        if job is None or not job.running:
            return None
        if (signal or status == 1) and job.retry_num != SCRIPT_MAX_RETRY:
            job.running = False
            job.pid = 0
            job.start_ms = now_ms + retry_delay_ms(job.retry_num, self.retry_delay_ms)
            return None
        self.jobs.remove(job)
        if signal or status != 0:
            return f"{job.argv[0]} {signal} {status}"
        return None

    def timed_out(self, now_ms: int) -> list[ScriptJob]:
        """Running jobs past the maximum run time (the driver kills them with SIGKILL)."""
        return [j for j in self.jobs if j.running and now_ms - j.start_ms > self.max_runtime_ms]

    def pending(self, now_ms: int) -> list[list[tuple[str, object]]]:
        """SENTINEL PENDING-SCRIPTS: per job argv, flags, pid, run-time or run-delay,
        retry-num (numbers as ``int``; argv as a tuple of strings)."""
        out: list[list[tuple[str, object]]] = []
        for job in self.jobs:
            fields: list[tuple[str, object]] = [
                ("argv", job.argv),
                ("flags", "running" if job.running else "scheduled"),
                ("pid", job.pid),
            ]
            if job.running:
                fields.append(("run-time", now_ms - job.start_ms))
            else:
                delay = max(0, job.start_ms - now_ms) if job.start_ms else 0
                fields.append(("run-delay", delay))
            fields.append(("retry-num", job.retry_num))
            out.append(fields)
        return out

    def _find(self, job_id: int) -> ScriptJob | None:
        return next((j for j in self.jobs if j.job_id == job_id), None)
