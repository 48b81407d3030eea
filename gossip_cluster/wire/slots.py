"""``SlotBitmap``: an immutable set of hash slots with the wire's bitmap layout.

On the wire slot ``s`` is bit ``s & 7`` of byte ``s >> 3`` of a 2048-byte array, which is
bit ``s`` of the array read as one little-endian integer; that integer is the whole state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from gossip_cluster.wire.constants import CLUSTER_SLOTS, SLOTS_BYTES

__all__ = ["EMPTY_SLOTS", "SlotBitmap"]

_ALL: Final = (1 << CLUSTER_SLOTS) - 1


def _check(slot: int) -> int:
    if not 0 <= slot < CLUSTER_SLOTS:
        raise ValueError(f"slot {slot} is outside 0..{CLUSTER_SLOTS - 1}")
    return slot


class SlotBitmap:
    """An immutable set of slots 0..16383; ``set``/``clear`` return a new bitmap."""

    __slots__ = ("_bits",)

    _bits: int

    def __init__(self, bits: int = 0) -> None:
        if not 0 <= bits <= _ALL:
            raise ValueError("a slot bitmap holds slots 0..16383 only")
        object.__setattr__(self, "_bits", bits)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SlotBitmap is immutable")

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> SlotBitmap:
        """The bitmap of a 2048-byte wire array."""
        if len(data) != SLOTS_BYTES:
            raise ValueError(f"a slot bitmap is {SLOTS_BYTES} bytes, not {len(data)}")
        return cls(int.from_bytes(data, "little"))

    @classmethod
    def of(cls, slots: Iterable[int]) -> SlotBitmap:
        """The bitmap holding exactly ``slots``."""
        bits = 0
        for slot in slots:
            bits |= 1 << _check(slot)
        return cls(bits)

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> SlotBitmap:
        """The bitmap of inclusive ``(first, last)`` ranges, as CLUSTER NODES prints them."""
        bits = 0
        for first, last in ranges:
            if _check(first) > _check(last):
                raise ValueError(f"empty slot range {first}-{last}")
            bits |= ((1 << (last - first + 1)) - 1) << first
        return cls(bits)

    @classmethod
    def full(cls) -> SlotBitmap:
        """All 16384 slots."""
        return cls(_ALL)

    # -- queries ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The 2048-byte wire array."""
        return self._bits.to_bytes(SLOTS_BYTES, "little")

    def to_int(self) -> int:
        """Bit ``s`` set for each slot ``s``."""
        return self._bits

    def test(self, slot: int) -> bool:
        """Whether ``slot`` is in the bitmap."""
        return bool(self._bits >> _check(slot) & 1)

    def __contains__(self, slot: object) -> bool:
        return isinstance(slot, int) and 0 <= slot < CLUSTER_SLOTS and bool(self._bits >> slot & 1)

    def __len__(self) -> int:
        return self._bits.bit_count()

    def __bool__(self) -> bool:
        return self._bits != 0

    def __iter__(self) -> Iterator[int]:
        bits = self._bits
        while bits:
            low = bits & -bits
            yield low.bit_length() - 1
            bits ^= low

    def ranges(self) -> list[tuple[int, int]]:
        """Inclusive ``(first, last)`` runs of consecutive slots, in order."""
        out: list[tuple[int, int]] = []
        bits = self._bits
        base = 0
        while bits:
            skip = (bits & -bits).bit_length() - 1
            bits >>= skip
            base += skip
            run = (~bits & (bits + 1)).bit_length() - 1  # length of the run of ones
            out.append((base, base + run - 1))
            bits >>= run
            base += run
        return out

    # -- derivation -----------------------------------------------------------------------

    def set(self, *slots: int) -> SlotBitmap:
        """A new bitmap with ``slots`` added."""
        bits = self._bits
        for slot in slots:
            bits |= 1 << _check(slot)
        return SlotBitmap(bits)

    def clear(self, *slots: int) -> SlotBitmap:
        """A new bitmap with ``slots`` removed."""
        bits = self._bits
        for slot in slots:
            bits &= ~(1 << _check(slot))
        return SlotBitmap(bits)

    def __or__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap(self._bits | other._bits)

    def __and__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap(self._bits & other._bits)

    def __sub__(self, other: SlotBitmap) -> SlotBitmap:
        return SlotBitmap(self._bits & ~other._bits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SlotBitmap) and other._bits == self._bits

    def __hash__(self) -> int:
        return hash(self._bits)

    def __repr__(self) -> str:
        runs = self.ranges()
        text = " ".join(f"{a}-{b}" if a != b else str(a) for a, b in runs[:8])
        more = " ..." if len(runs) > 8 else ""
        return f"SlotBitmap({text}{more})" if text else "SlotBitmap()"


EMPTY_SLOTS: Final = SlotBitmap()
