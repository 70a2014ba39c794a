"""The tuning loop: strategies propose flips, a backend measures, the loop decides.

- :mod:`.strategy`  which sites to flip next, from estimates (pure functions)
- :mod:`.state`     the loop's state and its deterministic update from a step record
- :mod:`.store`     tune.h5: one record per step, appended atomically; resume
- :mod:`.guard`     the gradient guard: a configuration whose gradient differs is never chosen
- :mod:`.loop`      drives it all with a backend
"""
