"""Runtime reconfiguration: SENTINEL MONITOR, REMOVE, RESET and SET (``sentinelCommand``).

Each returns the reply value (``"OK"``, an ``int`` or an :class:`ErrorReply` with Redis's
text) and leaves its events and the config flush in the action buffer.
"""

from __future__ import annotations

from dataclasses import replace

from labkit.resp.pubsub import stringmatch
from sentinel_lab.core.config import MasterConfig
from sentinel_lab.core.context import WARNING, Context
from sentinel_lab.core.errors import InvalidCoreConfigError
from sentinel_lab.core.instances import Link, Master
from sentinel_lab.core.messages import MonitorRequest, SetRequest
from sentinel_lab.core.replies import ErrorReply
from sentinel_lab.core.table import add_master, release_peer, reset_master

__all__ = ["SET_OPTIONS", "monitor", "remove", "reset", "set_options"]

_NO_SUCH_MASTER = ErrorReply("ERR No such master with that name")

SET_OPTIONS = (
    "down-after-milliseconds",
    "failover-timeout",
    "parallel-syncs",
    "quorum",
    "auth-pass",
    "auth-user",
    "notification-script",
    "client-reconfig-script",
)
"""What SENTINEL SET changes here; Redis also takes rename-command and
master-reboot-down-after-period (answered with a clear error). A script path is checked
(``deny-scripts-reconfig``, executable) by the RESP front before it reaches the core."""

_STRINGS = {
    "auth-pass": "auth_pass",
    "auth-user": "auth_user",
    "notification-script": "notification_script",
    "client-reconfig-script": "client_reconfig_script",
}
_NOT_YET = (
    "rename-command",
    "master-reboot-down-after-period",
)
_REDACTED = ("auth-pass",)


def monitor(ctx: Context, request: MonitorRequest) -> str | ErrorReply:
    """Start monitoring a new master: ``+monitor``, then a config flush."""
    if request.quorum <= 0:
        return ErrorReply("ERR Quorum must be 1 or greater.")
    if request.name in ctx.masters:
        return ErrorReply("ERR Duplicate master name.")
    try:
        config = MasterConfig(
            request.name,
            request.host,
            request.port,
            request.quorum,
            down_after_ms=ctx.timing.default_down_after_ms,
            failover_timeout_ms=ctx.timing.default_failover_timeout_ms,
        )
    except InvalidCoreConfigError as exc:
        return ErrorReply(f"ERR {exc}")
    master = add_master(ctx, config)
    now = ctx.now
    master.link.act_ping_ms = master.link.last_avail_ms = master.link.last_pong_ms = now
    ctx.flush_config()
    ctx.emit(WARNING, "+monitor", master, f"quorum {master.quorum}")
    return "OK"


def remove(ctx: Context, name: str, links: dict[str, Link]) -> str | ErrorReply:
    """Stop monitoring a master: ``-monitor``, then a config flush."""
    master = ctx.masters.get(name)
    if master is None:
        return _NO_SUCH_MASTER
    for peer in master.sentinels.values():
        release_peer(peer, links)
    del ctx.masters[name]
    ctx.emit(WARNING, "-monitor", master)
    ctx.flush_config()
    return "OK"


def reset(ctx: Context, pattern: str, links: dict[str, Link]) -> int:
    """Reset every master matching ``pattern`` (``+reset-master``); the count."""
    count = 0
    for master in list(ctx.masters.values()):
        if stringmatch(pattern.encode(), master.name.encode()):
            reset_master(ctx, master, keep_sentinels=False, links=links, event=True)
            count += 1
    if count:
        ctx.flush_config()
    return count


def _positive(value: str, *, allow_zero: bool = False) -> int | None:
    text = value.strip()
    if not text.lstrip("-").isdigit():
        return None
    number = int(text)
    return number if number > 0 or (allow_zero and number == 0) else None


def _apply(master: Master, option: str, value: str) -> MasterConfig | ErrorReply:
    config = master.config
    bad = ErrorReply(f"ERR Invalid argument '{value}' for SENTINEL SET '{option}'")
    if option in _STRINGS:
        return replace(config, **{_STRINGS[option]: value or None})  # type: ignore[arg-type]
    number = _positive(value)
    if number is None:
        return bad
    attr = {
        "down-after-milliseconds": "down_after_ms",
        "failover-timeout": "failover_timeout_ms",
        "parallel-syncs": "parallel_syncs",
        "quorum": "quorum",
    }[option]
    return replace(config, **{attr: number})  # type: ignore[arg-type]


def set_options(ctx: Context, request: SetRequest) -> str | ErrorReply:
    """Apply option/value pairs in order; an error stops there, keeping earlier changes
    (as Redis does). One ``+set`` per change, then a config flush."""
    master = ctx.masters.get(request.master_name)
    if master is None:
        return _NO_SUCH_MASTER
    changed = 0
    result: str | ErrorReply = "OK"
    for raw_option, value in request.options:
        option = raw_option.lower()
        if value is not None and option in _NOT_YET:
            result = ErrorReply(
                f"ERR SENTINEL SET '{raw_option}' is not supported by sentinel_lab yet"
            )
            break
        if value is None or option not in SET_OPTIONS:
            result = ErrorReply(
                f"ERR Unknown option or number of arguments for SENTINEL SET '{raw_option}'"
            )
            break
        updated = _apply(master, option, value)
        if isinstance(updated, ErrorReply):
            result = updated
            break
        master.config = updated
        if option == "down-after-milliseconds":
            master.down_after_ms = updated.down_after_ms
            for replica in master.replicas.values():
                replica.down_after_ms = updated.down_after_ms
            for peer in master.sentinels.values():
                peer.down_after_ms = updated.down_after_ms
        shown = "******" if option in _REDACTED else value
        ctx.emit(WARNING, "+set", master, f"{option} {shown}")
        changed += 1
    if changed:
        ctx.flush_config()
    return result
