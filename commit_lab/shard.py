"""A participant's durable state in its own real redis-server shard.

Keys: ``acct:<name>`` (balance), ``lock:<name>`` (the transaction holding it),
``intent:<txid>`` (a hash: ``state`` prepared/precommitted/committed/aborted,
``coordinator``, ``participants``, ``legs`` as JSON, ``promised``). Each record a
participant core persists becomes one atomic operation: prepare is a script that
takes every lock with ``SET NX`` semantics and writes the intent, or changes nothing;
commit and abort are a script that applies the legs, releases the locks and marks the
intent. With ``appendonly yes`` and ``appendfsync always`` each is on disk before its
reply. :meth:`ShardStore.recover` rebuilds the core's records from the shard, and
refuses a shard whose locks and intents disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from commit_lab.core.messages import (
    Decided,
    Leg,
    OnePhaseApplied,
    Opening,
    PreCommitted,
    Prepared,
    Promise,
    Settled,
)
from commit_lab.errors import LogCorruptError, ShardError

__all__ = ["SHARD_DIRECTIVES", "ShardStore"]

SHARD_DIRECTIVES: list[tuple[str, str | int | list[str]]] = [
    ("appendonly", "yes"),
    ("appendfsync", "always"),
]
"""redis-server settings of a shard: every write is on disk before Redis replies."""

PREPARE = """
for i, key in ipairs(KEYS) do
  if i > 1 then
    local holder = redis.call('GET', key)
    if holder and holder ~= ARGV[1] then
      return redis.error_reply('LOCKED ' .. key .. ' is held by ' .. holder)
    end
  end
end
for i, key in ipairs(KEYS) do
  if i > 1 then redis.call('SET', key, ARGV[1]) end
end
redis.call('HSET', KEYS[1], 'state', 'prepared', 'coordinator', ARGV[2],
           'participants', ARGV[3], 'legs', ARGV[4], 'promised', '0')
return 'OK'
"""

FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'committed' or state == 'aborted' then return state end
if state and ARGV[1] == 'commit' then
  local legs = cjson.decode(redis.call('HGET', KEYS[1], 'legs'))
  for _, leg in ipairs(legs) do
    redis.call('INCRBY', 'acct:' .. leg[1], leg[2])
  end
end
if state then
  local legs = cjson.decode(redis.call('HGET', KEYS[1], 'legs'))
  for _, leg in ipairs(legs) do
    local lock = 'lock:' .. leg[1]
    if redis.call('GET', lock) == ARGV[2] then redis.call('DEL', lock) end
  end
end
local final = 'aborted'
if ARGV[1] == 'commit' then final = 'committed' end
redis.call('HSET', KEYS[1], 'state', final)
return final
"""


class ShardStore:
    """The durable side of one participant: record in, one atomic Redis operation out."""

    def __init__(self, name: str, client: redis.Redis) -> None:
        self.name = name
        self.client = client
        self.writes = 0

    def seed(self, balances: Mapping[str, int]) -> None:
        """Create the accounts that do not exist yet."""
        pipe = self.client.pipeline(transaction=True)
        for account, amount in sorted(balances.items()):
            pipe.set(f"acct:{account}", amount, nx=True)
        pipe.execute()

    def persist(self, record: object) -> None:
        """Store one core record atomically; raises :class:`ShardError` if refused."""
        try:
            self._persist(record)
        except redis.ResponseError as exc:
            raise ShardError(f"shard {self.name} refused {type(record).__name__}: {exc}") from None
        self.writes += 1

    def _persist(self, record: object) -> None:
        c = self.client
        if isinstance(record, Prepared):
            keys = [f"intent:{record.txid}"] + [f"lock:{leg.account}" for leg in record.legs]
            legs = json.dumps([[leg.account, leg.delta] for leg in record.legs])
            c.eval(
                PREPARE,
                len(keys),
                *keys,
                record.txid,
                record.coordinator,
                ",".join(record.participants),
                legs,
            )
        elif isinstance(record, Decided):
            c.eval(
                FINISH,
                1,
                f"intent:{record.txid}",
                "commit" if record.commit else "abort",
                record.txid,
            )
        elif isinstance(record, PreCommitted):
            c.hset(
                f"intent:{record.txid}", mapping={"state": "precommitted", "promised": record.round}
            )
        elif isinstance(record, Promise):
            c.hset(f"intent:{record.txid}", "promised", record.round)
        elif isinstance(record, OnePhaseApplied):
            pipe = c.pipeline(transaction=True)
            for leg in record.legs:
                pipe.incrby(f"acct:{leg.account}", leg.delta)
            pipe.hset(f"intent:{record.txid}", "state", "committed")
            pipe.execute()
        elif isinstance(record, Opening):
            self.seed(dict(record.balances))
        else:
            raise ShardError(f"shard {self.name} cannot store {record!r}")

    # -- reading back ----------------------------------------------------------------
    def balances(self) -> dict[str, int]:
        """Every account's balance."""
        out: dict[str, int] = {}
        for key in sorted(self.client.scan_iter(match="acct:*")):
            name = _text(key)[len("acct:") :]
            value = self.client.get(key)
            try:
                out[name] = int(_text(value))
            except (TypeError, ValueError):
                raise LogCorruptError(
                    f"shard {self.name}: balance of {name} is not an integer: {value!r}"
                ) from None
        return out

    def locks(self) -> dict[str, str]:
        """Account -> the transaction holding its lock."""
        return {
            _text(key)[len("lock:") :]: _text(self.client.get(key))
            for key in sorted(self.client.scan_iter(match="lock:*"))
        }

    def recover(self) -> list[object]:
        """The core's records: balances, pending intents, known outcomes; checked."""
        records: list[object] = [Opening(tuple(sorted(self.balances().items())))]
        held = self.locks()
        claimed: dict[str, str] = {}
        for key in sorted(self.client.scan_iter(match="intent:*")):
            txid = _text(key)[len("intent:") :]
            fields = {_text(k): _text(v) for k, v in self.client.hgetall(key).items()}
            records += self._intent(txid, fields, held, claimed)
        stray = sorted(set(held) - set(claimed))
        if stray:
            shown = ", ".join(f"lock:{a} (held by {held[a]})" for a in stray)
            raise LogCorruptError(f"shard {self.name}: locks without a prepared intent: {shown}")
        return records

    def _intent(
        self, txid: str, fields: dict[str, str], held: dict[str, str], claimed: dict[str, str]
    ) -> list[object]:
        state = fields.get("state")
        where = f"shard {self.name}: intent {txid}"
        if state in ("committed", "aborted"):
            return [Settled(txid, state == "committed")]
        if state not in ("prepared", "precommitted"):
            raise LogCorruptError(f"{where} has an unknown state {state!r}")
        try:
            legs = tuple(Leg(str(a), int(d)) for a, d in json.loads(fields["legs"]))
            promised = int(fields.get("promised", "0"))
            participants = tuple(p for p in fields["participants"].split(",") if p)
            coordinator = fields["coordinator"]
        except (KeyError, ValueError, TypeError) as exc:
            raise LogCorruptError(f"{where} is malformed: {exc!r}") from None
        for leg in legs:
            if held.get(leg.account) != txid:
                raise LogCorruptError(
                    f"{where} is {state} but lock:{leg.account} is held by "
                    f"{held.get(leg.account) or 'nobody'}"
                )
            claimed[leg.account] = txid
        out: list[object] = [Prepared(txid, coordinator, participants, legs)]
        if promised:
            out.append(Promise(txid, promised))
        if state == "precommitted":
            out.append(PreCommitted(txid, promised))
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
