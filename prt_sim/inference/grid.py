"""The time grid of the deterministic skeleton used for inference.

The skeleton runs the same :func:`prt_sim.model.dynamics.daily_step` as the simulator, with
expected shocks. Steps are one day wherever anything happens (sessions, the treatment period, the 7 days
recalled at the early visits) and up to ``max_dt`` days elsewhere, using the step length ``dt``
of :class:`prt_sim.model.dynamics.Drive`; a quiet later visit's 7 recalled days are two steps (4
and 3 days). ``daily=True`` (``build_arm_model(daily_grid=True)``) reproduces the simulator's
daily map exactly.

Treatment reaches an agent as its expectation: a session's attendance is the probability of
attending it, given the sessions before it (attendance, then dropout after each attended one),
and the self-guided dose is scaled by the probability of not having dropped out by that day, as
the engine stops a patient's self-guided use when they drop out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ValidationError, check_int
from ..model.calendar import RECALL_DAYS
from ..model.protocols import Protocol
from ..model.timeline import Visit, build_timeline

__all__ = ["SkeletonGrid", "GridDrives", "build_grid", "QUIET_AFTER_DAYS"]

#: Recall windows starting this many days after the grid's first day or later, with nothing
#: scheduled in them, are resolved in two steps instead of seven: by then the entry excess of the
#: fluctuation has decayed below 8% of its initial size (0.94 ** 42).
QUIET_AFTER_DAYS = 42


class GridDrives(NamedTuple):
    """The grid's calendar as the skeleton's kernels read it: ``dt[step]`` (days) and, per
    ``[arm, step]``, the step's total session doses, the mean daily self-guided dose (times the
    probability of still being in treatment), the mean flare multiplier and the expected
    attendance of a session."""

    dt: np.ndarray
    education: np.ndarray
    exposure: np.ndarray
    placebo: np.ndarray
    self_guided: np.ndarray
    flare_mult: np.ndarray
    attend: np.ndarray


@dataclass
class SkeletonGrid:
    """Calendar of the skeleton, shared by all arms.

    ``drives`` holds the per-step calendar (:class:`GridDrives`); ``uptake[arm]`` the share of
    an arm's agents that starts treatment; ``pain_weight[step, visit]`` the weight of a step's
    pain in a visit's 7-day recall mean; ``visit_step[visit]`` the step ending on the visit
    day; ``step_day[step]`` the study day a step starts on.
    """

    arms: tuple[str, ...]
    visits: tuple[Visit, ...]
    start_day: int
    step_day: np.ndarray
    drives: GridDrives
    uptake: np.ndarray
    pain_weight: np.ndarray
    visit_step: np.ndarray

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return len(self.drives.dt)


def build_grid(
    protocols: dict[str, Protocol],
    visits: tuple[Visit, ...],
    *,
    horizon_days: int | None = None,
    max_dt: int = 7,
    daily: bool = False,
) -> SkeletonGrid:
    """Build the skeleton's grid for several arms.

    Parameters
    ----------
    protocols : dict of arm name -> Protocol
    visits : tuple of Visit
        Visits whose end days must end a step and whose recall windows must be resolved
        (daily, or two steps for a quiet later window).
    horizon_days : int, optional
        Last day (default: the last visit).
    max_dt : int
        Longest step in days where nothing happens, 1 to 60.
    daily : bool
        All steps one day long (the simulator's exact daily map).
    """
    max_dt = check_int("max_dt", max_dt, 1, 60)
    if not protocols:
        raise ValidationError("protocols", protocols, "at least one arm")
    horizon = horizon_days if horizon_days is not None else max(v.day for v in visits)
    tls = {a: build_timeline(p, horizon_days=horizon, visits=visits) for a, p in protocols.items()}
    start = min(t.start_day for t in tls.values())
    stop = horizon + 1
    n_days = stop - start
    fine = np.zeros(n_days, dtype=bool)
    for p in protocols.values():
        for s in p.sessions:
            fine[s.day - start] = True
        if p.sessions:  # daily through treatment: the belief moves fastest there
            fine[max(p.sessions[0].day - start, 0) : p.sessions[-1].day - start + 8] = True
        for sg in p.self_guided:  # daily while the self-guided dose changes fastest
            lo = max(sg.start_day - start, 0)
            fine[lo : min(lo + 14, n_days)] = True
    # Recall windows. Early ones (the entry excess still decays fast) and those overlapping the
    # treatment period are daily; a quiet later window is two steps (days 1-4 and 5-7), each
    # weighted by its length in the 7-day mean: pain drifts by hundredths of a point per day
    # there, and the visit still ends a step.
    cuts = set()
    for v in visits:
        lo = max(v.day - RECALL_DAYS + 1 - start, 0)
        hi = v.day - start + 1
        if daily or lo < QUIET_AFTER_DAYS or fine[lo:hi].any():
            fine[lo:hi] = True
        else:
            cuts.update((lo, lo + RECALL_DAYS - 3, hi))
    if daily:
        fine[:] = True
    # Steps: a fine day is its own step; runs of coarse days are split into <= max_dt chunks
    # and at the cuts of quiet recall windows.
    bounds = [0]
    d = 0
    while d < n_days:
        if fine[d]:
            d += 1
        else:
            e = d + 1
            while e < n_days and not fine[e] and e - d < max_dt and e not in cuts:
                e += 1
            d = e
        bounds.append(d)
    bounds = np.array(bounds)
    lo, hi = bounds[:-1], bounds[1:]
    n_steps, n_arms = len(lo), len(protocols)
    shape = (n_arms, n_steps)
    out = {
        k: np.zeros(shape)
        for k in ("education", "exposure", "placebo", "self_guided", "flare_mult", "attend")
    }
    uptake = np.zeros(n_arms)
    for ai, (a, p) in enumerate(protocols.items()):
        tl = tls[a]
        off = tl.start_day - start  # arm timeline may start later than the grid
        daily_arrays = {}
        for key in ("education", "exposure", "placebo", "self_guided", "flare_multiplier"):
            arr = np.full(n_days, 1.0 if key == "flare_multiplier" else 0.0)
            arr[off:] = getattr(tl, key)
            daily_arrays[key] = arr
        sess = np.zeros(n_days, dtype=bool)
        sess[off:] = tl.session
        # Expected attendance of the m-th session: attendance * (1 - attendance * dropout)^(m-1).
        m = np.cumsum(sess) - 1
        att = np.where(
            sess, p.attendance * (1.0 - p.attendance * p.dropout) ** np.maximum(m, 0), 0.0
        )
        # Still in treatment at the end of a day: not dropped out at any session so far. The
        # engine decides dropout before that day's self-guided dose, so the session counts.
        daily_arrays["self_guided"] *= (1.0 - p.attendance * p.dropout) ** np.cumsum(sess)
        for k, (a0, a1) in enumerate(zip(lo, hi)):
            out["education"][ai, k] = daily_arrays["education"][a0:a1].sum()
            out["exposure"][ai, k] = daily_arrays["exposure"][a0:a1].sum()
            out["placebo"][ai, k] = min(1.0, daily_arrays["placebo"][a0:a1].sum())
            out["self_guided"][ai, k] = daily_arrays["self_guided"][a0:a1].mean()
            out["flare_mult"][ai, k] = daily_arrays["flare_multiplier"][a0:a1].mean()
            out["attend"][ai, k] = att[a0:a1].max() if a1 - a0 == 1 else 0.0
        uptake[ai] = p.uptake
    step_day = start + lo
    pain_weight = np.zeros((n_steps, len(visits)))
    visit_step = np.zeros(len(visits), dtype=np.int64)
    for j, v in enumerate(visits):
        for day in range(v.day - RECALL_DAYS + 1, v.day + 1):
            # A multi-day step inside a quiet window stands for each of its days.
            k = np.searchsorted(step_day, day, side="right") - 1
            pain_weight[k, j] += 1.0 / RECALL_DAYS
        visit_step[j] = np.searchsorted(step_day, v.day, side="right") - 1
        if hi[visit_step[j]] != v.day - start + 1:  # pragma: no cover - guaranteed by the cuts
            raise AssertionError("visit day does not end a step")
    return SkeletonGrid(
        arms=tuple(protocols),
        visits=tuple(visits),
        start_day=start,
        step_day=step_day,
        drives=GridDrives(dt=(hi - lo).astype(float), **out),
        uptake=uptake,
        pain_weight=pain_weight,
        visit_step=visit_step,
    )
