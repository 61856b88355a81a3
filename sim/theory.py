"""Queueing theory the simulator is checked against."""

from __future__ import annotations

import math


def erlang_c_wait_s(arrivals_per_hour: float, service_mean_s: float, counters: int) -> float:
    """Mean wait in line of an M/M/c queue served first come, first served (Erlang C)."""
    offered = arrivals_per_hour / 3600 * service_mean_s  # in erlangs
    rho = offered / counters
    if not 0 < rho < 1:
        raise ValueError(f"utilisation {rho:.3f} must be between 0 and 1")
    below = sum(offered**k / math.factorial(k) for k in range(counters))
    top = offered**counters / math.factorial(counters) / (1 - rho)
    probability_of_waiting = top / (below + top)
    return probability_of_waiting * service_mean_s / (counters * (1 - rho))
