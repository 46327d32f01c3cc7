"""What a clinic run is given: validated parameter objects for staff, referrals, the waitlist, the course of treatment, the four formats and their costs.

Every field is declared once with its default, allowed range, unit and source (most are a
planner's inputs: the defaults are illustrative and say so). :class:`ClinicSpec` gathers the
parts; :meth:`ClinicSpec.from_dict` and :func:`load_spec` build one from plain data or a TOML
file, naming any unknown or out-of-range field before a run starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ValidationError, check_range
from ..io import read_toml
from ..model.cohorts import CohortSpec
from ..model.params import ModelParams
from ..model.protocols import PRT, Protocol, UsualCare
from ..model.protocols import get as get_protocol
from ..model.spec import Validated, spec

__all__ = [
    "FORMATS",
    "THERAPIST_LED",
    "WEEKDAYS",
    "Staffing",
    "Referrals",
    "Waitlist",
    "Course",
    "Mix",
    "Individual",
    "Telehealth",
    "Group",
    "SelfGuidedFormat",
    "ClinicSpec",
    "load_spec",
]

#: The four formats of delivery, in the order of every ``format`` dimension.
FORMATS = ("individual", "telehealth", "group", "self_guided")
#: Formats that need a therapist.
THERAPIST_LED = ("individual", "telehealth", "group")
#: Day names; clinic day 0 is a Monday.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_PRT = PRT()
_UC_SELF_HELP = UsualCare().self_guided[0]
_BIG = 1e9  # costs and counts beyond this are unit mistakes
_INF = {"inf": math.inf, "-inf": -math.inf}


def _weekdays(owner: str, days: Any) -> tuple[str, ...]:
    if isinstance(days, str):
        days = (days,)
    try:
        out = tuple(str(d).lower()[:3] for d in days)
    except TypeError:
        raise ValidationError(owner, days, f"a list of day names among {WEEKDAYS}") from None
    bad = [d for d in out if d not in WEEKDAYS]
    if bad or len(set(out)) != len(out):
        raise ValidationError(owner, list(days), f"distinct day names among {WEEKDAYS}")
    return tuple(sorted(out, key=WEEKDAYS.index))


@dataclass(frozen=True)
class Staffing(Validated):
    """The PRT therapists: how many, their working week, and how many patients each carries.

    Parameters
    ----------
    therapists : int
        Full-time PRT-trained therapists, 0-100000 (planner's input; 0 only when every referral
        goes to the self-guided format).
    caseload : float
        Most patients one therapist treats at once (individual and telehealth), 1 to inf; an
        integer, or inf for no limit (planner's input, illustrative).
    workdays : tuple of str
        Working days (``"mon"`` ... ``"sun"``; clinic day 0 is a Monday). Default Monday to
        Friday (planner's input).
    shift_start, shift_end : float
        Hours of the day the shift starts and ends, 0-24, start before end (planner's input,
        illustrative: 9 to 17).
    session_hours : float
        Length of one session, hours, (0, 24]: 1, as PRT's sessions in Ashar 2022.
    bookable_share : float
        Share of shift hours that can be booked with sessions, (0, 1]; the rest is notes,
        supervision and administration (illustrative: 0.75).
    cost_per_year : float
        Salary and overheads of one therapist per year, 0-1e9 currency units (planner's input;
        0 counts session costs only).
    """

    therapists: int = spec(4, 0, 100_000, "therapists", "PRT-trained therapists", integer=True)
    caseload: float = spec(20.0, 1.0, math.inf, "patients", "patients one therapist carries")
    workdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    shift_start: float = spec(9.0, 0.0, 24.0, "hour of day", "start of the shift")
    shift_end: float = spec(17.0, 0.0, 24.0, "hour of day", "end of the shift")
    session_hours: float = spec(1.0, 0.0, 24.0, "hours", "length of a session", lo_open=True)
    bookable_share: float = spec(
        0.75, 0.0, 1.0, "fraction", "share of shift hours bookable for sessions", lo_open=True
    )
    cost_per_year: float = spec(0.0, 0.0, _BIG, "currency/year", "cost of one therapist-year")

    def _check(self) -> None:
        if not (math.isinf(self.caseload) or float(self.caseload).is_integer()):
            raise ValidationError(
                "Staffing.caseload", self.caseload, "an integer in [1, inf) or inf"
            )
        object.__setattr__(self, "workdays", _weekdays("Staffing.workdays", self.workdays))
        if self.shift_end <= self.shift_start:
            raise ValidationError(
                "Staffing.shift_end",
                self.shift_end,
                f"an hour after shift_start ({self.shift_start})",
            )

    @property
    def slots_per_day(self) -> int:
        """Sessions one therapist can hold on a working day."""
        hours = self.bookable_share * (self.shift_end - self.shift_start)
        return int(math.floor(hours / self.session_hours + 1e-9))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["workdays"] = list(self.workdays)
        return d


@dataclass(frozen=True)
class Referrals(Validated):
    """Referrals arriving over time (a Poisson process whose rate may change by month), and
    the waitlist the clinic starts with.

    Parameters
    ----------
    per_month : tuple of float
        Referrals per month (30.4375 days), each 0-1e6: one value for a constant rate, or one
        per month of the run (the last holds on after) (planner's input, illustrative: 30).
    initial_waitlist : int
        Patients already waiting on day 0, 0-1e6 (planner's input; an alternative to a long
        warm-up).
    initial_wait_days : float
        Those patients were referred evenly over this many days before day 0, 0-3650.
    """

    per_month: tuple[float, ...] = (30.0,)
    initial_waitlist: int = spec(0, 0, 1_000_000, "patients", "waiting on day 0", integer=True)
    initial_wait_days: float = spec(0.0, 0.0, 3650.0, "days", "spread of their referrals")

    def _check(self) -> None:
        rates = self.per_month
        if isinstance(rates, (int, float)) and not isinstance(rates, bool):
            rates = (rates,)
        try:
            rates = tuple(rates)
        except TypeError:
            raise ValidationError(
                "Referrals.per_month", rates, "a number or a list of numbers"
            ) from None
        if not rates:
            raise ValidationError("Referrals.per_month", rates, "at least one rate")
        out = tuple(
            check_range(f"Referrals.per_month[{i}]", r, 0.0, 1e6) for i, r in enumerate(rates)
        )
        object.__setattr__(self, "per_month", out)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["per_month"] = list(self.per_month)
        return d


@dataclass(frozen=True)
class Waitlist(Validated):
    """Who is offered a free place first, and how long people wait before giving up.

    Parameters
    ----------
    policy : {"fifo", "severity"}
        "fifo": first referred, first offered; "severity": highest pain at referral first, ties
        by referral time (planner's input).
    patience_days : float
        Mean time a waiting patient stays on the list before leaving it (reneging; exponential),
        days, (0, inf]; inf: nobody leaves (planner's input).
    target_days : float
        Waiting-time target whose breaches are counted, days, 0-3650 (planner's input; default
        126 days = 18 weeks, England's referral-to-treatment standard).
    """

    policy: str = "fifo"
    patience_days: float = spec(
        math.inf, 0.0, math.inf, "days", "mean patience on the list", lo_open=True
    )
    target_days: float = spec(126.0, 0.0, 3650.0, "days", "waiting-time target")

    def _check(self) -> None:
        if self.policy not in ("fifo", "severity"):
            raise ValidationError("Waitlist.policy", self.policy, "'fifo' or 'severity'")


@dataclass(frozen=True)
class Course(Validated):
    """One patient's course of treatment: the protocol's sessions and cadence, how long a place
    is held, early response, dropout and boosters after relapse.

    Parameters
    ----------
    protocol : Protocol or str
        Sessions (doses and cadence: the gaps between session days) and uptake; default PRT as
        in Ashar 2022 (a physician education session, then 8 sessions twice weekly).
    length : {"protocol", "exponential"}
        "protocol": a place is held from intake to the last session (or dropout);
        "exponential": for an exponential time of mean ``mean_days`` whatever the sessions
        (queueing-theory checks; sessions past it are not held).
    mean_days : float
        Mean length of an exponential course, days, (0, 3650] (PRT's 4 weeks).
    early_response_session : int
        Attended sessions after which early response is judged, 1-100 (illustrative: 4, half
        of PRT's 8 therapy sessions).
    response_threshold : float
        Reduction of the 7-day mean pain since intake that counts as an early response, 0-1:
        0.3, the >= 30% reduction of the forecasts' ``reduction30`` (Cherkin et al. 2016 in
        ``../shared/notes/prior_sources.md``).
    dropout : float
        Probability of stopping after an attended session, before response is judged and for
        early responders, 0-1: the protocol's (0 for PRT, Ashar 2022) unless set.
    dropout_nonresponder : float
        The same for early non-responders, 0-1 (illustrative planner's input: 0.05).
    no_show_nonresponder : float
        Multiplier of the no-show probability for early non-responders, 1-100 (illustrative
        planner's input: 2).
    relapse_threshold : float
        7-day mean pain (points, 1-10) at or above which a patient discharged below it has
        relapsed: 4, the forecasts' RelapseRule default (the trial's eligibility threshold).
    relapse_weeks : int
        Consecutive weekly readings at or above the threshold that make a relapse, 1-52: 2, as
        RelapseRule's ``confirm`` (there of monthly assessments).
    max_boosters : int
        Booster courses a relapsed patient may ask for, 0-20 (planner's input: 1).
    booster_sessions : int
        Sessions of one booster course, 1-20 (planner's input: 1).
    booster_education, booster_exposure : float
        Doses of a booster session in session units, 0-10: one PRT therapy session (0.5 / 1.0,
        the forecasts' Scenario default).
    """

    protocol: Protocol | str = "prt"
    length: str = "protocol"
    mean_days: float = spec(28.0, 0.0, 3650.0, "days", "mean exponential course", lo_open=True)
    early_response_session: int = spec(
        4, 1, 100, "sessions", "sessions before response is judged", integer=True
    )
    response_threshold: float = spec(0.3, 0.0, 1.0, "fraction", "pain reduction of a response")
    dropout: float | None = None
    dropout_nonresponder: float = spec(0.05, 0.0, 1.0, "probability", "non-responders' dropout")
    no_show_nonresponder: float = spec(2.0, 1.0, 100.0, "ratio", "non-responders' no-shows")
    relapse_threshold: float = spec(4.0, 1.0, 10.0, "points", "pain of a relapse")
    relapse_weeks: int = spec(2, 1, 52, "weeks", "weeks above the threshold", integer=True)
    max_boosters: int = spec(1, 0, 20, "courses", "booster courses per patient", integer=True)
    booster_sessions: int = spec(1, 1, 20, "sessions", "sessions per booster", integer=True)
    booster_education: float = spec(0.5, 0.0, 10.0, "sessions", "education dose of a booster")
    booster_exposure: float = spec(1.0, 0.0, 10.0, "sessions", "exposure dose of a booster")

    def _check(self) -> None:
        p = get_protocol(self.protocol)
        object.__setattr__(self, "protocol", p)
        if not p.sessions:
            raise ValidationError("Course.protocol", p.name, "a protocol with at least one session")
        if self.length not in ("protocol", "exponential"):
            raise ValidationError("Course.length", self.length, "'protocol' or 'exponential'")
        d = p.dropout if self.dropout is None else self.dropout
        object.__setattr__(self, "dropout", check_range("Course.dropout", d, 0.0, 1.0))
        if self.booster_education == 0 and self.booster_exposure == 0 and self.max_boosters:
            raise ValidationError(
                "Course.booster_education/exposure", 0.0, "a dose > 0 when boosters are given"
            )

    @property
    def gaps(self) -> tuple[int, ...]:
        """Days from each session to the next in the protocol (the cadence)."""
        days = [s.day for s in self.protocol.sessions]
        return tuple(b - a for a, b in zip(days, days[1:]))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["protocol"] = self.protocol.to_dict()
        return d


@dataclass(frozen=True)
class Mix(Validated):
    """Shares of referrals offered each format (they sum to 1; planner's input, default all
    individual in person)."""

    individual: float = spec(1.0, 0.0, 1.0, "share", "share offered individual in person")
    telehealth: float = spec(0.0, 0.0, 1.0, "share", "share offered telehealth")
    group: float = spec(0.0, 0.0, 1.0, "share", "share offered a group")
    self_guided: float = spec(0.0, 0.0, 1.0, "share", "share offered self-guided material")

    def _check(self) -> None:
        total = sum(self.shares)
        if abs(total - 1.0) > 1e-9:
            raise ValidationError("Mix", dict(zip(FORMATS, self.shares)), "shares summing to 1")

    @property
    def shares(self) -> tuple[float, ...]:
        """The shares in the order of :data:`FORMATS`."""
        return tuple(getattr(self, f) for f in FORMATS)


@dataclass(frozen=True)
class Individual(Validated):
    """Individual sessions in person.

    Parameters
    ----------
    no_show : float
        Probability a booked session is missed, 0-1: 1 - the PRT protocol's attendance (0.97,
        Ashar 2022).
    dose : float
        Multiplier of the protocol's session doses, 0-5: 1, as delivered in the trial.
    cost_per_session : float
        Cost of one booked session (missed ones included), 0-1e9 (illustrative planner's input).
    """

    no_show: float = spec(
        round(1.0 - _PRT.attendance, 6), 0.0, 1.0, "probability", "no-show probability"
    )
    dose: float = spec(1.0, 0.0, 5.0, "multiplier", "dose of a session, relative to the trial's")
    cost_per_session: float = spec(150.0, 0.0, _BIG, "currency", "cost of a booked session")


@dataclass(frozen=True)
class Telehealth(Validated):
    """Individual sessions by video.

    Parameters
    ----------
    no_show : float
        Probability a booked session is missed, 0-1 (planner's input; default as in person).
    dose : float
        Efficacy: multiplier of the protocol's session doses, 0-5 (planner's input; default 1:
        the trial's physician session was itself by telehealth).
    cost_per_session : float
        Cost of one booked session, 0-1e9 (illustrative planner's input).
    """

    no_show: float = spec(
        round(1.0 - _PRT.attendance, 6), 0.0, 1.0, "probability", "no-show probability"
    )
    dose: float = spec(1.0, 0.0, 5.0, "multiplier", "dose of a session, relative to the trial's")
    cost_per_session: float = spec(120.0, 0.0, _BIG, "currency", "cost of a booked session")


@dataclass(frozen=True)
class Group(Validated):
    """Rolling groups: one therapist, up to ``size`` patients, meeting on fixed weekdays; a
    patient joins when a seat frees and attends as many meetings as the protocol has sessions.

    Parameters
    ----------
    size : int
        Most patients in one group, 1-100 (illustrative planner's input: 8).
    groups_per_therapist : int
        Groups each therapist runs at once, 0-50 (illustrative: 2).
    meeting_days : tuple of str
        Weekdays the groups meet: Monday and Thursday, PRT's twice-weekly cadence.
    no_show : float
        Probability a patient misses a meeting, 0-1 (default as individual sessions).
    dose : float
        Per-patient dose of a meeting relative to an individual session, 0-5 (illustrative
        planner's input: 0.75).
    cost_per_session : float
        Cost of one meeting (the therapist's hour and the room), 0-1e9 (illustrative).
    """

    size: int = spec(8, 1, 100, "patients", "seats of a group", integer=True)
    groups_per_therapist: int = spec(2, 0, 50, "groups", "groups per therapist", integer=True)
    meeting_days: tuple[str, ...] = ("mon", "thu")
    no_show: float = spec(
        round(1.0 - _PRT.attendance, 6), 0.0, 1.0, "probability", "no-show probability"
    )
    dose: float = spec(0.75, 0.0, 5.0, "multiplier", "per-patient dose of a meeting")
    cost_per_session: float = spec(200.0, 0.0, _BIG, "currency", "cost of one meeting")

    def _check(self) -> None:
        days = _weekdays("Group.meeting_days", self.meeting_days)
        if not days:
            raise ValidationError("Group.meeting_days", list(days), "at least one weekday")
        object.__setattr__(self, "meeting_days", days)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["meeting_days"] = list(self.meeting_days)
        return d


@dataclass(frozen=True)
class SelfGuidedFormat(Validated):
    """Self-guided material (workbook, app): no therapist, a lower daily education dose.

    Parameters
    ----------
    daily_dose : float
        Education dose per day at the start, sessions/day, 0-1: 0.03, the usual-care workbook
        and website of the model's usual care arm (Ashar 2022).
    half_life : float
        Half-life of engagement, days, (0, inf]: 30, as that arm's.
    program_days : int
        Length of the program, days, 1-3650 (illustrative: 28, PRT's 4 weeks).
    cost_per_patient : float
        Cost of the material per patient, 0-1e9 (illustrative planner's input).
    """

    daily_dose: float = spec(_UC_SELF_HELP.daily_dose, 0.0, 1.0, "sessions/day", "daily dose")
    half_life: float = spec(
        _UC_SELF_HELP.half_life, 0.0, math.inf, "days", "engagement half-life", lo_open=True
    )
    program_days: int = spec(28, 1, 3650, "days", "length of the program", integer=True)
    cost_per_patient: float = spec(40.0, 0.0, _BIG, "currency", "cost per patient")


_PARTS = {
    "staffing": Staffing,
    "referrals": Referrals,
    "waitlist": Waitlist,
    "course": Course,
    "mix": Mix,
    "individual": Individual,
    "telehealth": Telehealth,
    "group": Group,
    "self_guided": SelfGuidedFormat,
}


@dataclass(frozen=True)
class ClinicSpec(Validated):
    """Everything a clinic run is given (see :func:`prt_sim.clinic.run_clinic`).

    Parameters
    ----------
    days : int
        Length of the run, warm-up included, days, 7-36500 (planner's input: 2 years).
    warmup_days : int
        Days at the start excluded from the results, 0 to ``days - 1``.
    dynamics : bool
        Advance every referred patient's pain and beliefs day by day with the model's engine
        (False: the clinic alone, for queueing checks; no pain outcomes).
    followup_days : int
        Days after referral of the intention-to-treat pain outcome, 7-3650 (planner's input: 6
        months).
    post_delay_days : int
        Days from the last session to the post assessment, 0-365: 2, as in Ashar 2022 (last
        session day 28, post day 30).
    staffing, referrals, waitlist, course, mix, individual, telehealth, group, self_guided
        The parts (each validated on its own; give objects or dicts of their fields).
    params : ModelParams
        The patient model's parameters (default: the package's).
    cohort : CohortSpec
        The population referred patients are drawn from (default: the trial's baseline).
    """

    days: int = spec(730, 7, 36_500, "days", "length of the run", integer=True)
    warmup_days: int = spec(0, 0, 36_500, "days", "warm-up excluded from results", integer=True)
    dynamics: bool = True
    followup_days: int = spec(182, 7, 3650, "days", "follow-up after referral", integer=True)
    post_delay_days: int = spec(2, 0, 365, "days", "last session to post", integer=True)
    staffing: Staffing = field(default_factory=Staffing)
    referrals: Referrals = field(default_factory=Referrals)
    waitlist: Waitlist = field(default_factory=Waitlist)
    course: Course = field(default_factory=Course)
    mix: Mix = field(default_factory=Mix)
    individual: Individual = field(default_factory=Individual)
    telehealth: Telehealth = field(default_factory=Telehealth)
    group: Group = field(default_factory=Group)
    self_guided: SelfGuidedFormat = field(default_factory=SelfGuidedFormat)
    params: ModelParams = field(default_factory=ModelParams)
    cohort: CohortSpec = field(default_factory=CohortSpec)

    def _check(self) -> None:
        for name, cls in (*_PARTS.items(), ("params", ModelParams), ("cohort", CohortSpec)):
            v = getattr(self, name)
            if isinstance(v, dict):
                v = cls.from_dict(v)
                object.__setattr__(self, name, v)
            if not isinstance(v, cls):
                raise ValidationError(f"ClinicSpec.{name}", v, f"a {cls.__name__} or a dict")
        if not isinstance(self.dynamics, bool):
            raise ValidationError("ClinicSpec.dynamics", self.dynamics, "true or false")
        if self.warmup_days >= self.days:
            raise ValidationError(
                "ClinicSpec.warmup_days",
                self.warmup_days,
                f"an integer in [0, {self.days - 1}] (shorter than days={self.days})",
                "the warm-up would leave no time for results",
            )
        led = [f for f, s in zip(FORMATS, self.mix.shares) if s > 0 and f in THERAPIST_LED]
        if led and self.staffing.therapists == 0:
            raise ValidationError(
                "Staffing.therapists",
                0,
                "at least 1 when a therapist-led format has a share",
                f"formats {led} need therapists; send referrals to self_guided only",
            )
        if led and self.staffing.slots_per_day < 1:
            s = self.staffing
            raise ValidationError(
                "Staffing.session_hours",
                s.session_hours,
                f"at most the bookable hours of a shift ({s.bookable_share * (s.shift_end - s.shift_start):g})",
                "no session fits in a working day",
            )
        if self.mix.group > 0 and self.group.groups_per_therapist == 0:
            raise ValidationError(
                "Group.groups_per_therapist", 0, "at least 1 when the group format has a share"
            )
        if self.mix.group > 0:
            need = len(self.group.meeting_days) * self.group.groups_per_therapist
            for d in self.group.meeting_days:
                if d not in self.staffing.workdays:
                    raise ValidationError(
                        "Group.meeting_days", d, f"working days {list(self.staffing.workdays)}"
                    )
            if self.group.groups_per_therapist > self.staffing.slots_per_day:
                raise ValidationError(
                    "Group.groups_per_therapist",
                    self.group.groups_per_therapist,
                    f"at most the sessions of a working day ({self.staffing.slots_per_day})",
                    f"{need} weekly meetings per therapist do not fit",
                )

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in (*_PARTS, "params", "cohort"):
            d[k] = d[k].to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClinicSpec:
        """Build from plain data (as :meth:`to_dict` writes, or a TOML file's tables): each
        part a dict of its fields; unknown names are refused by name."""
        if not isinstance(d, dict):
            raise ValidationError("ClinicSpec", type(d).__name__, "a table of fields")
        known = {f.name for f in fields(cls)}
        out: dict[str, Any] = {}
        for k, v in d.items():
            if k not in known:
                raise ValidationError(
                    f"ClinicSpec.{k}", v, f"one of the fields {sorted(known)}", "unknown field"
                )
            out[k] = v
        parts = {**_PARTS, "params": ModelParams, "cohort": CohortSpec}
        for k, part in parts.items():
            if k in out and isinstance(out[k], dict):
                # JSON (a result's provenance) writes infinities as "inf"
                sub = {f: _INF.get(v, v) if isinstance(v, str) else v for f, v in out[k].items()}
                if k == "course" and isinstance(sub.get("protocol"), dict):
                    sub["protocol"] = Protocol.from_dict(sub["protocol"])
                if k == "cohort" and "correlation" in sub:
                    sub["correlation"] = tuple(tuple(r) for r in sub["correlation"])
                out[k] = part.from_dict(sub)
        return cls(**out)


def load_spec(path: str | Path) -> ClinicSpec:
    """Read a :class:`ClinicSpec` from a TOML file (tables named as the parts; see
    ``examples/clinic.toml``).

    Raises
    ------
    DataFormatError
        The file is missing or is not TOML (names the file and the line).
    ValidationError
        A field is unknown or out of range (names it).
    """
    data = read_toml(path)
    return ClinicSpec.from_dict(data)
