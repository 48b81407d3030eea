"""sentinel_lab: Redis Sentinel reimplemented as a sans-I/O core plus thin drivers.

``sentinel_lab.core`` is the pure part (no I/O, no clock, no global randomness);
``sentinel_lab.sim_scenario`` runs it in the deterministic simulator.
"""
