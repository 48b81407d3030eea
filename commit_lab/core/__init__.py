"""Pure cores of 1PC, 2PC (presumed abort), 3PC and 2PC with a consensus-kept decision.

No I/O, no clock, no global randomness: ``step(event, now_ms)`` and ``tick(now_ms)``
return :mod:`labkit.actions`. The simulator and the real-shard driver run the same cores.
"""

from __future__ import annotations

from commit_lab.core.config import SIM_CONFIG, CommitConfig
from commit_lab.core.consensus_decision import (
    ConsensusCoordinator,
    ConsensusParticipant,
    DecisionNode,
)
from commit_lab.core.coordinator_2pc import BUGS_2PC, Coordinator2PC
from commit_lab.core.coordinator_3pc import Coordinator3PC
from commit_lab.core.messages import Leg, Transfer, TxOutcome
from commit_lab.core.onepc import Coordinator1PC, Participant1PC
from commit_lab.core.participant import BALANCES, Participant
from commit_lab.core.participant_2pc import Participant2PC
from commit_lab.core.participant_3pc import Participant3PC

__all__ = [
    "BALANCES",
    "BUGS_2PC",
    "SIM_CONFIG",
    "CommitConfig",
    "ConsensusCoordinator",
    "ConsensusParticipant",
    "Coordinator1PC",
    "Coordinator2PC",
    "Coordinator3PC",
    "DecisionNode",
    "Leg",
    "Participant",
    "Participant1PC",
    "Participant2PC",
    "Participant3PC",
    "Transfer",
    "TxOutcome",
]
