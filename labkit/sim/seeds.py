"""Seed arithmetic: one run seed, many independent and stable random streams."""

from __future__ import annotations

import hashlib
import random

__all__ = ["derive_seed", "fixed_seeds", "rng_for", "seeds_to_run"]


def derive_seed(seed: int, label: str) -> int:
    """A 64-bit seed for the stream ``label`` of run ``seed``; stable across processes."""
    digest = hashlib.blake2b(f"{seed}/{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng_for(seed: int, label: str) -> random.Random:
    """A ``random.Random`` for the stream ``label`` of run ``seed``."""
    return random.Random(derive_seed(seed, label))


def fixed_seeds(count: int, start: int = 1) -> list[int]:
    """The fixed seed list of a suite: ``start, start+1, ...`` (``count`` seeds)."""
    return list(range(start, start + count))


def seeds_to_run(replay_seed: int | None, count: int, start: int = 1) -> list[int]:
    """The one seed given with ``pytest --seed``, or else the fixed list."""
    if replay_seed is not None:
        return [replay_seed]
    return fixed_seeds(count, start)
