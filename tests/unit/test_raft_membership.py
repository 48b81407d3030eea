"""Single-server membership changes with non-voting learners."""

from __future__ import annotations

from redis_raft.core import AddLearner, ErrorReply, PromoteLearner, RaftCore, RemoveNode, Write
from redis_raft.core.testing import LocalCluster


def voters(core: RaftCore) -> tuple[str, ...]:
    return core.config.voters


def test_add_learner_promote_remove() -> None:
    cluster = LocalCluster(("n1", "n2", "n3"))
    cluster.elect("n1")
    for i in range(5):
        cluster.request("n1", f"w{i}", Write(f"SET k v{i}".encode()))
    cluster.deliver()
    cluster.add_node("n4")
    cluster.isolate("n4")
    cluster.request("n1", "add", AddLearner("n4"))
    cluster.deliver()
    n1 = cluster.core("n1")
    assert cluster.replies_to("add") == ["OK"]
    assert n1.config.learners == ("n4",) and "n4" not in n1.config.voters
    # One change at a time, and no promotion before the learner has caught up.
    cluster.request("n1", "promote-early", PromoteLearner("n4"))
    assert cluster.replies_to("promote-early")[0] == ErrorReply(
        f"ERR learner n4 is not caught up (0 of {n1.commit})"
    )
    cluster.heal()
    cluster.advance(100)
    n4 = cluster.core("n4")
    assert n4.log.last_index == n1.log.last_index and not n4.promotable
    assert cluster.nodes["n4"].kv.data == cluster.nodes["n1"].kv.data
    cluster.request("n1", "promote", PromoteLearner("n4"))
    cluster.request("n1", "second", RemoveNode("n3"))
    assert cluster.replies_to("second") == [
        ErrorReply("ERR a configuration change is already in progress")
    ]
    cluster.deliver()
    assert cluster.replies_to("promote") == ["OK"]
    assert voters(n1) == ("n1", "n2", "n3", "n4") and n4.config.is_voter("n4")
    cluster.request("n1", "remove", RemoveNode("n3"))
    cluster.deliver()
    assert cluster.replies_to("remove") == ["OK"]
    assert voters(n1) == ("n1", "n2", "n4")


def test_learner_acks_do_not_commit() -> None:
    cluster = LocalCluster(("n1", "n2", "n3"))
    cluster.elect("n1")
    cluster.add_node("n4")
    cluster.request("n1", "add", AddLearner("n4"))
    cluster.deliver()
    cluster.isolate("n2")
    cluster.cut("n1", "n3")
    before = cluster.core("n1").commit
    cluster.request("n1", "w", Write(b"SET k v"))
    cluster.deliver()
    assert cluster.core("n4").log.last_index == cluster.core("n1").log.last_index
    assert cluster.core("n1").commit == before  # only the learner has it: not committed


def test_leader_removing_itself_steps_down_once_committed() -> None:
    cluster = LocalCluster(("n1", "n2", "n3"))
    cluster.elect("n1")
    cluster.request("n1", "rm", RemoveNode("n1"))
    cluster.deliver()
    n1 = cluster.core("n1")
    assert not n1.is_leader and not n1.promotable
    assert any(
        e.event.name == "-step-down" and "removed" in e.event.details for e in cluster.events
    )
    cluster.advance(400)
    leader = cluster.leader()
    assert leader in ("n2", "n3")
    assert cluster.core(leader).config.voters == ("n2", "n3")


def test_bad_changes_are_refused() -> None:
    cluster = LocalCluster(("n1", "n2", "n3"))
    cluster.elect("n1")
    cluster.request("n1", "a", AddLearner("n2"))
    cluster.request("n1", "b", PromoteLearner("n3"))
    cluster.request("n1", "c", RemoveNode("n9"))
    assert cluster.replies_to("a") == [ErrorReply("ERR n2 is already a member")]
    assert cluster.replies_to("b") == [ErrorReply("ERR n3 is not a learner")]
    assert cluster.replies_to("c") == [ErrorReply("ERR n9 is not a member")]
