"""Treatment protocols: sessions on study days, self-guided material, boosters.

Study day 0 is the trial's pretreatment session (T1). Built-in protocols follow the published
Ashar 2022 trial; :func:`custom` builds any other from a list of sessions.

Examples
--------
>>> import prt_sim as ps
>>> prt = ps.protocols.PRT().with_boosters([180, 365])
>>> [s.day for s in prt.sessions][-2:]
[180, 365]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError, check_int
from .calendar import POST_DAY, PRT_SESSION_DAYS
from .spec import Validated, spec

__all__ = [
    "Session",
    "SelfGuided",
    "Protocol",
    "PRT",
    "OpenLabelPlacebo",
    "UsualCare",
    "NoTreatment",
    "custom",
    "get",
    "BUILTIN",
    "PRT_SESSION_DAYS",
]

_MAX_DAY = 36_500  # 100 years: anything later is a unit mistake


@dataclass(frozen=True)
class Session(Validated):
    """One treatment contact on a study day.

    Parameters
    ----------
    day : int
        Study day (day 0 = T1), -3650 to 36500.
    education : float
        Education dose in session units (1 = one full PRT education session), 0-10.
    exposure : float
        Guided exposure dose in session units, 0-10.
    placebo : float
        Open-label placebo administered: 0 or 1 (fractions allowed for partial credibility).
    label : str
        Free text shown in calendars and plots.
    booster : bool
        Whether this session is a booster (for reports; dynamics are the same).
    """

    day: int = spec(0, -3650, _MAX_DAY, "study day", "day of the session", integer=True)
    education: float = spec(0.0, 0.0, 10.0, "sessions", "education dose")
    exposure: float = spec(0.0, 0.0, 10.0, "sessions", "guided exposure dose")
    placebo: float = spec(0.0, 0.0, 1.0, "1", "open-label placebo given (0-1)")
    label: str = "session"
    booster: bool = False

    def _check(self) -> None:
        if self.education == 0 and self.exposure == 0 and self.placebo == 0:
            raise ValidationError(
                "Session.dose",
                (self.education, self.exposure, self.placebo),
                "at least one of education, exposure, placebo > 0",
                f"session on day {self.day} delivers nothing",
            )


@dataclass(frozen=True)
class SelfGuided(Validated):
    """Self-guided education (workbook, website): a daily dose whose use fades.

    The dose on day ``t >= start_day`` is ``daily_dose * 2 ** (-(t - start_day) / half_life)``
    until ``end_day`` (exclusive; ``None`` = to the end of the horizon).
    """

    start_day: int = spec(0, -3650, _MAX_DAY, "study day", "first day of use", integer=True)
    daily_dose: float = spec(0.05, 0.0, 1.0, "sessions/day", "education dose per day at start")
    half_life: float = spec(
        math.inf, 0.0, math.inf, "days", "half-life of engagement (inf = no fading)", lo_open=True
    )
    end_day: int | None = None

    def _check(self) -> None:
        if self.end_day is not None:
            end = check_int("SelfGuided.end_day", self.end_day, self.start_day + 1, _MAX_DAY)
            object.__setattr__(self, "end_day", end)

    def dose(self, day: int) -> float:
        """Education dose (sessions) on study ``day``."""
        if day < self.start_day or (self.end_day is not None and day >= self.end_day):
            return 0.0
        if math.isinf(self.half_life):
            return self.daily_dose
        return self.daily_dose * 2.0 ** (-(day - self.start_day) / self.half_life)


@dataclass(frozen=True)
class Protocol(Validated):
    """A treatment protocol: sessions, self-guided material, and how patients take it up.

    Parameters
    ----------
    name : str
        Short identifier (used as the arm / scenario label).
    sessions : tuple of Session
        Contacts, sorted by day on construction; at most one per day.
    self_guided : tuple of SelfGuided
        Self-guided education periods.
    uptake : float
        Probability a patient starts treatment at all, 0-1 (PRT trial: 45/50 started).
    attendance : float
        Probability of attending each session once started, 0-1.
    dropout : float
        Probability of stopping treatment after each attended session, 0-1.
    description : str
        Free text.
    """

    name: str = "custom"
    sessions: tuple[Session, ...] = ()
    self_guided: tuple[SelfGuided, ...] = ()
    uptake: float = spec(1.0, 0.0, 1.0, "probability", "probability of starting treatment")
    attendance: float = spec(1.0, 0.0, 1.0, "probability", "probability of attending a session")
    dropout: float = spec(0.0, 0.0, 1.0, "probability", "probability of stopping after a session")
    description: str = field(default="", compare=False)

    def _check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("Protocol.name", self.name, "a non-empty string")
        sessions = tuple(self.sessions)
        for i, s in enumerate(sessions):
            if not isinstance(s, Session):
                raise ValidationError(f"Protocol.sessions[{i}]", s, "a prt_sim.Session")
        sessions = tuple(sorted(sessions, key=lambda s: s.day))
        for a, b in zip(sessions, sessions[1:]):
            if a.day == b.day:
                raise ValidationError(
                    "Protocol.sessions.day",
                    b.day,
                    "at most one session per day",
                    "merge the doses into one Session",
                )
        object.__setattr__(self, "sessions", sessions)
        sg = tuple(self.self_guided)
        for i, s in enumerate(sg):
            if not isinstance(s, SelfGuided):
                raise ValidationError(f"Protocol.self_guided[{i}]", s, "a prt_sim.SelfGuided")
        object.__setattr__(self, "self_guided", sg)

    # -- derived protocols -------------------------------------------------------------------
    def with_boosters(
        self,
        days: Iterable[int],
        education: float = 1.0,
        exposure: float = 1.0,
        name: str | None = None,
    ) -> Protocol:
        """Add booster sessions (education + exposure) on the given study days.

        Boosters follow treatment: each day must come after the protocol's last session that is
        not a booster (after day 0 for a protocol without sessions).
        """
        days = list(days)
        treatment = [s.day for s in self.sessions if not s.booster]
        after = max(treatment) if treatment else 0
        for i, d in enumerate(days):
            if not isinstance(d, (int, float)) or isinstance(d, bool) or d <= after:
                raise ValidationError(
                    f"with_boosters.days[{i}]",
                    d,
                    f"a study day after {after} (the last treatment session of {self.name})",
                    "boosters follow treatment",
                )
        extra = tuple(
            Session(day=d, education=education, exposure=exposure, label="booster", booster=True)
            for d in days
        )
        return self.replace(sessions=self.sessions + extra, name=name or f"{self.name}+boosters")

    def with_self_guided(
        self,
        start_day: int,
        daily_dose: float = 0.05,
        half_life: float = math.inf,
        end_day: int | None = None,
        name: str | None = None,
    ) -> Protocol:
        """Add a self-guided maintenance period (workbook, app, website)."""
        sg = SelfGuided(
            start_day=start_day, daily_dose=daily_dose, half_life=half_life, end_day=end_day
        )
        return self.replace(
            self_guided=self.self_guided + (sg,), name=name or f"{self.name}+self-guided"
        )

    @property
    def first_day(self) -> int | None:
        """Earliest day on which the protocol delivers anything (None if it never does)."""
        days = [s.day for s in self.sessions] + [s.start_day for s in self.self_guided]
        return min(days) if days else None

    @property
    def last_session_day(self) -> int | None:
        """Day of the last session (None without sessions)."""
        return self.sessions[-1].day if self.sessions else None

    # -- serialisation (provenance) ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sessions": [s.to_dict() for s in self.sessions],
            "self_guided": [s.to_dict() for s in self.self_guided],
            "uptake": self.uptake,
            "attendance": self.attendance,
            "dropout": self.dropout,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        """Inverse of :meth:`to_dict` (also after a JSON round trip, which writes an infinite
        half-life as ``"inf"``)."""
        d = dict(d)
        d["sessions"] = tuple(Session(**s) for s in d.get("sessions", ()))
        d["self_guided"] = tuple(
            SelfGuided(**{k: float(v) if k == "half_life" else v for k, v in s.items()})
            for s in d.get("self_guided", ())
        )
        return cls(**d)


def PRT(*, uptake: float = 0.9, attendance: float = 0.97, dropout: float = 0.0) -> Protocol:
    """Pain Reprocessing Therapy as in Ashar et al. 2022.

    A 1-hour physician education session (day 1), then 8 one-hour therapy sessions twice weekly
    over 4 weeks (days 4-28), each with education/reappraisal (half a session's dose) and guided
    exposure with somatic tracking (one session's dose). Uptake 0.9 reflects 45 of 50 starting.
    """
    first, *therapy = PRT_SESSION_DAYS
    sessions = (Session(day=first, education=1.0, label="physician education"),) + tuple(
        Session(day=d, education=0.5, exposure=1.0, label=f"PRT {i + 1}")
        for i, d in enumerate(therapy)
    )
    return Protocol(
        name="prt",
        sessions=sessions,
        uptake=uptake,
        attendance=attendance,
        dropout=dropout,
        description="Pain Reprocessing Therapy (Ashar 2022)",
    )


def OpenLabelPlacebo(*, day: int = 1) -> Protocol:
    """Open-label placebo: one subcutaneous saline injection after an empathic interview."""
    return Protocol(
        name="placebo",
        sessions=(Session(day=day, placebo=1.0, label="OLP injection"),),
        description="open-label placebo injection (Ashar 2022)",
    )


def UsualCare(
    *, post_day: int = POST_DAY, daily_dose: float = 0.03, half_life: float = 30.0
) -> Protocol:
    """Usual care: nothing until post (T2), then a workbook and a PRT-style website.

    The self-help material is a low, fading education dose (``daily_dose`` sessions/day with an
    engagement half-life of ``half_life`` days) from ``post_day`` on.
    """
    return Protocol(
        name="usual_care",
        self_guided=(SelfGuided(start_day=post_day, daily_dose=daily_dose, half_life=half_life),),
        description="usual care; workbook and website after post (Ashar 2022)",
    )


def NoTreatment() -> Protocol:
    """Nothing at all: the natural course (counterfactual)."""
    return Protocol(name="none", description="no treatment")


def custom(
    sessions: Iterable[tuple[int, float, float] | Session], name: str = "custom", **kwargs: Any
) -> Protocol:
    """Build a protocol from ``(day, education, exposure)`` tuples or :class:`Session` objects.

    Examples
    --------
    >>> p = custom([(0, 1.0, 0.0), (7, 0.5, 1.0)], name="brief")
    >>> [(s.day, s.exposure) for s in p.sessions]
    [(0, 0.0), (7, 1.0)]
    """
    out = []
    for i, s in enumerate(sessions):
        if isinstance(s, Session):
            out.append(s)
            continue
        try:
            day, edu, exp = s
        except (TypeError, ValueError):
            raise ValidationError(
                f"custom.sessions[{i}]", s, "a Session or a (day, education, exposure) tuple"
            ) from None
        out.append(Session(day=day, education=edu, exposure=exp))
    return Protocol(name=name, sessions=tuple(out), **kwargs)


#: Built-in protocols by name (each a zero-argument factory).
BUILTIN = {"prt": PRT, "placebo": OpenLabelPlacebo, "usual_care": UsualCare, "none": NoTreatment}


def get(protocol: str | Protocol) -> Protocol:
    """Return a :class:`Protocol` from a built-in name or pass a Protocol through."""
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, str) and protocol.lower() in BUILTIN:
        return BUILTIN[protocol.lower()]()
    raise ValidationError(
        "protocol", protocol, f"a Protocol or one of {sorted(BUILTIN)}", "unknown protocol name"
    )
