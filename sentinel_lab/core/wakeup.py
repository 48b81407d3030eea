"""When the failover needs the next timer run: deadlines the timer would otherwise
notice up to one timer period late (not Redis; see :mod:`sentinel_lab.core.sentinel`).

Redis checks its deadlines only when its timer runs (10-19 times a second), so each
deadline on the way to a promotion is noticed 0-100 ms after it passed. The driver
asks :func:`next_deadline_ms` and runs the timer at that moment as well:

* a replica's fast INFO round (1 s while its master is ODOWN or failing over, or its
  own master link is down): the round that shows a promoted replica as master.

Only the moment changes: the rules a timer run applies are Redis's. A master's
down-after is deliberately not one of these deadlines: noticed at each sentinel's own
timer run, SDOWN (and so ODOWN) comes out of phase between sentinels as in Redis, so
that one of them usually starts the failover and asks for votes before the others are
ready to; noticed on the deadline, it came at the same moment everywhere and two
sentinels ran for leader in the same epoch more often.
"""

from __future__ import annotations

from collections.abc import Iterable

from sentinel_lab.core.context import Context
from sentinel_lab.core.instances import Master
from sentinel_lab.core.monitor import info_period_for

__all__ = ["next_deadline_ms"]


def _info_deadlines(ctx: Context, master: Master) -> Iterable[int]:
    fast = ctx.timing.info_period_fast_ms
    for replica in master.replicas.values():
        if replica.link.disconnected or replica.info_refresh_ms is None:
            continue
        if info_period_for(ctx, replica, master) != fast:
            continue
        due = replica.info_refresh_ms + fast + 1
        sent = replica.link.info_sent_ms
        if sent is not None:
            due = max(due, sent + ctx.timing.info_resend_ms)
        yield due


def next_deadline_ms(ctx: Context, now_ms: int) -> int | None:
    """The earliest of those deadlines after ``now_ms``, or None. Deadlines already
    passed are left to the regular timer runs, so asking never busy-loops."""
    ahead: list[int] = []
    for master in ctx.masters.values():
        ahead.extend(_info_deadlines(ctx, master))
    return min((t for t in ahead if t > now_ms), default=None)
