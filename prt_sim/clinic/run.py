"""Running the clinic: one replication (SimPy clinic and patient engine in weekly epochs), and :func:`run_clinic` over replications.

Within a replication the clinic (:mod:`prt_sim.clinic.delivery`) runs one week of clinic time,
then the engine (:mod:`prt_sim.clinic.population`) advances every referred patient through
that week under the sessions delivered, and the clinic reads the patients at the boundary: the
post assessment after a course, the follow-up a set time after referral, relapses (which start
booster courses) and the population's pain by where people are in the pathway. Without
dynamics the clinic runs straight to the end.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..errors import ValidationError, check_int
from ..io import provenance
from ..model.cohorts import Cohort
from ..model.instruments import PAIN_FREE_MAX
from ..model.rng import check_seed
from .delivery import (
    DISCHARGED,
    LEFT,
    O_COMPLETED,
    TREATING,
    WAITING,
    Clinic,
)
from .population import Population
from .results import KIND, ClinicResult, assemble
from .spec import FORMATS, ClinicSpec
from .streams import Streams, referral_times

__all__ = ["run_clinic", "run_replication"]


def _draws(spec: ClinicSpec, streams: Streams, n: int) -> dict[str, np.ndarray]:
    """Per-patient draws of every stream (counter-based: the same patient id draws the same
    numbers in every scenario)."""
    pids = np.arange(n, dtype=np.uint64)
    c = spec.course
    n_sessions = len(c.protocol.sessions) + c.max_boosters * c.booster_sessions
    u_pat = streams.uniforms("patience", pids)[0]
    u_course = streams.uniforms("service", pids)[0]
    mean_p = spec.waitlist.patience_days
    return {
        "routing": streams.uniforms("routing", pids)[0],
        "patience": -mean_p * np.log1p(-u_pat) if math.isfinite(mean_p) else np.full(n, np.inf),
        "course": -c.mean_days * np.log1p(-u_course),
        "uptake": streams.uniforms("uptake", pids)[0],
        "no_show": streams.uniforms("no_show", pids, n_sessions),
        "dropout": streams.uniforms("dropout", pids, n_sessions),
    }


def _route(shares: tuple[float, ...], u: np.ndarray) -> np.ndarray:
    """Format of each patient from its routing uniform (inverse of the shares' CDF)."""
    cum = np.cumsum(shares)
    f = np.searchsorted(cum, u, side="right")
    # shares summing to 1 - 1e-16 must not send anyone past the last format offered
    last = max(k for k, x in enumerate(shares) if x > 0)
    return np.minimum(f, last).astype(np.int8)


def run_replication(
    spec: ClinicSpec, seed: int, replication: int, *, record_events: bool = True
) -> dict[str, Any]:
    """One replication of ``spec``: the raw arrays :func:`~prt_sim.clinic.results.assemble`
    labels (see :func:`run_clinic` for the arguments)."""
    streams = Streams(seed, replication)
    s = spec
    days = s.days
    n0 = s.referrals.initial_waitlist
    w = s.referrals.initial_wait_days
    initial = -w + (np.arange(n0) + 0.5) * (w / n0) if n0 and w > 0 else np.zeros(n0)
    arrivals = referral_times(streams.generator("arrivals"), s.referrals.per_month, days)
    referral = np.concatenate([initial, arrivals])
    n = len(referral)
    d = _draws(s, streams, n)
    fmt = _route(s.mix.shares, d["routing"])
    first_day = np.floor(referral).astype(np.int64) - 7
    pop = None
    severity = np.zeros(n)
    if n and (s.dynamics or s.waitlist.policy == "severity"):
        cohort = Cohort.from_trial_baseline(
            n, seed=streams.seed_of("cohort"), spec=s.cohort, params=s.params
        )
        pop = Population(cohort, s.params, streams.seed_of("dynamics"), first_day)
        severity = pop.week.copy()  # the 7-day pain the referral reports
    week_pain = pop.week if (pop is not None and s.dynamics) else None
    clinic = Clinic(s, referral, fmt, d, severity, week_pain, record_events=record_events)
    n_weeks = clinic.n_weeks
    nan = np.full(n, np.nan)
    out = {
        "post_time": nan.copy(),
        "post_pain": nan.copy(),
        "post_reported": nan.copy(),
        "fu_time": nan.copy(),
        "fu_pain": nan.copy(),
        "fu_reported": nan.copy(),
        "pain_referral": severity.copy() if week_pain is not None else nan.copy(),
        "relapses": np.zeros(n, dtype=np.int32),
    }
    weekly_pain = {
        k: np.full(n_weeks, np.nan)
        for k in ("pain_all", "pain_waiting", "pain_treating", "pain_after", "pain_free_share")
    }
    n_present = np.zeros(n_weeks, dtype=np.int64)
    t_engine = 0.0
    if week_pain is None:
        clinic.env.run(until=float(days))
    else:
        thr = s.course.relapse_threshold
        below = np.zeros(n, dtype=bool)
        above = np.zeros(n, dtype=np.int64)  # consecutive weekly readings at the threshold
        monitored = np.zeros(n, dtype=bool)
        fu_due = referral + s.followup_days
        t0 = 7 * int(math.floor(first_day.min() / 7))
        while t0 < days:
            t1 = min(t0 + 7, days)
            if t1 > 0:
                clinic.env.run(until=float(t1))
            te = time.perf_counter()
            pop.step(t0, t1, clinic.take_buffer(), clinic.self_guided_doses(t0, t1))
            t_engine += time.perf_counter() - te
            wk, rep = pop.week, pop.reported
            # post assessment: the end of the week in which discharge + delay falls
            due = np.isnan(out["post_time"]) & (clinic.discharge + s.post_delay_days < t1)
            if due.any():
                out["post_time"][due] = t1 - 1  # the day the assessment's 7-day recall ends
                out["post_pain"][due] = wk[due]
                out["post_reported"][due] = rep[due]
                monitored |= due & (clinic.outcome == O_COMPLETED)
            fu = np.isnan(out["fu_pain"]) & (fu_due < t1)
            if fu.any():
                out["fu_time"][fu] = t1 - 1
                out["fu_pain"][fu] = wk[fu]
                out["fu_reported"][fu] = rep[fu]
            # relapse: pain back at the threshold for relapse_weeks readings running, after
            # being below it since the course
            if s.course.max_boosters and monitored.any():
                idle = monitored & ~clinic.in_booster & (clinic.status == DISCHARGED)
                below |= idle & (wk < thr)
                above = np.where(idle & below & (wk >= thr), above + 1, 0)
                hit = (above >= s.course.relapse_weeks) & (clinic.boosters < s.course.max_boosters)
                for i in np.flatnonzero(hit):
                    below[i] = False
                    above[i] = 0
                    out["relapses"][i] += 1
                    clinic.log(int(i), "relapse")
                    clinic.env.process(clinic.booster(int(i)))
            k = t0 // 7
            if 0 <= k < n_weeks:
                present = referral < t1
                n_present[k] = int(present.sum())
                if n_present[k]:
                    st = clinic.status
                    groups = {
                        "pain_all": present,
                        "pain_waiting": present & (st == WAITING),
                        "pain_treating": present & (st == TREATING),
                        "pain_after": present & ((st == DISCHARGED) | (st == LEFT)),
                    }
                    for name, m in groups.items():
                        if m.any():
                            weekly_pain[name][k] = float(wk[m].mean())
                    weekly_pain["pain_free_share"][k] = float(
                        np.mean(rep[present] <= PAIN_FREE_MAX)
                    )
            t0 = t1
    clinic.finish()
    return {
        "n": n,
        "referral": referral,
        "fmt": fmt,
        "clinic": clinic,
        "out": out,
        "weekly_pain": weekly_pain,
        "n_present": n_present,
        "engine_seconds": t_engine,
    }


def run_clinic(
    spec: ClinicSpec,
    *,
    seed: int = 0,
    replications: int = 1,
    record_events: bool = True,
    progress: bool = False,
) -> ClinicResult:
    """Run the care-delivery model: ``replications`` independent replications of ``spec``.

    Parameters
    ----------
    spec : ClinicSpec
        The clinic (validated when built: bad input is refused before anything runs).
    seed : int
        Seed of every random stream, 0 to 2**63 - 1. Same seed, bit-identical results;
        scenarios run with the same seed share their random numbers (common random numbers:
        the same referrals, patients, patience, no-show and dropout draws and daily shocks).
    replications : int
        Independent replications, 1-10000 (replication ``r`` uses streams keyed on ``r``, so
        the first ones do not change when more are asked for).
    record_events : bool
        Keep the per-patient event log (the ``events`` Dataset).
    progress : bool
        Print one line per replication.

    Returns
    -------
    ClinicResult
        Labeled Datasets: ``kpis`` over ``replication``, ``weekly`` over ``(replication,
        week)``, ``patients`` and ``events`` tables; :meth:`ClinicResult.summary` gives means
        with confidence intervals and the bootstrap interval of the cost per pain-free patient.
    """
    if not isinstance(spec, ClinicSpec):
        raise ValidationError("spec", type(spec).__name__, "a prt_sim.clinic.ClinicSpec")
    seed = check_seed(seed)
    replications = check_int("replications", replications, 1, 10_000)
    reps = []
    for r in range(replications):
        t = time.perf_counter()
        raw = run_replication(spec, seed, r, record_events=bool(record_events))
        raw["seconds"] = time.perf_counter() - t
        reps.append(raw)
        if progress:
            print(
                f"clinic replication {r + 1}/{replications}: {raw['n']} patients, "
                f"{raw['seconds']:.1f} s",
                flush=True,
            )
    config = {"spec": spec.to_dict(), "replications": replications, "formats": list(FORMATS)}
    attrs = provenance(KIND, seed, config)
    return assemble(spec, reps, attrs)
