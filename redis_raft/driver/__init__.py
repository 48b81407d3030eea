"""The asyncio driver of a node: options, the process main, and the parts it wires up.

:mod:`~redis_raft.driver.node` drives the core, :mod:`~redis_raft.driver.commands`
sorts client commands, :mod:`~redis_raft.driver.backing` starts or reaches the backing
redis-server, :mod:`~redis_raft.driver.respclient` talks RESP to other servers,
:mod:`~redis_raft.driver.config` answers ``CONFIG``, and :mod:`~redis_raft.driver.main`
runs a node process.
"""
