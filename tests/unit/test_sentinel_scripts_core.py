"""The script queue (Redis's limits) and the core's script and early-switch behaviour."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sentinel_lab.core.scripts import (
    SCRIPT_MAX_QUEUE,
    SCRIPT_MAX_RETRY,
    SCRIPT_MAX_RUNNING,
    ScriptQueue,
    retry_delay_ms,
)
from tests.unit.test_sentinel_core_harness import Harness


def test_at_most_sixteen_run_at_once_oldest_first() -> None:
    queue = ScriptQueue()
    jobs = [queue.schedule(("/s", str(i))) for i in range(20)]
    started = queue.due(0)
    assert [j.job_id for j in started] == [j.job_id for j in jobs[:SCRIPT_MAX_RUNNING]]
    assert queue.due(1) == []
    assert queue.exited(started[0].job_id, 0, 0, 2) is None
    assert [j.job_id for j in queue.due(3)] == [jobs[16].job_id]


def test_a_full_queue_drops_the_oldest_job_not_running() -> None:
    queue = ScriptQueue()
    first = queue.schedule(("/s", "0"))
    queue.due(0)  # the first one runs: it is kept
    second = queue.schedule(("/s", "1"))
    for i in range(SCRIPT_MAX_QUEUE - 1):
        queue.schedule(("/s", str(i + 2)))
    ids = [j.job_id for j in queue.jobs]
    assert len(ids) == SCRIPT_MAX_QUEUE
    assert first.job_id in ids and second.job_id not in ids


@pytest.mark.parametrize(("run", "delay_s"), [(1, 30), (2, 60), (3, 120), (9, 7680)])
def test_retry_delay_doubles(run: int, delay_s: int) -> None:
    assert retry_delay_ms(run) == delay_s * 1000


def test_exit_1_and_signals_are_retried_ten_times_in_all() -> None:
    queue = ScriptQueue()
    job = queue.schedule(("/s", "x"))
    now = 0
    for run in range(1, SCRIPT_MAX_RETRY):
        (started,) = queue.due(now)
        assert started.retry_num == run
        assert queue.exited(job.job_id, 1 if run % 2 else 0, 0 if run % 2 else 9, now) is None
        assert queue.due(now) == []  # waits for its retry
        assert queue.pending(now)[0][-2] == ("run-delay", retry_delay_ms(run))
        now += retry_delay_ms(run)
    queue.due(now)
    assert queue.exited(job.job_id, 1, 0, now) == "/s 0 1"
    assert queue.jobs == []


def test_other_failures_are_not_retried_and_success_is_silent() -> None:
    queue = ScriptQueue()
    bad, good = queue.schedule(("/bad",)), queue.schedule(("/good",))
    queue.due(0)
    assert queue.exited(bad.job_id, 2, 0, 5) == "/bad 0 2"
    assert queue.exited(good.job_id, 0, 0, 5) is None
    assert queue.jobs == []


def test_timeouts_and_pending_fields() -> None:
    queue = ScriptQueue()
    job = queue.schedule(("/slow", "+sdown", "master m 127.0.0.1 6379"))
    queue.due(1000)
    queue.started(job.job_id, 4242)
    assert queue.timed_out(61_000) == []
    assert queue.timed_out(61_001) == [job]
    (fields,) = queue.pending(1500)
    assert fields == [
        ("argv", ("/slow", "+sdown", "master m 127.0.0.1 6379")),
        ("flags", "running"),
        ("pid", 4242),
        ("run-time", 500),
        ("retry-num", 1),
    ]


def _with_scripts(h: Harness) -> None:
    master = h.core.masters["mymaster"]
    master.config = replace(
        master.config, notification_script="/notify", client_reconfig_script="/reconf"
    )


def test_the_core_queues_redis_arguments() -> None:
    h = Harness()
    _with_scripts(h)
    h.start()
    h.master.alive = False
    h.run(h.now + 15_000)
    argv = [job.argv for job in h.core.scripts.jobs]
    assert ("/notify", "+sdown", "master mymaster 127.0.10.1 6379") in argv
    assert ("/notify", "+new-epoch", "1") in argv
    assert (
        "/notify",
        "+switch-master",
        "mymaster 127.0.10.1 6379 127.0.10.3 6379",
    ) in argv or ("/notify", "+switch-master", "mymaster 127.0.10.1 6379 127.0.10.2 6379") in argv
    reconf = [a for a in argv if a[0] == "/reconf"]
    assert len(reconf) == 1
    assert reconf[0][:4] == ("/reconf", "mymaster", "leader", "start")
    assert reconf[0][4:6] == ("127.0.10.1", "6379")
    # notice-level events (e.g. +slave-reconf-sent) run no script, as in Redis
    assert not any(a[1] == "+slave-reconf-sent" for a in argv if a[0] == "/notify")


def _until_promoted(h: Harness) -> int:
    h.master.alive = False
    while "+promoted-slave" not in h.names():
        assert h.now < 20_000, h.names()
        h.run(h.now + 100)
    return h.first("+promoted-slave")[0] - h.first("+failover-state-wait-promotion")[0]


def test_early_switch_confirms_at_once_and_shows_the_promoted_replica() -> None:
    h = Harness()
    h.core.early_switch = True
    h.start()
    assert _until_promoted(h) == 0  # the INFO after EXEC answered role:master
    (fields,) = h.core.masters_info()
    values = dict(fields)
    promoted = h.core.masters["mymaster"].promoted
    assert promoted is not None
    assert (values["ip"], values["port"]) == (promoted.host, str(promoted.port))
    assert values["flags"] == "master,failover_in_progress"


def test_without_the_early_switch_the_old_address_is_shown_as_down() -> None:
    h = Harness()
    h.start()
    _until_promoted(h)
    values = dict(h.core.masters_info()[0])
    assert (values["ip"], values["port"]) == ("127.0.10.1", "6379")
    assert values["flags"].startswith("s_down,o_down,master")
    # GET-MASTER-ADDR-BY-NAME already names the promoted replica, as Redis's does
    promoted = h.core.masters["mymaster"].promoted
    assert promoted is not None
    assert h.core.get_master_addr_by_name("mymaster") == (promoted.host, str(promoted.port))
