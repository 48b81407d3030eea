"""Raft replication in front of real ``redis-server`` state machines.

``redis_raft.core`` is the pure Raft core (run by the simulator and by the asyncio
driver), ``redis_raft.storage`` the on-disk write-ahead log, and
``redis_raft.sim_scenario`` the ``raft`` simulation scenario.
"""
