"""The study calendar: the trial's visit days, and the day-by-day drive a protocol delivers.

The trial's visit days come from :mod:`prt_sim.model.calendar`.

A :class:`Timeline` is what the simulator integrates over: for every simulated day, the
calendar-level education / exposure / placebo doses, the self-guided dose and the flare-rate
multiplier; plus the assessment visits. :func:`build_timeline` schedules each session,
self-guided period, stress period and visit as a SimPy process that writes its part of the day
table; that is all SimPy does here (patients do not contend for anything in a trial arm, so the
days themselves are advanced by the numba engine, not by SimPy). Patient-level randomness
(missed sessions, dropout, flare-ups) is drawn per patient by the engine, keyed on the patient
and the day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from ..errors import ValidationError, check_int
from .calendar import (
    DAYS_PER_MONTH,
    ELIGIBILITY_DAY,
    FOLLOW_UP_MONTHS,
    POST_DAY,
    RECALL_DAYS,
    month_day,
)
from .protocols import Protocol, SelfGuided, Session
from .spec import Validated, spec

__all__ = [
    "Visit",
    "StressPeriod",
    "Timeline",
    "trial_visits",
    "build_timeline",
    "RECALL_DAYS",
    "DAYS_PER_MONTH",
    "ELIGIBILITY_DAY",
    "POST_DAY",
    "FOLLOW_UP_MONTHS",
    "month_day",
    "VISIT_MODES",
]

#: How pain can be asked at a visit (:attr:`Visit.mode`).
VISIT_MODES = ("visit", "survey")


@dataclass(frozen=True)
class Visit(Validated):
    """An assessment visit.

    Parameters
    ----------
    name : str
        Label (``"post"``, ``"m12"``...), unique within a schedule.
    day : int
        Study day (day 0 = T1). Instruments describe the state at the end of that day; pain is
        the mean over the 7 days ending that day.
    response : float
        Probability that a patient's visit is observed (0-1); unobserved visits are NaN.
    mode : {"visit", "survey"}
        How pain is asked: at a visit, or in a survey whose reading differs from a visit's by
        ``ModelParams.survey_offset`` (the trial's weekly surveys during treatment).
    """

    name: str = "visit"
    day: int = spec(0, -3650, 36_500, "study day", "day of the visit", integer=True)
    response: float = spec(1.0, 0.0, 1.0, "probability", "probability the visit is observed")
    mode: str = "visit"

    def _check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("Visit.name", self.name, "a non-empty string")
        if self.mode not in VISIT_MODES:
            raise ValidationError(f"Visit({self.name!r}).mode", self.mode, f"one of {VISIT_MODES}")


@dataclass(frozen=True)
class StressPeriod(Validated):
    """A period of stressful life events that multiplies the daily flare-up probability."""

    start_day: int = spec(0, -3650, 36_500, "study day", "first day", integer=True)
    duration_days: int = spec(30, 1, 36_500, "days", "length of the period", integer=True)
    flare_multiplier: float = spec(2.0, 0.0, 100.0, "1", "multiplier of the flare rate")


def trial_visits(
    post_day: int = POST_DAY,
    *,
    weekly: bool = True,
    follow_up_months: tuple[int, ...] = FOLLOW_UP_MONTHS,
    extra_days: tuple[int, ...] = (),
) -> tuple[Visit, ...]:
    """The Ashar 2022 assessment schedule.

    Eligibility (day -10), T1 (day 0), weekly during treatment (days 7-28), post (T2, day 30),
    then 1, 2, 3, 6 and 12 months after post, plus any ``extra_days`` (named ``day<N>``).
    """
    post_day = check_int("post_day", post_day, 1, 3650)
    v = [Visit(name="eligibility", day=ELIGIBILITY_DAY), Visit(name="t1", day=0)]
    if weekly:
        v += [Visit(name=f"week{k}", day=7 * k) for k in range(1, 5) if 7 * k < post_day]
    v.append(Visit(name="post", day=post_day))
    v += [Visit(name=f"m{m}", day=month_day(m, post_day)) for m in follow_up_months]
    v += [Visit(name=f"day{d}", day=d) for d in extra_days]
    return tuple(sorted(v, key=lambda x: x.day))


@dataclass
class Timeline:
    """A compiled calendar: daily drive arrays over ``[start_day, stop_day)`` and the visits."""

    start_day: int
    stop_day: int
    education: np.ndarray
    exposure: np.ndarray
    placebo: np.ndarray
    session: np.ndarray
    self_guided: np.ndarray
    flare_multiplier: np.ndarray
    visits: tuple[Visit, ...]
    events: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def n_days(self) -> int:
        """Number of simulated days."""
        return self.stop_day - self.start_day

    @property
    def days(self) -> np.ndarray:
        """Study day of each simulated day."""
        return np.arange(self.start_day, self.stop_day)

    @property
    def session_days(self) -> list[int]:
        """Study days with a session."""
        return [int(d) for d in self.days[self.session]]

    def visit_days(self) -> list[int]:
        """Study days of the visits, in order."""
        return [v.day for v in self.visits]


def _session_process(env: simpy.Environment, s: Session, tl: Timeline):
    yield env.timeout(s.day - env.now)
    i = s.day - tl.start_day
    tl.education[i] += s.education
    tl.exposure[i] += s.exposure
    tl.placebo[i] = min(1.0, tl.placebo[i] + s.placebo)
    tl.session[i] = True
    tl.events.append((s.day, "booster" if s.booster else "session", s.label))


def _self_guided_process(env: simpy.Environment, sg: SelfGuided, tl: Timeline):
    start = max(sg.start_day, tl.start_day)
    end = tl.stop_day if sg.end_day is None else min(sg.end_day, tl.stop_day)
    if start >= end:
        return
    yield env.timeout(start - env.now)
    tl.events.append((start, "self_guided_start", f"{sg.daily_dose:g}/day"))
    while env.now < end:
        tl.self_guided[int(env.now) - tl.start_day] += sg.dose(int(env.now))
        yield env.timeout(1)


def _stress_process(env: simpy.Environment, sp: StressPeriod, tl: Timeline):
    start = max(sp.start_day, tl.start_day)
    end = min(sp.start_day + sp.duration_days, tl.stop_day)
    if start >= end:
        return
    yield env.timeout(start - env.now)
    tl.events.append((start, "stress_start", f"x{sp.flare_multiplier:g} flares"))
    tl.flare_multiplier[start - tl.start_day : end - tl.start_day] *= sp.flare_multiplier
    yield env.timeout(end - start)
    tl.events.append((end, "stress_end", ""))


def _visit_process(env: simpy.Environment, visits: tuple[Visit, ...], tl: Timeline):
    for v in visits:
        yield env.timeout(v.day - env.now)
        tl.events.append((v.day, "visit", v.name))


def build_timeline(
    protocol: Protocol,
    *,
    horizon_days: int,
    visits: tuple[Visit, ...] | None = None,
    stress: tuple[StressPeriod, ...] = (),
) -> Timeline:
    """Run the SimPy calendar for a protocol and return the compiled :class:`Timeline`.

    Parameters
    ----------
    protocol : Protocol
        What is delivered and when.
    horizon_days : int
        Last simulated study day (inclusive), 1 to 36500.
    visits : tuple of Visit, optional
        Assessment schedule. Default: :func:`trial_visits`, keeping those up to the horizon.
        Explicit visits after the horizon raise :class:`ValidationError`.
    stress : tuple of StressPeriod
        Periods of elevated flare-up rate.

    Returns
    -------
    Timeline
        Starts 7 days before the first visit or session so the first week-recall is complete.
    """
    horizon_days = check_int("horizon_days", horizon_days, 1, 36_500)
    if visits is None:
        visits = tuple(v for v in trial_visits() if v.day <= horizon_days)
    for i, v in enumerate(visits):
        if not isinstance(v, Visit):
            raise ValidationError(f"visits[{i}]", v, "a prt_sim.Visit")
    visits = tuple(sorted(visits, key=lambda v: v.day))
    for v in visits:
        if v.day > horizon_days:
            raise ValidationError(
                f"visits[{v.name}].day",
                v.day,
                f"a study day <= horizon_days ({horizon_days})",
                "visit after the end of the simulation",
            )
    names = [v.name for v in visits]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError("visits.name", dup, "unique visit names")
    for s in protocol.sessions:
        if s.day > horizon_days:
            raise ValidationError(
                f"Protocol[{protocol.name}].sessions.day",
                s.day,
                f"a study day <= horizon_days ({horizon_days})",
                f"session '{s.label}' falls after the simulated horizon",
            )
    for i, sp in enumerate(stress):
        if not isinstance(sp, StressPeriod):
            raise ValidationError(f"stress[{i}]", sp, "a prt_sim.StressPeriod")
        if sp.start_day > horizon_days:
            raise ValidationError(
                f"stress[{i}].start_day",
                sp.start_day,
                f"a study day <= horizon_days ({horizon_days})",
                "stress period after the end of the simulation",
            )
    first = [v.day for v in visits] + [s.day for s in protocol.sessions] + [0]
    start = min(first) - RECALL_DAYS
    stop = horizon_days + 1
    n = stop - start
    tl = Timeline(
        start_day=start,
        stop_day=stop,
        education=np.zeros(n),
        exposure=np.zeros(n),
        placebo=np.zeros(n),
        session=np.zeros(n, dtype=bool),
        self_guided=np.zeros(n),
        flare_multiplier=np.ones(n),
        visits=visits,
    )
    env = simpy.Environment(initial_time=start)
    for s in protocol.sessions:
        env.process(_session_process(env, s, tl))
    for sg in protocol.self_guided:
        env.process(_self_guided_process(env, sg, tl))
    for sp in stress:
        env.process(_stress_process(env, sp, tl))
    env.process(_visit_process(env, visits, tl))
    env.run(until=stop)
    tl.events.sort(key=lambda e: e[0])
    assert math.isclose(tl.education.sum(), sum(s.education for s in protocol.sessions))
    return tl
