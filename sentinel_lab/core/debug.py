"""``SENTINEL DEBUG [<param> <value> ...]``: show or change the timer's periods
(Redis 7.0's ``addReplySentinelDebugInfo`` / ``sentinelSetDebugConfigParameters``).

The periods live in :class:`~sentinel_lab.core.config.Timing` (a frozen value that is
replaced whole) and, for the two script ones, in the script queue. Where Redis derives
one constant from another, setting the base also sets what we keep separately: the
PING period is also the reconnect period, and an is-master-down answer lasts five ask
periods. The defaults change only masters added later by SENTINEL MONITOR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from labkit.resp.inline import string_to_ll
from sentinel_lab.core.context import Context
from sentinel_lab.core.replies import ErrorReply

__all__ = ["DEBUG_PARAMS", "debug_values", "set_debug_params"]

DEBUG_PARAMS = (
    "info-period",
    "ping-period",
    "ask-period",
    "publish-period",
    "default-down-after",
    "default-failover-timeout",
    "tilt-trigger",
    "tilt-period",
    "slave-reconf-timeout",
    "min-link-reconnect-period",
    "election-timeout",
    "script-max-runtime",
    "script-retry-delay",
)
"""In the order Redis shows them (its upper-cased names)."""

_TIMING_FIELDS = {
    "info-period": ("info_period_ms",),
    "ping-period": ("ping_period_ms", "reconnect_period_ms"),
    "ask-period": ("ask_period_ms",),
    "publish-period": ("publish_period_ms",),
    "default-down-after": ("default_down_after_ms",),
    "default-failover-timeout": ("default_failover_timeout_ms",),
    "tilt-trigger": ("tilt_trigger_ms",),
    "tilt-period": ("tilt_period_ms",),
    "slave-reconf-timeout": ("slave_reconf_timeout_ms",),
    "min-link-reconnect-period": ("min_link_reconnect_period_ms",),
    "election-timeout": ("election_timeout_ms",),
}


def _value(ctx: Context, param: str) -> int:
    if param == "script-max-runtime":
        return ctx.scripts.max_runtime_ms
    if param == "script-retry-delay":
        return ctx.scripts.retry_delay_ms
    value = getattr(ctx.timing, _TIMING_FIELDS[param][0])
    assert isinstance(value, int)
    return value


def debug_values(ctx: Context) -> list[tuple[str, int]]:
    """``SENTINEL DEBUG``: every parameter (upper case) and its value in ms."""
    return [(param.upper(), _value(ctx, param)) for param in DEBUG_PARAMS]


def _set(ctx: Context, param: str, value: int) -> None:
    if param == "script-max-runtime":
        ctx.scripts.max_runtime_ms = value
    elif param == "script-retry-delay":
        ctx.scripts.retry_delay_ms = value
    else:
        changes: dict[str, int] = dict.fromkeys(_TIMING_FIELDS[param], value)
        if param == "ask-period":
            changes["master_down_validity_ms"] = value * 5
        ctx.timing = replace(ctx.timing, **changes)


def set_debug_params(ctx: Context, args: Sequence[str]) -> str | ErrorReply:
    """``SENTINEL DEBUG <param> <value> ...``: set each pair in turn, as Redis does, so
    pairs before a bad one stay set. ``"OK"``, or Redis's error for the first bad pair.
    A value must be a whole number above 0."""
    j = 0
    while j < len(args):
        option = args[j]
        param = option.lower()
        if param not in DEBUG_PARAMS or j + 1 >= len(args):
            return ErrorReply(
                f"ERR Unknown option or number of arguments for SENTINEL DEBUG '{option}'"
            )
        raw = args[j + 1]
        value = string_to_ll(raw.encode("utf-8", "surrogateescape"))
        if value is None or value <= 0:
            return ErrorReply(f"ERR Invalid argument '{raw}' for SENTINEL DEBUG '{option}'")
        _set(ctx, param, value)
        j += 2
    return "OK"
