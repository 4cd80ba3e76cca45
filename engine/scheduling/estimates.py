"""Run-time estimates the scheduler learns from its own events (pure: no clock, no I/O).

Per adapter, two figures: the compute time of a job on a warm worker, scaled by the job's
input size (faces or pixels, ``JobRequest.size``), and the time a fresh worker takes to spawn
and load its model. Both are exponentially weighted, so the estimate follows a machine that
gets faster or slower, and both can be seeded from the job history at start-up.

A size-scaled estimate is a ratio of weighted sums (seconds over size units): one slow large
input raises the rate less than a mean of per-job rates would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_RUN_S = 60.0  # an adapter never seen: a guess that neither favours nor buries it
DEFAULT_LOAD_S = 30.0
DECAY = 0.9  # weight of the past at each new observation


@dataclass(frozen=True)
class Observation:
    """One finished job as the history knows it (engine.storage or a simulated day)."""

    adapter: str
    run_s: float
    size: float = 0.0
    load_s: float | None = None  # None: the job ran on a warm worker


@dataclass
class _Stat:
    seconds: float = 0.0
    weight: float = 0.0
    sized_seconds: float = 0.0
    size: float = 0.0
    load_s: float = 0.0
    load_weight: float = 0.0

    def add_run(self, seconds: float, size: float) -> None:
        self.seconds = self.seconds * DECAY + seconds
        self.weight = self.weight * DECAY + 1.0
        if size > 0:
            self.sized_seconds = self.sized_seconds * DECAY + seconds
            self.size = self.size * DECAY + size

    def add_load(self, seconds: float) -> None:
        self.load_s = self.load_s * DECAY + seconds
        self.load_weight = self.load_weight * DECAY + 1.0


class Estimates:
    """Expected run and load seconds per adapter."""

    def __init__(self, history: Iterable[Observation] = ()) -> None:
        self._stats: dict[str, _Stat] = {}
        for obs in history:
            self.observe(obs)

    def known(self, adapter: str) -> bool:
        stat = self._stats.get(adapter)
        return stat is not None and stat.weight > 0

    def run_s(self, adapter: str, size: float = 0.0) -> float:
        stat = self._stats.get(adapter)
        if stat is None or stat.weight == 0:
            return DEFAULT_RUN_S
        if size > 0 and stat.size > 0:
            return stat.sized_seconds / stat.size * size
        return stat.seconds / stat.weight

    def load_s(self, adapter: str) -> float:
        stat = self._stats.get(adapter)
        if stat is None or stat.load_weight == 0:
            return DEFAULT_LOAD_S
        return stat.load_s / stat.load_weight

    def observe(self, obs: Observation) -> None:
        if obs.run_s < 0 or (obs.load_s is not None and obs.load_s < 0):
            raise ValueError(f"negative duration for {obs.adapter}: {obs}")
        stat = self._stats.setdefault(obs.adapter, _Stat())
        stat.add_run(obs.run_s, obs.size)
        if obs.load_s is not None:
            stat.add_load(obs.load_s)

    def observe_span(self, adapter: str, seconds: float, size: float, cold: bool) -> None:
        """A job the scheduler saw start and finish ``seconds`` apart. A cold start's span holds
        the model load too: it is split with the run estimate (or the load one, if only that
        is known), and a first-ever cold span counts as run time, an overestimate."""
        seconds = max(0.0, seconds)
        if not cold:
            self.observe(Observation(adapter, seconds, size))
            return
        stat = self._stats.get(adapter)
        if stat is not None and stat.weight > 0:
            run = min(seconds, self.run_s(adapter, size))
            self.observe(Observation(adapter, run, size, seconds - run))
        elif stat is not None and stat.load_weight > 0:
            load = min(seconds, self.load_s(adapter))
            self.observe(Observation(adapter, seconds - load, size, load))
        else:
            self.observe(Observation(adapter, seconds, size))
