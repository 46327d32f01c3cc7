"""After the trial: treatment that patients take up on their own, by arm, at a share and a time drawn per patient.

Once a trial's follow-up ends, its arms are no longer controlled: control patients may seek
treatment on their own (PRT's own book and self-help material, or a delivered course). An
:class:`Uptake` says, per arm or for all arms, what share of patients start a course after post,
when (spread over a window of months, uniformly or front-loaded at a monthly hazard) and what the
course delivers (:class:`SelfDirectedPRT` or :class:`DeliveredPRT`). It is attached to a
:class:`~prt_sim.forecasting.scenarios.Scenario`.

Who takes up, and when, is a pure function of (the posterior draw's seed, the patient's id):
two keyed uniforms per patient (:mod:`prt_sim.model.rng`), one compared with the share and one
placing the start in the window. So a forecast is the same whatever its chunking, every scenario
with the same :class:`Uptake` has the same takers (common random numbers), and the takers at a
share ``q`` are a subset of those at any larger share.

Start times are whole months after post: a course taken up in month ``m`` starts the day after
the ``m``-month assessment (:func:`course_start_day`). Each (arm, scenario) with uptake therefore
has one extra calendar per month of its window (the arm's protocol plus the course from that
day), and every taker simulates on the calendar of their month.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ValidationError, check_range
from ..model.calendar import PRT_SESSION_DAYS, month_day
from ..model.protocols import Protocol, SelfGuided, Session
from ..model.rng import derive_key, uniform_matrix
from ..model.spec import Validated, spec

__all__ = [
    "Uptake",
    "SelfDirectedPRT",
    "DeliveredPRT",
    "course_start_day",
    "uptake_key",
    "TIMINGS",
]

#: How takers' start times are spread over the window.
TIMINGS = ("uniform", "exponential")
_MAX_MONTHS = 600  # 50 years: the forecasts' longest horizon

# Counter slots of the uptake stream (one stream per posterior draw; two uniforms a patient).
_WHETHER, _WHEN = 0, 1


def course_start_day(month: int) -> int:
    """Study day a course taken up in ``month`` (months after post) starts: the day after that
    month's assessment (post itself for month 0), so a forecast's checkpoint never straddles it."""
    return month_day(month) + 1


def uptake_key(draw_seed: int) -> int:
    """Key of the uptake stream of a posterior draw simulated with ``draw_seed``: separate from
    the simulation's own streams, so taking up treatment shifts no other random number."""
    return derive_key(draw_seed, "forecast", "post_trial_uptake")


@dataclass(frozen=True)
class SelfDirectedPRT(Validated):
    """Self-directed PRT material (the book, a website, an app): a daily education dose whose use
    fades, from the day the patient takes it up.

    Like every self-guided dose in a forecast it is multiplied by each posterior draw's fitted
    engagement scale ``self_guided_scale``.

    Parameters
    ----------
    daily_dose : float
        Education dose on the first day, sessions/day, 0-1. Default 0.03, the dose of the trial's
        usual-care workbook and PRT-style website in :func:`~prt_sim.protocols.UsualCare`: the one
        self-help dose of PRT material the model has, its engagement fitted to the trial.
    half_life : float
        Half-life of engagement, days (> 0; inf = no fading). Default 30, as the usual-care
        workbook.
    """

    kind: ClassVar[str] = "self_directed"
    daily_dose: float = spec(0.03, 0.0, 1.0, "sessions/day", "education dose per day at start")
    half_life: float = spec(
        30.0, 0.0, math.inf, "days", "half-life of engagement (inf = no fading)", lo_open=True
    )

    @property
    def has_dose(self) -> bool:
        """Whether the course delivers anything."""
        return self.daily_dose > 0

    def last_day(self, start_day: int) -> int:
        """Study day of the course's last planned contact (its start: the material has no end)."""
        return start_day

    def add_to(self, protocol: Protocol, start_day: int) -> Protocol:
        """``protocol`` plus this course from study day ``start_day``."""
        sg = SelfGuided(start_day=start_day, daily_dose=self.daily_dose, half_life=self.half_life)
        return protocol.replace(self_guided=protocol.self_guided + (sg,))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_dict()}


@dataclass(frozen=True)
class DeliveredPRT(Validated):
    """Delivered PRT: a course of sessions like the trial's PRT protocol, from the day the patient
    takes it up.

    An education session with a physician on the first day, then therapy sessions twice weekly on
    the trial's pattern (3, 6, 10, 13, ... days after it, as study days 4, 7, 11, 14, ... follow
    day 1 in :func:`~prt_sim.protocols.PRT`). Sessions are attended with the arm protocol's
    attendance and dropout (every session in usual care and placebo): lower the doses to stand
    for a course attended in part.

    Parameters
    ----------
    sessions : int
        Therapy sessions after the education session, 0-52 (default 8, as the trial).
    education : float
        Education dose of each therapy session, sessions, 0-10 (default 0.5, as the trial).
    exposure : float
        Guided exposure dose of each therapy session, sessions, 0-10 (default 1, as the trial).
    first_education : float
        Education dose of the first (physician) session, sessions, 0-10 (default 1, as the trial;
        0 = no such session).
    """

    kind: ClassVar[str] = "delivered"
    sessions: int = spec(8, 0, 52, "sessions", "therapy sessions, twice weekly", integer=True)
    education: float = spec(0.5, 0.0, 10.0, "sessions", "education dose per therapy session")
    exposure: float = spec(1.0, 0.0, 10.0, "sessions", "exposure dose per therapy session")
    first_education: float = spec(1.0, 0.0, 10.0, "sessions", "dose of the education session")

    @property
    def has_dose(self) -> bool:
        """Whether the course delivers anything."""
        return self.first_education > 0 or (
            self.sessions > 0 and (self.education > 0 or self.exposure > 0)
        )

    def offsets(self) -> list[tuple[int, float, float]]:
        """(days after the start, education, exposure) of each session that delivers a dose."""
        first = PRT_SESSION_DAYS[0]
        trial = [d - first for d in PRT_SESSION_DAYS[1:]]  # the trial's twice-weekly pattern
        week = 7
        out = [(0, self.first_education, 0.0)] if self.first_education > 0 else []
        if self.education > 0 or self.exposure > 0:
            for i in range(self.sessions):
                # the trial's 8 days, then the same two days of each later week
                day = trial[i % 2] + week * (i // 2)
                out.append((day, self.education, self.exposure))
        return out

    def last_day(self, start_day: int) -> int:
        """Study day of the course's last session."""
        return start_day + max((d for d, _, _ in self.offsets()), default=0)

    def add_to(self, protocol: Protocol, start_day: int) -> Protocol:
        """``protocol`` plus this course's sessions from study day ``start_day``; a session on a
        day the protocol already has one (a booster) is merged into it."""
        by_day = {s.day: s for s in protocol.sessions}
        for off, edu, exp in self.offsets():
            day = start_day + off
            old = by_day.get(day)
            if old is None:
                by_day[day] = Session(day=day, education=edu, exposure=exp, label="taken up")
            else:
                by_day[day] = old.replace(
                    education=min(10.0, old.education + edu),
                    exposure=min(10.0, old.exposure + exp),
                )
        return protocol.replace(sessions=tuple(by_day.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_dict()}


_COURSES = {c.kind: c for c in (SelfDirectedPRT, DeliveredPRT)}


@dataclass(frozen=True)
class Uptake(Validated):
    """Treatment taken up after the trial: by whom (a share per arm), when, and what.

    Each patient takes up the course with probability ``share`` of their arm (one keyed uniform,
    so the takers at a share are a subset of those at a larger one) and, if they do, starts it in
    a whole month ``start_month + k`` after post, ``k`` in ``0 .. window_months - 1``: uniform
    over the window, or front-loaded (``"exponential"``: a constant monthly ``hazard``,
    conditioned on starting within the window). ``share`` is thus the share who have started by
    the window's end. A taker is in treatment from their start day whatever they did in the
    trial (a patient who never started or dropped out of the arm's treatment counts too), and
    also receives what the arm's protocol delivers after that day.

    Parameters
    ----------
    share : float or mapping of arm -> float
        Share of patients who take up the course, 0-1: one number for every arm, or per arm
        label (arms not listed: 0). Arm labels are checked when the forecast runs against its
        arms and the fitted trial's arms. A mapping is stored as sorted ``(arm, share)`` pairs.
    start_month : int
        Whole months after post when uptake can begin, 0-599 (default 12: after the trial's last
        follow-up visit).
    window_months : int
        Months over which starts are spread, 1-600 (default 24); ``start_month + window_months``
        at most 600 and, at forecast time, at most the horizon in months.
    timing : {"uniform", "exponential"}
        How starts are spread over the window (default uniform).
    hazard : float
        Monthly hazard of starting with ``timing="exponential"``, per month, > 0 to 10
        (default 0.1).
    course : SelfDirectedPRT or DeliveredPRT
        What a taker receives (default: :class:`SelfDirectedPRT`); it must deliver a dose when
        any share is above 0.
    """

    share: float | Mapping[str, float] | tuple = 0.0
    start_month: int = spec(
        12, 0, _MAX_MONTHS - 1, "months after post", "first month", integer=True
    )
    window_months: int = spec(24, 1, _MAX_MONTHS, "months", "window of starts", integer=True)
    timing: str = "uniform"
    hazard: float = spec(0.1, 0.0, 10.0, "1/month", "monthly hazard (exponential)", lo_open=True)
    course: SelfDirectedPRT | DeliveredPRT = field(default_factory=SelfDirectedPRT)

    def _check(self) -> None:
        share = self.share
        if isinstance(share, tuple) and all(isinstance(x, tuple) for x in share):
            share = dict(share)  # the stored form, back through replace()
        if isinstance(share, Mapping):
            pairs = []
            for arm, q in share.items():
                if not isinstance(arm, str) or not arm:
                    raise ValidationError("Uptake.share", arm, "arm labels (non-empty strings)")
                pairs.append((arm, check_range(f"Uptake.share[{arm}]", q, 0.0, 1.0)))
            object.__setattr__(self, "share", tuple(sorted(pairs)))
        else:
            object.__setattr__(self, "share", check_range("Uptake.share", share, 0.0, 1.0))
        end = self.start_month + self.window_months
        if end > _MAX_MONTHS:
            raise ValidationError(
                "Uptake.window_months",
                self.window_months,
                f"1 to {_MAX_MONTHS - self.start_month} months "
                f"(start_month + window_months at most {_MAX_MONTHS})",
            )
        if self.timing not in TIMINGS:
            raise ValidationError("Uptake.timing", self.timing, f"one of {list(TIMINGS)}")
        course = self.course
        if isinstance(course, Mapping):
            course = dict(course)
            kind = course.pop("kind", None)
            if kind not in _COURSES:
                raise ValidationError("Uptake.course.kind", kind, f"one of {sorted(_COURSES)}")
            course = _COURSES[kind](**course)
            object.__setattr__(self, "course", course)
        if not isinstance(course, (SelfDirectedPRT, DeliveredPRT)):
            raise ValidationError(
                "Uptake.course", course, "a SelfDirectedPRT or a DeliveredPRT course"
            )
        if self.any_share and not course.has_dose:
            field_ = (
                "daily_dose"
                if isinstance(course, SelfDirectedPRT)
                else "sessions/education/exposure/first_education"
            )
            raise ValidationError(
                f"Uptake.course.{field_}",
                0.0,
                "a dose > 0 when a share of patients take the course up",
            )

    # -- who, when ---------------------------------------------------------------------------
    @property
    def per_arm(self) -> bool:
        """Whether the share is given per arm."""
        return isinstance(self.share, tuple)

    @property
    def any_share(self) -> bool:
        """Whether any arm has a share above 0."""
        return any(q > 0 for _, q in self.share) if self.per_arm else self.share > 0

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm labels named in a per-arm share (empty for one share for all arms)."""
        return tuple(a for a, _ in self.share) if self.per_arm else ()

    def share_of(self, arm: str, protocol: str | None = None) -> float:
        """Share of arm ``arm``'s patients who take the course up: the share named by the arm's
        label, else by the name of the protocol it delivers (``protocol``: a forecast arm
        labelled "uc" that delivers usual care takes the share of "usual_care"), else 0."""
        if self.per_arm:
            shares = dict(self.share)
            if arm in shares:
                return shares[arm]
            return shares.get(protocol, 0.0) if protocol is not None else 0.0
        return float(self.share)

    @property
    def months(self) -> range:
        """The months after post in which a course can start."""
        return range(self.start_month, self.start_month + self.window_months)

    def start_months(self, arm: str, pids, key: int, protocol: str | None = None) -> np.ndarray:
        """Month after post in which each patient starts the course, -1 for those who do not.

        Parameters
        ----------
        arm : str
            The arm's label (its share, :meth:`share_of`).
        pids : array of int
            Global patient ids.
        key : int
            Stream key (:func:`uptake_key` of the posterior draw's seed).
        protocol : str, optional
            The name of the arm's protocol: its share applies when the label has none.

        Returns
        -------
        int64 array
            One entry per patient, in ``months`` or -1.
        """
        u = uniform_matrix(key, pids, np.array([_WHETHER, _WHEN], dtype=np.uint64))
        take = u[0] < self.share_of(arm, protocol)
        w = self.window_months
        if self.timing == "uniform":
            k = np.floor(u[1] * w)
        else:
            # Inverse CDF of an exponential time truncated to the window (in months).
            h = self.hazard
            k = np.floor(-np.log1p(-u[1] * -np.expm1(-h * w)) / h)
        k = np.minimum(k.astype(np.int64), w - 1)
        return np.where(take, self.start_month + k, -1).astype(np.int64)

    def taker_protocol(self, protocol: Protocol, month: int) -> Protocol:
        """The calendar of a patient of ``protocol`` who starts the course in ``month``."""
        return self.course.add_to(protocol, course_start_day(month))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["share"] = dict(self.share) if self.per_arm else self.share
        d["course"] = self.course.to_dict()
        return d
