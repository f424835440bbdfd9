"""A discrete-event simulation of one queue, driving the real routing engine on a virtual clock.

Contacts arrive as a Poisson process, each needs a handling time (exponential by default, or fixed) and,
optionally, has a patience (exponential): still waiting when it runs out, the customer hangs up. The
engine (routing/core) decides who answers what; the simulator only advances the clock from event to event
(arrival, end of handling, end of patience), calls `engine.tick(now)` after each, accepts every offer at
once and schedules the end of each assignment. The figures (docs/routing.md, "Simulator and Erlang C"):

- offered: contacts arriving inside the measured window [warm-up, duration).
- answered / abandoned: of those, assigned to an agent / hung up while waiting.
- wait: from arrival until assigned (answered) or until hanging up (abandoned).
- service level: answered with wait <= threshold, divided by answered plus abandoned with wait > threshold.
  Abandons within the threshold count neither way (the customer gave up before the target was missed).
  Without abandonment this is P(wait <= threshold), exactly what Erlang C's service level gives.
- ASA (average speed of answer): mean wait of the answered contacts, immediate answers included.
- waited: share of the answered contacts that were not answered at once (wait > 0); Erlang C's
  probability of waiting.
- abandonment rate: abandoned / offered.
- occupancy: busy agent time / agent time within the window (with a per-agent capacity above 1, busy
  slot time / slot time).
- max wait: the longest wait of an offered contact, answered or abandoned.

Every contact's handling time and patience are drawn when it arrives, from one `random.Random(seed)` in
arrival order, so a seed fixes the whole sample path whatever agent the engine picks; and turning patience
on or switching the handling distribution keeps the same arrivals (common random numbers).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import asdict, dataclass, field

from routing import erlang
from routing.core import Agent, Assigned, Contact, Decision, Engine, Offered, Queue
from routing.core.model import EXCLUSIVE_CHANNELS, STRATEGIES, capacity_for

HANDLING = ("exponential", "fixed")
# The warm-up when none is given: the first tenth of the run starts from an empty system and idle agents,
# which is not the steady state Erlang C describes.
DEFAULT_WARMUP_SHARE = 0.1

# Event kinds, in the order they are handled when they fall on the same instant: a finished contact frees
# its agent before a new arrival is routed, and a customer about to be answered does not hang up.
_DONE, _ARRIVAL, _ABANDON = 0, 1, 2
_QUEUE_ID = 1


@dataclass(frozen=True)
class SimulationConfig:
    agents: int
    arrival_rate: float  # contacts per hour
    aht: float  # average handling time, seconds
    duration: float  # hours of simulated time
    threshold: float = 20.0  # seconds, for the service level
    seed: int = 0
    patience: float | None = None  # mean seconds a customer waits before hanging up; None: forever
    warmup: float | None = None  # hours excluded from the figures; None: DEFAULT_WARMUP_SHARE of the duration
    handling: str = "exponential"
    channel: str = "voice"
    strategy: str = "longest_idle"
    capacity: int | None = None  # contacts an agent holds at once on the channel; None: the engine's default

    @property
    def warmup_hours(self) -> float:
        return self.duration * DEFAULT_WARMUP_SHARE if self.warmup is None else self.warmup

    @property
    def slots_per_agent(self) -> int:
        return self.capacity if self.capacity is not None else capacity_for({}, self.channel)

    @property
    def servers(self) -> int:
        """Contacts handled at once when every agent is full: the N of Erlang C."""
        return self.agents * self.slots_per_agent

    @property
    def load(self) -> float:
        return erlang.load_erlangs(self.arrival_rate, self.aht)

    def validate(self) -> None:
        """Raise ValueError naming the first setting that makes no sense."""
        problems = [
            (self.agents < 1, f"--agents must be at least 1, not {self.agents}"),
            (not _positive(self.arrival_rate), f"--arrival-rate must be a positive number, not {self.arrival_rate:g}"),
            (not _positive(self.aht), f"--aht must be a positive number of seconds, not {self.aht:g}"),
            (not _positive(self.duration), f"--duration must be a positive number of hours, not {self.duration:g}"),
            (not (math.isfinite(self.threshold) and self.threshold >= 0),
             f"--threshold must be at least 0 seconds, not {self.threshold:g}"),
            (self.patience is not None and not _positive(self.patience),
             f"--patience must be a positive number of seconds, not {self.patience}"),
            (not (math.isfinite(self.warmup_hours) and 0 <= self.warmup_hours < self.duration),
             f"--warmup must be at least 0 and shorter than --duration ({self.warmup_hours:g} >= {self.duration:g})"),
            (self.handling not in HANDLING, f"--handling must be one of {', '.join(HANDLING)}"),
            (self.strategy not in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}"),
            (not self.channel, "--channel must not be empty"),
            (self.capacity is not None and self.capacity < 1, f"--capacity must be at least 1, not {self.capacity}"),
            # The engine gives an agent on an exclusive channel nothing else, whatever its capacity says.
            (self.capacity is not None and self.capacity > 1 and self.channel in EXCLUSIVE_CHANNELS,
             f"--capacity must be 1 on {self.channel}: an agent handles one {self.channel} contact at a time"),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class SimulationResult:
    offered: int
    answered: int
    abandoned: int
    answered_within_threshold: int
    answered_after_waiting: int
    abandoned_within_threshold: int
    service_level: float | None  # fraction; None when nothing counts toward it
    asa_seconds: float | None  # None when nothing was answered
    waited: float | None  # share of the answered that waited at all; None when nothing was answered
    abandonment_rate: float | None  # None when nothing was offered
    occupancy: float
    max_wait_seconds: float
    measured_hours: float
    events: int  # events simulated, the window and the run-out together

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass
class _Contact:
    arrived_at: float
    handling: float
    patience: float
    measured: bool
    waiting: bool = True


@dataclass
class _Tally:
    """Figures accumulated over the measured window."""

    start: float
    end: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within: int = 0
    answered_waiting: int = 0
    abandoned_within: int = 0
    total_wait: float = 0.0
    max_wait: float = 0.0
    busy_area: float = 0.0  # integral of busy slots over the window, slot-seconds
    busy: int = 0
    busy_since: float = 0.0
    pending: set[int] = field(default_factory=set)  # measured contacts whose wait is not known yet

    def set_busy(self, now: float, delta: int) -> None:
        lo, hi = max(self.busy_since, self.start), min(now, self.end)
        if hi > lo:
            self.busy_area += self.busy * (hi - lo)
        self.busy += delta
        self.busy_since = now

    def record_wait(self, contact: _Contact, cid: int, wait: float, *, answered: bool, threshold: float) -> None:
        if not contact.measured:
            return
        self.pending.discard(cid)
        self.max_wait = max(self.max_wait, wait)
        within = wait <= threshold
        if answered:
            self.answered += 1
            self.answered_within += within
            self.answered_waiting += wait > 0
            self.total_wait += wait
        else:
            self.abandoned += 1
            self.abandoned_within += within


def simulate(config: SimulationConfig) -> SimulationResult:
    """Run the simulation; deterministic for a given configuration (seed included)."""
    config.validate()
    rng = random.Random(config.seed)  # noqa: S311 - a reproducible simulation, not a secret
    capacity = {config.channel: config.slots_per_agent}
    queue = Queue(_QUEUE_ID, "simulated", strategy=config.strategy, auto_assign_channels=frozenset({config.channel}),
                  sticky_seconds=0.0, aht_seconds=config.aht)
    engine = Engine([queue], [Agent(i, "available", capacity=capacity) for i in range(1, config.agents + 1)])

    end = config.duration * 3600.0
    tally = _Tally(start=config.warmup_hours * 3600.0, end=end)
    mean_gap = 3600.0 / config.arrival_rate
    contacts: dict[int, _Contact] = {}
    events: list[tuple[float, int, int, int]] = []  # (time, kind, sequence, contact id)
    sequence = 0

    def schedule(at: float, kind: int, cid: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(events, (at, kind, sequence, cid))

    def handle(decisions: list[Decision], now: float) -> None:
        for decision in decisions:
            if isinstance(decision, Offered):
                # Agents answer at once: the simulated wait is the queue's, not a ringing phone's.
                handle(engine.accept(decision.conversation_id, decision.agent_id, now), now)
            elif isinstance(decision, Assigned):
                cid = decision.conversation_id
                contact = contacts[cid]
                contact.waiting = False
                tally.record_wait(contact, cid, now - contact.arrived_at, answered=True, threshold=config.threshold)
                tally.set_busy(now, +1)
                schedule(now + contact.handling, _DONE, cid)

    next_id = 1
    schedule(rng.expovariate(1.0) * mean_gap, _ARRIVAL, next_id)
    handled = 0
    while events:
        now, kind, _, cid = heapq.heappop(events)
        handled += 1
        if kind == _ARRIVAL:
            # Both draws are made whatever the settings, so the arrival stream stays the same.
            work, patience = rng.expovariate(1.0), rng.expovariate(1.0)
            contact = _Contact(now, config.aht * work if config.handling == "exponential" else config.aht,
                               math.inf if config.patience is None else config.patience * patience,
                               measured=now >= tally.start)
            contacts[cid] = contact
            if contact.measured:
                tally.offered += 1
                tally.pending.add(cid)
            if math.isfinite(contact.patience):
                schedule(now + contact.patience, _ABANDON, cid)
            next_id += 1
            following = now + rng.expovariate(1.0) * mean_gap
            # No arrival after the end: later contacts queue behind every measured one (FCFS), so they
            # could not change a measured wait.
            if following < end:
                schedule(following, _ARRIVAL, next_id)
            handle(engine.enqueue(Contact(cid, config.channel, now), now), now)
        elif kind == _DONE:
            engine.remove(cid, now, "resolved")
            tally.set_busy(now, -1)
            del contacts[cid]
        else:
            leaving = contacts.get(cid)
            if leaving is None or not leaving.waiting:
                continue  # answered (perhaps already finished) before running out of patience
            engine.remove(cid, now, "abandoned")
            tally.record_wait(leaving, cid, now - leaving.arrived_at, answered=False, threshold=config.threshold)
            del contacts[cid]
        handle(engine.tick(now), now)
        if now >= end and not tally.pending:
            break  # every measured wait is known; what is left would not change a figure
    tally.set_busy(max(end, tally.busy_since), 0)
    return _result(tally, config, handled)


def _result(tally: _Tally, config: SimulationConfig, events: int) -> SimulationResult:
    counted = tally.answered + tally.abandoned - tally.abandoned_within
    window = tally.end - tally.start
    return SimulationResult(
        offered=tally.offered,
        answered=tally.answered,
        abandoned=tally.abandoned,
        answered_within_threshold=tally.answered_within,
        answered_after_waiting=tally.answered_waiting,
        abandoned_within_threshold=tally.abandoned_within,
        service_level=tally.answered_within / counted if counted else None,
        asa_seconds=tally.total_wait / tally.answered if tally.answered else None,
        waited=tally.answered_waiting / tally.answered if tally.answered else None,
        abandonment_rate=tally.abandoned / tally.offered if tally.offered else None,
        occupancy=tally.busy_area / (config.servers * window),
        max_wait_seconds=tally.max_wait,
        measured_hours=window / 3600.0,
        events=events,
    )


def erlang_comparison(config: SimulationConfig) -> erlang.ErlangC | None:
    """Erlang C for the same servers, load, AHT and threshold; None when the queue is unstable (load >=
    servers), where Erlang C has no answer. It assumes exponential handling and no abandonment: with
    patience or fixed handling it is a reference, not a prediction (see `erlang_caveats`)."""
    try:
        return erlang.erlang_c_figures(config.servers, config.arrival_rate, config.aht, config.threshold)
    except ValueError:
        return None


def erlang_caveats(config: SimulationConfig) -> list[str]:
    """Why Erlang C does not describe this run exactly (empty when it should agree)."""
    caveats = []
    if config.patience is not None:
        caveats.append("customers hang up (--patience): Erlang C assumes they wait forever, so it overstates waits")
    if config.handling != "exponential":
        caveats.append(f"handling is {config.handling}: Erlang C assumes exponential handling times")
    if config.load >= config.servers:
        caveats.append(f"the load ({config.load:.2f} Erlangs) is at least the {config.servers} agent slots: "
                       "the line grows without bound and Erlang C is undefined")
    return caveats
