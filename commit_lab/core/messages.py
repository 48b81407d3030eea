"""Transactions, the messages of 1PC/2PC/3PC and the durable records of their cores.

Every value here is a frozen, slotted dataclass with a deterministic ``repr``, so that
simulator traces hash the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from commit_lab.errors import BadTransactionError, UnknownAccountError

__all__ = [
    "Ack",
    "Decided",
    "Decision",
    "End",
    "Inquiry",
    "Leg",
    "OnePhaseApplied",
    "OnePhaseDone",
    "OnePhaseWrite",
    "Opening",
    "Outcome",
    "PreCommit",
    "PreCommitAck",
    "PreCommitted",
    "Prepare",
    "Prepared",
    "Promise",
    "Refuse",
    "Settled",
    "Started",
    "StateReply",
    "StateRequest",
    "Terminate",
    "Transfer",
    "TxOutcome",
    "Uncertain",
    "Vote",
    "split_by_shard",
    "validate",
]


# -- the transaction ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Leg:
    """Add ``delta`` (negative: a debit) to ``account``."""

    account: str
    delta: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """A client's transaction: legs on accounts of one or more shards, summing to 0."""

    txid: str
    legs: tuple[Leg, ...]


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """The coordinator's answer to a client: ``committed``, ``aborted``, ``rejected``,
    ``partial`` (1PC only) or ``unknown``, with a reason."""

    txid: str
    status: str
    reason: str = ""


def validate(transfer: object, directory: Mapping[str, str]) -> Transfer:
    """Check a transfer against ``directory`` (account -> shard); raise a typed error."""
    if not isinstance(transfer, Transfer):
        raise BadTransactionError(f"not a transfer: {transfer!r}")
    if not isinstance(transfer.txid, str) or not transfer.txid:
        raise BadTransactionError(f"transaction id must be a non-empty string: {transfer.txid!r}")
    if not isinstance(transfer.legs, tuple) or not transfer.legs:
        raise BadTransactionError(f"{transfer.txid}: a transaction needs at least one leg")
    seen: set[str] = set()
    total = 0
    for leg in transfer.legs:
        if not isinstance(leg, Leg) or not isinstance(leg.account, str):
            raise BadTransactionError(f"{transfer.txid}: malformed leg {leg!r}")
        if isinstance(leg.delta, bool) or not isinstance(leg.delta, int):
            raise BadTransactionError(f"{transfer.txid}: amount must be an integer: {leg!r}")
        if leg.account in seen:
            raise BadTransactionError(f"{transfer.txid}: account {leg.account} appears twice")
        if leg.account not in directory:
            raise UnknownAccountError(f"{transfer.txid}: unknown account {leg.account!r}")
        seen.add(leg.account)
        total += leg.delta
    if total != 0:
        raise BadTransactionError(f"{transfer.txid}: legs sum to {total}, not 0")
    return transfer


def split_by_shard(legs: Sequence[Leg], directory: Mapping[str, str]) -> dict[str, tuple[Leg, ...]]:
    """The legs of each participant shard, shards in sorted order."""
    out: dict[str, list[Leg]] = {}
    for leg in legs:
        out.setdefault(directory[leg.account], []).append(leg)
    return {shard: tuple(out[shard]) for shard in sorted(out)}


# -- messages ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Prepare:
    """2PC prepare / 3PC CanCommit: lock and check ``legs`` (this shard's), then vote."""

    txid: str
    coordinator: str
    participants: tuple[str, ...]
    legs: tuple[Leg, ...]


@dataclass(frozen=True, slots=True)
class Vote:
    """A participant's vote; ``reason`` says why a no."""

    txid: str
    yes: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """Commit (2PC commit, 3PC DoCommit) or abort ``txid``."""

    txid: str
    commit: bool


@dataclass(frozen=True, slots=True)
class Ack:
    """A participant applied the decision on ``txid``."""

    txid: str


@dataclass(frozen=True, slots=True)
class Inquiry:
    """An in-doubt participant (or a restarted coordinator) asks what became of ``txid``."""

    txid: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    """The answer to an :class:`Inquiry` from a peer that is in doubt too."""

    txid: str


@dataclass(frozen=True, slots=True)
class PreCommit:
    """3PC: move to pre-committed. ``round`` 0 is the coordinator, >0 a recovery coordinator."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class PreCommitAck:
    """3PC: pre-committed in ``round``."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class StateRequest:
    """3PC termination: the recovery coordinator of ``round`` asks for the state."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class StateReply:
    """3PC termination: ``state`` is uncertain, precommitted, committed or aborted;
    ``recovering`` says the participant crashed while in doubt."""

    txid: str
    round: int
    state: str
    recovering: bool = False


@dataclass(frozen=True, slots=True)
class Refuse:
    """3PC termination: a request of ``round`` refused, a later round is ``promised``."""

    txid: str
    round: int
    promised: int


@dataclass(frozen=True, slots=True)
class Terminate:
    """3PC termination: wake the recovery coordinator of ``round``."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class OnePhaseWrite:
    """1PC: apply these legs now, no vote."""

    txid: str
    legs: tuple[Leg, ...]


@dataclass(frozen=True, slots=True)
class OnePhaseDone:
    """1PC: the write was applied (``ok``) or refused (``reason``)."""

    txid: str
    ok: bool
    reason: str = ""


# -- participant records -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Opening:
    """The shard's balances (initial data, or a compaction snapshot)."""

    balances: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Prepared:
    """Voted yes: the legs' accounts are locked, the intent is recorded."""

    txid: str
    coordinator: str
    participants: tuple[str, ...]
    legs: tuple[Leg, ...]


@dataclass(frozen=True, slots=True)
class PreCommitted:
    """3PC: pre-committed in ``round``."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class Promise:
    """3PC: requests of rounds below ``round`` are refused from now on."""

    txid: str
    round: int


@dataclass(frozen=True, slots=True)
class Decided:
    """Apply the prepared legs (commit) or drop them (abort), releasing the locks."""

    txid: str
    commit: bool


@dataclass(frozen=True, slots=True)
class Settled:
    """The outcome of ``txid``, already reflected in the balances (shard recovery)."""

    txid: str
    commit: bool


@dataclass(frozen=True, slots=True)
class OnePhaseApplied:
    """1PC: the legs were applied at once."""

    txid: str
    legs: tuple[Leg, ...]


# -- coordinator records -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Started:
    """3PC coordinator: ``txid`` began with these participants."""

    txid: str
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Coordinator decision record (2PC: only commits are logged, presumed abort)."""

    txid: str
    commit: bool
    participants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class End:
    """Every participant acknowledged the decision on ``txid``; it can be forgotten."""

    txid: str
