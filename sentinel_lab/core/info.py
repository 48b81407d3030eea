"""A pure parser for the INFO text Sentinel reads from masters and replicas.

It reads what ``sentinelRefreshInstanceInfo`` reads, with the same prefix tests: a
malformed line is skipped, never an error. Only a value that is not text at all raises
:class:`InfoFormatError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinel_lab.core.errors import InfoFormatError

__all__ = ["InfoReport", "ReplicaLine", "parse_info"]


@dataclass(frozen=True, slots=True)
class ReplicaLine:
    """A master's ``slaveN:ip=..,port=..,state=..,offset=..,lag=..`` line."""

    ip: str
    port: int
    state: str = ""
    offset: int = 0
    lag: int = 0


@dataclass(frozen=True, slots=True)
class InfoReport:
    """The fields Sentinel uses. ``role`` is None when no ``role:`` line was found."""

    run_id: str | None = None
    role: str | None = None
    replicas: tuple[ReplicaLine, ...] = ()
    master_host: str | None = None
    master_port: int | None = None
    master_link_up: bool = False
    master_link_down_since_ms: int = 0
    slave_priority: int | None = None
    slave_repl_offset: int | None = None
    replica_announced: int | None = None


def _atoi(text: str) -> int:
    """C's atoi/strtoll: leading spaces, an optional sign, digits; 0 if none."""
    s = text.lstrip(" \t")
    sign = 1
    if s[:1] in ("-", "+"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    digits = ""
    for ch in s:
        if "0" <= ch <= "9":
            digits += ch
        else:
            break
    return sign * int(digits) if digits else 0


def _replica_line(line: str) -> ReplicaLine | None:
    if "ip=" not in line:
        # The pre-2.8 form: slave0:<ip>,<port>,<state>
        _, _, rest = line.partition(":")
        parts = rest.split(",")
        if len(parts) < 3:
            return None
        return ReplicaLine(parts[0], _atoi(parts[1]), parts[2])
    fields: dict[str, str] = {}
    _, _, rest = line.partition(":")
    for item in rest.split(","):
        key, sep, value = item.partition("=")
        if sep and key not in fields:
            fields[key] = value
    ip_at = line.find("ip=")
    port_at = line.find("port=")
    if port_at < 0:
        return None
    ip = line[ip_at + 3 :].split(",", 1)[0]
    port = _atoi(line[port_at + 5 :].split(",", 1)[0])
    return ReplicaLine(
        ip,
        port,
        fields.get("state", ""),
        _atoi(fields.get("offset", "0")),
        _atoi(fields.get("lag", "0")),
    )


def parse_info(value: object) -> InfoReport:
    """Parse an INFO reply (``bytes`` or ``str``); malformed lines are skipped."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        raise InfoFormatError(f"INFO reply is not text: {type(value).__name__}")
    run_id: str | None = None
    role: str | None = None
    replicas: list[ReplicaLine] = []
    master_host: str | None = None
    master_port: int | None = None
    link_up = False
    down_since_ms = 0
    priority: int | None = None
    offset: int | None = None
    announced: int | None = None
    for line in text.split("\r\n"):
        if len(line) >= 47 and line.startswith("run_id:"):
            run_id = line[7:47]
        if len(line) >= 7 and line.startswith("slave") and line[5:6].isdigit():
            replica = _replica_line(line)
            if replica is not None:
                replicas.append(replica)
        if len(line) >= 32 and line.startswith("master_link_down_since_seconds"):
            down_since_ms = _atoi(line[31:]) * 1000
        if line.startswith("role:master"):
            role = "master"
        elif line.startswith("role:slave"):
            role = "slave"
        if role == "slave":
            if line.startswith("master_host:"):
                master_host = line[12:]
            elif line.startswith("master_port:"):
                master_port = _atoi(line[12:])
            elif line.startswith("master_link_status:"):
                link_up = line[19:].lower() == "up"
            elif line.startswith("slave_priority:"):
                priority = _atoi(line[15:])
            elif line.startswith("slave_repl_offset:"):
                offset = max(0, _atoi(line[18:]))
            elif line.startswith("replica_announced:"):
                announced = _atoi(line[18:])
    return InfoReport(
        run_id=run_id,
        role=role,
        replicas=tuple(replicas),
        master_host=master_host,
        master_port=master_port,
        master_link_up=link_up,
        master_link_down_since_ms=down_since_ms,
        slave_priority=priority,
        slave_repl_offset=offset,
        replica_announced=announced,
    )
