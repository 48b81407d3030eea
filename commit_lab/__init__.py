"""commit_lab: one-, two- and three-phase commit across Redis shards, and where each breaks.

``core/`` holds the pure protocol cores; :mod:`.sim_scenario` runs them in the
simulator with the checkers of :mod:`.checkers`; :mod:`.shard` and
:mod:`.coordinator_log` keep their durable state in real redis-server shards and a
write-ahead log file; :mod:`.demos` and :mod:`.cli` are the demonstrations.
"""
