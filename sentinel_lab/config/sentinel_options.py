"""The ``sentinel <option> ...`` lines, applied as ``sentinelHandleConfiguration`` does.

Redis queues every sentinel line while it reads the file, then applies them in three
passes: the global options (``PRE_MONITOR_OPTIONS``), then every ``monitor``, then the
rest. So an option may come before its ``monitor`` line, and the first error reported
is the first one in that order, not in file order. Reasons are Redis's own texts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from sentinel_lab.config.directives import PRE_MONITOR_OPTIONS, SENTINEL_OPTION_ARITY
from sentinel_lab.config.errors import SentinelConfigError
from sentinel_lab.config.model import (
    IgnoredDirective,
    KnownReplica,
    KnownSentinel,
    MasterConfig,
    ServerSettings,
)
from sentinel_lab.config.values import (
    BadValueError,
    is_numeric_host,
    parse_c_int,
    parse_unsigned,
    yes_no,
)

__all__ = ["SentinelLine", "SentinelOptions"]

_NO_MASTER = "No such master with specified name."
_RUN_ID_SIZE = 40


@dataclass(frozen=True, slots=True)
class SentinelLine:
    """One queued ``sentinel`` line: the option (lowercased) and its arguments."""

    option: str
    args: tuple[str, ...]
    line_no: int
    line: str
    path: str


@dataclass(slots=True)
class _Master:
    config: MasterConfig
    replicas: list[KnownReplica] = field(default_factory=list)
    sentinels: list[KnownSentinel] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)


class SentinelOptions:
    """Collects sentinel lines, then applies them to produce masters, epoch and id."""

    def __init__(self, *, check_files: bool) -> None:
        self._check_files = check_files
        self._queue: list[SentinelLine] = []
        self._masters: dict[str, _Master] = {}
        self.server = ServerSettings()
        self.myid: str | None = None
        self.current_epoch = 0
        self.ignored: list[IgnoredDirective] = []
        self._script_dir = Path.cwd()

    def add(self, entry: SentinelLine) -> None:
        self._queue.append(entry)

    def apply(self, server: ServerSettings, script_dir: Path) -> tuple[MasterConfig, ...]:
        """Apply the queue in Redis's three passes; return the masters in monitor order."""
        self.server = server
        self._script_dir = script_dir
        for wanted in ("pre", "monitor", "post"):
            for entry in self._queue:
                if _phase(entry.option) == wanted:
                    self._apply_one(entry)
        return tuple(
            replace(
                m.config,
                known_replicas=tuple(m.replicas),
                known_sentinels=tuple(m.sentinels),
                renamed_commands=tuple(m.renamed),
            )
            for m in self._masters.values()
        )

    # -- one line -------------------------------------------------------------------

    def _apply_one(self, entry: SentinelLine) -> None:
        arity = SENTINEL_OPTION_ARITY.get(entry.option)
        if arity is None or len(entry.args) not in arity:
            hint = None
            if arity is not None:
                counts = " or ".join(str(n) for n in arity)
                hint = f"sentinel {entry.option} takes {counts} argument(s), not {len(entry.args)}"
            raise _error(entry, "Unrecognized sentinel configuration statement.", hint)
        handler = _HANDLERS[entry.option]
        try:
            handler(self, entry, entry.args)
        except BadValueError as problem:
            raise _error(entry, problem.reason, problem.hint) from None

    def _master(self, name: str) -> _Master:
        master = self._masters.get(name)
        if master is None:
            raise BadValueError(_NO_MASTER)
        return master

    def _set(self, name: str, **changes: object) -> None:
        master = self._master(name)
        master.config = replace(master.config, **changes)  # type: ignore[arg-type]

    def _check_address(self, host: str, port_text: str) -> tuple[str, int]:
        port = parse_c_int(port_text, "Invalid port number.")
        if not 0 <= port <= 65535:
            raise BadValueError("Invalid port number.")
        if not self.server.resolve_hostnames and not is_numeric_host(host):
            raise BadValueError(
                "Can't resolve instance hostname.",
                "an IP address is needed while resolve-hostnames is no",
            )
        return host, port

    def _script(self, path: str, reason: str) -> str:
        if self._check_files and not os.access(self._script_dir / path, os.X_OK):
            raise BadValueError(reason)
        return path

    # -- handlers, one per option ---------------------------------------------------

    def _monitor(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        name, host, port_text, quorum_text = args
        quorum = parse_c_int(quorum_text, "Quorum must be 1 or greater.")
        if quorum <= 0:
            raise BadValueError("Quorum must be 1 or greater.")
        host, port = self._check_address(host, port_text)
        if name in self._masters:
            raise BadValueError("Duplicate master name.")
        self._masters[name] = _Master(MasterConfig(name=name, host=host, port=port, quorum=quorum))

    def _period(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        name, value = args
        self._master(name)
        reason = (
            "negative time parameter."
            if entry.option == "master-reboot-down-after-period"
            else "negative or zero time parameter."
        )
        ms = parse_c_int(value, reason)
        if ms < 0 or (ms == 0 and entry.option != "master-reboot-down-after-period"):
            raise BadValueError(reason)
        attr = {
            "down-after-milliseconds": "down_after_ms",
            "failover-timeout": "failover_timeout_ms",
            "master-reboot-down-after-period": "master_reboot_down_after_period_ms",
        }[entry.option]
        self._set(name, **{attr: ms})

    def _parallel_syncs(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        self._master(args[0])
        self._set(args[0], parallel_syncs=parse_c_int(args[1], "Invalid parallel-syncs value."))

    def _scripts(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        name, path = args
        self._master(name)
        if entry.option == "notification-script":
            reason = "Notification script seems non existing or non executable."
            self._set(name, notification_script=self._script(path, reason))
        else:
            reason = "Client reconfiguration script seems non existing or non executable."
            self._set(name, client_reconfig_script=self._script(path, reason))

    def _auth(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        name, value = args
        if entry.option == "auth-pass":
            self._set(name, auth_pass=value)
        else:
            self._set(name, auth_user=value)

    def _current_epoch(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        epoch = parse_unsigned(args[0], "Invalid current-epoch value.")
        self.current_epoch = max(self.current_epoch, epoch)

    def _myid(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        if len(args[0].encode("utf-8")) != _RUN_ID_SIZE:  # Redis counts bytes
            raise BadValueError("Malformed Sentinel id in myid option.", "it must be 40 characters")
        self.myid = args[0]

    def _epochs(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        name, value = args
        self._master(name)
        epoch = parse_unsigned(value, f"Invalid {entry.option} value.")
        if entry.option == "config-epoch":
            self._set(name, config_epoch=epoch)
            self.current_epoch = max(self.current_epoch, epoch)
        else:
            self._set(name, leader_epoch=epoch)

    def _known_replica(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        master = self._master(args[0])
        host, port = self._check_address(args[1], args[2])
        if any(r.host == host and r.port == port for r in master.replicas):
            raise BadValueError("Duplicate hostname and port for replica.")
        master.replicas.append(KnownReplica(host, port))

    def _known_sentinel(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        if len(args) == 3:  # the old form without a run id: Redis skips it unchecked
            self.ignored.append(
                IgnoredDirective(entry.line_no, "sentinel known-sentinel", entry.path)
            )
            return
        master = self._master(args[0])
        host, port = self._check_address(args[1], args[2])
        if any(s.runid == args[3] for s in master.sentinels):
            raise BadValueError("Duplicate runid for sentinel.")
        master.sentinels.append(KnownSentinel(host, port, args[3]))

    def _rename_command(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        master = self._master(args[0])
        if any(old.lower() == args[1].lower() for old, _ in master.renamed):
            raise BadValueError("Same command renamed multiple times with rename-command.")
        master.renamed.append((args[1], args[2]))

    def _globals(self, entry: SentinelLine, args: tuple[str, ...]) -> None:
        value = args[0]
        option = entry.option
        if option in ("deny-scripts-reconfig", "resolve-hostnames", "announce-hostnames"):
            flag = yes_no(value)
            if flag is None:
                what = "options" if option == "deny-scripts-reconfig" else "option"
                raise BadValueError(f"Please specify yes or no for the {option} {what}.")
            attr = option.replace("-", "_")
            self.server = replace(self.server, **{attr: flag})  # type: ignore[arg-type]
        elif option == "announce-port":
            port = parse_c_int(value, "Invalid port number.")
            if not 0 <= port <= 65535:
                raise BadValueError("Invalid port number.")
            self.server = replace(self.server, announce_port=port)
        elif value:  # announce-ip, sentinel-user, sentinel-pass: empty means unset
            attr = {"announce-ip": "announce_ip", "sentinel-user": "sentinel_user"}.get(
                option, "sentinel_pass"
            )
            self.server = replace(self.server, **{attr: value})  # type: ignore[arg-type]


def _phase(option: str) -> str:
    if option == "monitor":
        return "monitor"
    return "pre" if option in PRE_MONITOR_OPTIONS else "post"


def _error(entry: SentinelLine, reason: str, hint: str | None) -> SentinelConfigError:
    return SentinelConfigError(
        reason, path=entry.path, line_no=entry.line_no, line=entry.line, hint=hint
    )


_Handler = Callable[[SentinelOptions, SentinelLine, tuple[str, ...]], None]
_HANDLERS: dict[str, _Handler] = {
    "monitor": SentinelOptions._monitor,
    "down-after-milliseconds": SentinelOptions._period,
    "failover-timeout": SentinelOptions._period,
    "master-reboot-down-after-period": SentinelOptions._period,
    "parallel-syncs": SentinelOptions._parallel_syncs,
    "notification-script": SentinelOptions._scripts,
    "client-reconfig-script": SentinelOptions._scripts,
    "auth-pass": SentinelOptions._auth,
    "auth-user": SentinelOptions._auth,
    "current-epoch": SentinelOptions._current_epoch,
    "myid": SentinelOptions._myid,
    "config-epoch": SentinelOptions._epochs,
    "leader-epoch": SentinelOptions._epochs,
    "known-slave": SentinelOptions._known_replica,
    "known-replica": SentinelOptions._known_replica,
    "known-sentinel": SentinelOptions._known_sentinel,
    "rename-command": SentinelOptions._rename_command,
    "announce-ip": SentinelOptions._globals,
    "announce-port": SentinelOptions._globals,
    "deny-scripts-reconfig": SentinelOptions._globals,
    "sentinel-user": SentinelOptions._globals,
    "sentinel-pass": SentinelOptions._globals,
    "resolve-hostnames": SentinelOptions._globals,
    "announce-hostnames": SentinelOptions._globals,
}
