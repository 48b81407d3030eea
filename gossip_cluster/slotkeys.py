"""The keys of one hash slot on a backing server (GETKEYSINSLOT, COUNTKEYSINSLOT, and the
key checks of SETSLOT NODE).

The backing server is standalone, so it keeps no slot index: finding a slot's keys means
looking at every key, O(keys) per call where Redis Cluster answers from its index. A Lua
script does the walk inside the server (SCAN, CRC16 and the ``{tag}`` rule in Lua), so
only the slot's keys cross the socket; a server that refuses the script gets the same
walk done here with SCAN.
"""

from __future__ import annotations

from gossip_cluster.dataplane import BackendConn, BackendError, key_hash_slot
from labkit.resp.frames import Array, BulkString, SimpleError

__all__ = ["SCAN_COUNT", "SLOT_KEYS_SCRIPT", "keys_in_slot"]

SCAN_COUNT = 5000
"""Keys asked per SCAN call."""

SLOT_KEYS_SCRIPT = """#!lua flags=no-writes
local slot, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local tbl = {}
for i = 0, 255 do
  local c = bit.lshift(i, 8)
  for _ = 1, 8 do
    if bit.band(c, 0x8000) ~= 0 then c = bit.bxor(bit.lshift(c, 1), 0x1021) else c = bit.lshift(c, 1) end
  end
  tbl[i] = bit.band(c, 0xffff)
end
local function slot_of(k)
  local s = string.find(k, "{", 1, true)
  if s then
    local e = string.find(k, "}", s + 1, true)
    if e and e > s + 1 then k = string.sub(k, s + 1, e - 1) end
  end
  local crc = 0
  for i = 1, #k do
    local idx = bit.band(bit.bxor(bit.rshift(crc, 8), string.byte(k, i)), 0xff)
    crc = bit.band(bit.bxor(bit.lshift(crc, 8), tbl[idx]), 0xffff)
  end
  return bit.band(crc, 16383)
end
local out, seen, cursor = {}, {}, "0"
repeat
  local r = redis.call("SCAN", cursor, "COUNT", tonumber(ARGV[3]))
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    if not seen[k] and slot_of(k) == slot then
      seen[k] = true
      out[#out + 1] = k
      if limit > 0 and #out >= limit then return out end
    end
  end
until cursor == "0"
return out
"""
"""ARGV: slot, limit (0: all), SCAN count. Returns the keys, at most ``limit``."""


async def keys_in_slot(conn: BackendConn, slot: int, limit: int | None) -> list[bytes]:
    """The keys in ``slot`` (at most ``limit``; None: all of them)."""
    reply = await conn.call("EVAL", SLOT_KEYS_SCRIPT, 0, slot, limit or 0, SCAN_COUNT)
    if isinstance(reply, Array):
        return [k.value for k in reply.items if isinstance(k, BulkString)]
    if not isinstance(reply, SimpleError):
        raise BackendError(f"the slot keys script answered {reply!r}"[:200])
    return await _scan_here(conn, slot, limit)


async def _scan_here(conn: BackendConn, slot: int, limit: int | None) -> list[bytes]:
    found: list[bytes] = []
    seen: set[bytes] = set()
    cursor = b"0"
    while True:
        reply = await conn.call("SCAN", cursor, "COUNT", SCAN_COUNT)
        if not isinstance(reply, Array) or len(reply.items) != 2:
            raise BackendError(f"SCAN answered {reply!r}"[:200])
        head, keys = reply.items
        cursor = head.value if isinstance(head, BulkString) else b"0"
        if isinstance(keys, Array):
            for item in keys.items:
                if not isinstance(item, BulkString) or item.value in seen:
                    continue
                if key_hash_slot(item.value) == slot:
                    seen.add(item.value)
                    found.append(item.value)
                    if limit is not None and len(found) >= limit:
                        return found
        if cursor == b"0":
            return found
