"""The coordinator's write-ahead log: one JSON record per line with a CRC, fsynced.

``append`` writes and fsyncs. ``read`` returns the records; an unterminated last line (a
crash during the write: the newline goes last) is dropped, as a checksummed WAL reader does, while damage anywhere
else, unknown record types and contradictions (two outcomes for one transaction, an
end without a decision) raise :class:`LogCorruptError` naming the file and line.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from commit_lab.core.messages import End, Outcome, Started
from commit_lab.errors import LogCorruptError

__all__ = ["CoordinatorLog", "decode_record", "encode_record"]

CoordRecord = Outcome | End | Started


def encode_record(record: object) -> dict[str, object]:
    """A record as a JSON-ready dict."""
    if isinstance(record, Outcome):
        return {
            "type": "outcome",
            "txid": record.txid,
            "commit": record.commit,
            "participants": list(record.participants),
        }
    if isinstance(record, End):
        return {"type": "end", "txid": record.txid}
    if isinstance(record, Started):
        return {"type": "started", "txid": record.txid, "participants": list(record.participants)}
    raise LogCorruptError(f"cannot log {record!r}")


def _participants(data: dict[str, object]) -> tuple[str, ...]:
    value = data.get("participants")
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError("participants must be a list of names")
    return tuple(value)


def decode_record(data: object) -> CoordRecord:
    """A dict back into a record; raises ValueError if it is not one."""
    if not isinstance(data, dict):
        raise ValueError("a record must be a JSON object")
    txid = data.get("txid")
    if not isinstance(txid, str) or not txid:
        raise ValueError("txid must be a non-empty string")
    kind = data.get("type")
    if kind == "outcome":
        commit = data.get("commit")
        if not isinstance(commit, bool):
            raise ValueError("commit must be true or false")
        return Outcome(txid, commit, _participants(data))
    if kind == "end":
        return End(txid)
    if kind == "started":
        return Started(txid, _participants(data))
    raise ValueError(f"unknown record type {kind!r}")


class CoordinatorLog:
    """An append-only log file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.appended = 0
        self.dropped_torn_tail = False

    def append(self, record: object) -> None:
        """Write one record and fsync it."""
        body = json.dumps(encode_record(record), sort_keys=True, separators=(",", ":"))
        line = f"{zlib.crc32(body.encode()):08x} {body}\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        self.appended += 1

    def read(self) -> list[CoordRecord]:
        """Every record, checked; a torn last line is dropped."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        self.dropped_torn_tail = bool(tail)
        records: list[CoordRecord] = []
        for number, line in enumerate(complete, start=1):
            try:
                records.append(self._parse(line))
            except ValueError as exc:
                raise LogCorruptError(f"{self.path}:{number}: {exc}") from None
        self._check(records)
        return records

    @staticmethod
    def _parse(line: bytes) -> CoordRecord:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
        crc, _, body = text.partition(" ")
        if len(crc) != 8 or not body:
            raise ValueError("expected '<crc32 hex> <json>'")
        try:
            expected = int(crc, 16)
        except ValueError:
            raise ValueError(f"bad checksum field {crc!r}") from None
        if zlib.crc32(body.encode()) != expected:
            raise ValueError("checksum mismatch")
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"bad JSON: {exc.msg}") from None
        return decode_record(data)

    def _check(self, records: list[CoordRecord]) -> None:
        outcomes: dict[str, bool] = {}
        for index, record in enumerate(records, start=1):
            if isinstance(record, Outcome):
                if outcomes.get(record.txid, record.commit) != record.commit:
                    raise LogCorruptError(
                        f"{self.path}:{index}: {record.txid} is logged as both committed and aborted"
                    )
                outcomes[record.txid] = record.commit
            elif isinstance(record, End) and record.txid not in outcomes:
                raise LogCorruptError(
                    f"{self.path}:{index}: end record for {record.txid}, which has no decision"
                )
