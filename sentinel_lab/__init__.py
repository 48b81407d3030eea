"""sentinel_lab: Redis Sentinel reimplemented as a sans-I/O core plus thin drivers.

``sentinel_lab.core`` is the pure part (no I/O, no clock, no global randomness);
``sentinel_lab.sim_scenario`` runs it in the deterministic simulator.

Timing: the rules and periods are Redis 7.0's (PING, INFO, hello and ask periods,
down-after, the vote and failover timeouts), and the timer runs 10 to 19 times a second
as Redis's does. Deliberately, we do not wait for the next timer run where Redis does
(each wait is 0-100 ms, several of them lie between a kill and the switch):

* an IS-MASTER-DOWN-BY-ADDR answer is acted on at once: ODOWN, the leader check, the
  replicas' first 1 s INFO round (starting a failover still waits for the timer, whose
  runs are out of phase between sentinels, so that one candidate usually asks first);
* the timer also runs at a master's replicas' 1 s INFO deadlines (``sentinel_lab.core.wakeup``);
* the leader sends its hellos with the new address when it sees the promotion;
* after a switch the new master is connected at the next timer run, not up to 1 s later
  (Redis keeps the time of its last attempt at the old address, which with down-after
  at 1 s can make it see the new master SDOWN and fail over again).

Selecting and promoting a replica still move one state per timer run, as in Redis. See
``sentinel_lab.core.sentinel`` for the details.
"""
