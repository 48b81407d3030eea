"""Failure detection: failure reports, PFAIL -> FAIL by majority, FAIL messages, clearing.

One deliberate difference from 7.0.15: reports count only from masters that serve slots
(and myself only if I serve slots), so FAIL always rests on a majority of the masters
that make up the cluster size. 7.0.15 also counts slotless masters, a known bug.
"""

from __future__ import annotations

from gossip_cluster.core.context import Context, FailEvidence, Level, Todo
from gossip_cluster.core.table import ClusterNode, F
from gossip_cluster.wire.messages import Fail, Header

__all__ = [
    "add_failure_report",
    "clear_failure_if_needed",
    "counted_reporters",
    "del_failure_report",
    "handle_fail_message",
    "mark_failing_if_needed",
]


def add_failure_report(ctx: Context, failing: ClusterNode, sender: ClusterNode) -> bool:
    """clusterNodeAddFailureReport: True if the report is new (else its time is refreshed)."""
    new = sender.name not in failing.fail_reports
    failing.fail_reports.pop(sender.name, None)
    failing.fail_reports[sender.name] = ctx.now
    return new


def cleanup_reports(ctx: Context, node: ClusterNode) -> None:
    """clusterNodeCleanupFailureReports: drop reports older than 2 x node timeout."""
    validity = ctx.config.fail_report_validity_ms
    for sender, at in list(node.fail_reports.items()):
        if ctx.now - at > validity:
            del node.fail_reports[sender]


def del_failure_report(ctx: Context, node: ClusterNode, sender: ClusterNode) -> bool:
    """clusterNodeDelFailureReport: True if ``sender`` had a report about ``node``."""
    if node.fail_reports.pop(sender.name, None) is None:
        return False
    cleanup_reports(ctx, node)
    return True


def counted_reporters(ctx: Context, node: ClusterNode) -> list[str]:
    """The valid reports that count: from masters serving slots (see the module doc)."""
    cleanup_reports(ctx, node)
    table = ctx.table
    counted = []
    for sender in node.fail_reports:
        reporter = table.get(sender)
        if reporter is not None and reporter.is_master and reporter.slots:
            counted.append(sender)
    return counted


def mark_failing_if_needed(ctx: Context, node: ClusterNode) -> None:
    """markNodeAsFailingIfNeeded: PFAIL here + reports from a majority -> FAIL, broadcast."""
    if not node.flags & F.PFAIL or node.flags & F.FAIL:
        return
    reporters = counted_reporters(ctx, node)
    myself = ctx.myself
    me_counts = myself.is_master and bool(myself.slots)
    failures = len(reporters) + (1 if me_counts else 0)
    size = ctx.table.size()
    needed = ctx.policy.fail_quorum(size)
    if failures < needed:
        return
    ctx.log(Level.NOTICE, f"Marking node {node.name} as failing (quorum reached).")
    node.flags = (node.flags & ~F.PFAIL) | F.FAIL
    node.fail_time = ctx.now
    ctx.evidence[node.name] = FailEvidence(
        node.name, ctx.now, tuple(reporters), me_counts, size, needed
    )
    ctx.broadcast(Fail(ctx.header(), node.name))
    ctx.do(Todo.UPDATE_STATE)
    ctx.save(fsync=False)


def clear_failure_if_needed(ctx: Context, node: ClusterNode) -> None:
    """clearNodeFailureIfNeeded: a reachable FAIL node may be cleared."""
    if node.is_slave or not node.slots:
        kind = "replica" if node.is_slave else "master without slots"
        ctx.log(Level.NOTICE, f"Clear FAIL state for node {node.name}: {kind} is reachable again.")
        node.flags &= ~F.FAIL
        ctx.do(Todo.UPDATE_STATE)
        ctx.save(fsync=False)
    if node.is_master and node.slots and ctx.now - node.fail_time > ctx.config.fail_undo_ms:
        ctx.log(
            Level.NOTICE,
            f"Clear FAIL state for node {node.name}: is reachable again and nobody is serving "
            "its slots after some time.",
        )
        node.flags &= ~F.FAIL
        ctx.do(Todo.UPDATE_STATE)
        ctx.save(fsync=False)


def handle_fail_message(
    ctx: Context, header: Header, nodename: str, sender: ClusterNode | None
) -> None:
    """A FAIL message: accepted from any known sender, as is."""
    if sender is None:
        ctx.log(
            Level.NOTICE,
            f"Ignoring FAIL message from unknown node {header.sender} about {nodename}",
        )
        return
    failing = ctx.table.get(nodename)
    if failing is None or failing.flags & (F.FAIL | F.MYSELF):
        return
    ctx.log(Level.NOTICE, f"FAIL message received from {header.sender} about {nodename}")
    failing.flags = (failing.flags & ~F.PFAIL) | F.FAIL
    failing.fail_time = ctx.now
    ctx.do(Todo.UPDATE_STATE)
    ctx.save(fsync=False)
