"""Erlang C: the M/M/N queue (Poisson arrivals, exponential handling, N agents, FCFS, nobody hangs up).

The classic staffing formula, used to check the simulator (routing/simulate.py) and to size a team. Load
`A` is in Erlangs: arrivals per second times the average handling time (AHT) in seconds, i.e. how many
agents would be busy on average. The queue is stable only while A < N; otherwise the line grows without
bound and Erlang C is undefined (ValueError).

Erlang B is computed by its recurrence B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)), whose terms stay in
[0, 1]: no factorial or power of A is ever formed, so it holds for thousands of agents. Erlang C follows
as C = N B / (N - A (1 - B)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def load_erlangs(arrivals_per_hour: float, aht_seconds: float) -> float:
    """Offered load in Erlangs for an arrival rate per hour and an average handling time in seconds."""
    return arrivals_per_hour * aht_seconds / 3600.0


def _check(agents: int, load: float) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents must be a whole number of at least 1, not {agents!r}")
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load must be a finite number of Erlangs >= 0, not {load!r}")


def erlang_b(agents: int, load: float) -> float:
    """Probability that an arrival finds all `agents` busy when blocked calls are lost (M/M/N/N)."""
    _check(agents, load)
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arrival has to wait (all agents busy) in the M/M/N queue."""
    _check(agents, load)
    if load >= agents:
        raise ValueError(f"unstable queue: a load of {load:g} Erlangs needs more than {agents} agents "
                         f"(Erlang C is undefined when load >= agents; the line grows without bound)")
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1.0 - b))


def service_level(agents: int, load: float, aht_seconds: float, threshold_seconds: float) -> float:
    """Share of arrivals answered within `threshold_seconds` (wait <= threshold), as a fraction:
    1 - C exp(-(N - A) t / AHT). At threshold 0 it is the share answered without waiting."""
    if aht_seconds <= 0 or threshold_seconds < 0:
        raise ValueError("the AHT must be positive and the threshold at least 0 seconds")
    c = erlang_c(agents, load)
    return 1.0 - c * math.exp(-(agents - load) * threshold_seconds / aht_seconds)


def average_speed_of_answer(agents: int, load: float, aht_seconds: float) -> float:
    """Mean wait in seconds over all arrivals, those answered at once included: C AHT / (N - A)."""
    if aht_seconds <= 0:
        raise ValueError("the AHT must be positive")
    return erlang_c(agents, load) * aht_seconds / (agents - load)


def occupancy(agents: int, load: float) -> float:
    """Share of agent time spent handling work: A / N (only meaningful for a stable queue)."""
    _check(agents, load)
    if load >= agents:
        raise ValueError(f"unstable queue: a load of {load:g} Erlangs needs more than {agents} agents")
    return load / agents


@dataclass(frozen=True)
class ErlangC:
    """Every Erlang C figure for one staffing point."""

    agents: int
    load: float  # Erlangs
    aht_seconds: float
    threshold_seconds: float
    probability_of_waiting: float
    service_level: float  # fraction answered within the threshold
    asa_seconds: float  # average speed of answer, over all arrivals
    occupancy: float

    def as_dict(self) -> dict[str, float | int]:
        return {"agents": self.agents, "load_erlangs": self.load, "probability_of_waiting": self.probability_of_waiting,
                "service_level": self.service_level, "asa_seconds": self.asa_seconds, "occupancy": self.occupancy}


def erlang_c_figures(agents: int, arrivals_per_hour: float, aht_seconds: float,
                     threshold_seconds: float) -> ErlangC:
    """Erlang C for `agents` answering `arrivals_per_hour` with an AHT, service level at a threshold."""
    load = load_erlangs(arrivals_per_hour, aht_seconds)
    return ErlangC(agents, load, aht_seconds, threshold_seconds, erlang_c(agents, load),
                   service_level(agents, load, aht_seconds, threshold_seconds),
                   average_speed_of_answer(agents, load, aht_seconds), occupancy(agents, load))


def agents_for_service_level(load: float, aht_seconds: float, threshold_seconds: float, target: float,
                             *, max_agents: int = 100_000) -> int:
    """The fewest agents whose service level reaches `target` (a fraction, e.g. 0.8 for "80 % in 20 s").

    Service level rises with every agent added, so the first N above the load that reaches the target is
    the answer. A target of 1 is never reached (someone always risks waiting), hence it must be below 1.
    """
    if not 0 < target < 1:
        raise ValueError(f"the target service level must be a fraction strictly between 0 and 1, not {target!r}")
    if aht_seconds <= 0 or threshold_seconds < 0:
        raise ValueError("the AHT must be positive and the threshold at least 0 seconds")
    _check(1, load)
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, aht_seconds, threshold_seconds) < target:
        agents += 1
        if agents > max_agents:
            raise ValueError(f"no staffing up to {max_agents} agents reaches the target")
    return agents
