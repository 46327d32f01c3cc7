"""The clinic's random streams: one per process (arrivals, routing, patience, service, uptake, no-shows, dropout, cohort, patient dynamics), each derived from the seed by key.

Each stream is ``numpy.random.SeedSequence(seed, spawn_key=(replication, k))`` with ``k`` the
stream's fixed index in :data:`STREAMS`, so adding a stream never moves the others and a
replication's streams do not depend on how many replications run. Per-patient draws (routing,
patience, course length, uptake, no-shows, dropout) are counter-based: a pure function of the
stream's key, the patient's id and a counter (:mod:`prt_sim.model.rng`), so the same patient
draws the same numbers in every scenario (common random numbers) whatever the order in which
the clinic reaches them. Referral times come from one unit-rate Poisson process per replication,
mapped through each scenario's cumulative rate, so a busier scenario gets the same referrals
plus more. Nothing reads global random state.
"""

from __future__ import annotations

import numpy as np

from ..model.calendar import DAYS_PER_MONTH
from ..model.rng import MAX_SEED, uniform_matrix

__all__ = ["STREAMS", "Streams", "referral_times"]

#: The streams of a replication, by fixed index (never reorder: append new ones).
STREAMS = (
    "arrivals",
    "routing",
    "patience",
    "service",
    "uptake",
    "no_show",
    "dropout",
    "cohort",
    "dynamics",
    "bootstrap",
)


class Streams:
    """The keyed streams of one replication of a seed.

    Parameters
    ----------
    seed : int
        The run's seed (non-negative, below 2**63).
    replication : int
        Replication index (>= 0).
    """

    def __init__(self, seed: int, replication: int) -> None:
        self.seed, self.replication = int(seed), int(replication)

    def sequence(self, name: str) -> np.random.SeedSequence:
        """The SeedSequence of stream ``name``."""
        return np.random.SeedSequence(self.seed, spawn_key=(self.replication, STREAMS.index(name)))

    def generator(self, name: str) -> np.random.Generator:
        """A numpy Generator on stream ``name`` (for draws made in a fixed order)."""
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def key(self, name: str) -> np.uint64:
        """The 64-bit key of stream ``name`` for counter-based per-patient draws."""
        return np.uint64(self.sequence(name).generate_state(1, np.uint64)[0])

    def seed_of(self, name: str) -> int:
        """A seed (below 2**63) for the library's own seeded builders (cohort, engine)."""
        return int(self.key(name)) & MAX_SEED

    def uniforms(self, name: str, pids: np.ndarray, n: int = 1) -> np.ndarray:
        """Uniforms on [0, 1) for each patient at counters ``0 .. n-1``: shape ``(n, len(pids))``."""
        return uniform_matrix(self.key(name), pids, np.arange(n, dtype=np.uint64))


def referral_times(
    gen: np.random.Generator, per_month: tuple[float, ...], days: float
) -> np.ndarray:
    """Referral times (days, sorted) in ``[0, days)`` of a Poisson process whose rate is
    ``per_month[m]`` referrals per month in month ``m`` of the run (the last rate holds on).

    A unit-rate Poisson process (cumulative sums of standard exponentials from ``gen``) is
    mapped through the inverse of the cumulative rate: exact for a piecewise-constant rate, and
    the same draws serve every rate function (common random numbers).
    """
    n_months = int(np.ceil(days / DAYS_PER_MONTH)) + 1
    rates = (
        np.array([per_month[min(m, len(per_month) - 1)] for m in range(n_months)], dtype=float)
        / DAYS_PER_MONTH
    )  # per day
    edges = np.arange(n_months + 1) * DAYS_PER_MONTH
    edges[-1] = np.inf
    cum = np.concatenate([[0.0], np.cumsum(rates[:-1] * DAYS_PER_MONTH)])  # Lambda at edges
    total = float(np.sum(rates[:-1] * DAYS_PER_MONTH)) + rates[-1] * max(
        0.0, days - (n_months - 1) * DAYS_PER_MONTH
    )
    if total <= 0:
        return np.empty(0)
    out = []
    s = 0.0
    block = max(16, int(total * 1.1) + 16)
    while True:
        e = s + np.cumsum(gen.standard_exponential(block))
        out.append(e)
        s = float(e[-1])
        if s > total:
            break
    unit = np.concatenate(out)
    unit = unit[unit < total]
    m = np.searchsorted(cum, unit, side="right") - 1
    m = np.minimum(m, n_months - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = edges[m] + (unit - cum[m]) / rates[m]
    t = t[np.isfinite(t) & (t < days)]
    return np.sort(t)
