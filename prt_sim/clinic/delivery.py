"""The clinic as a SimPy discrete-event model: referrals, waitlists, caseloads and group seats as resources, session booking, no-shows, dropout, discharge and boosters.

One :class:`Clinic` is one replication. Referrals arrive at pre-drawn times (initial waitlist
first); a therapist-led patient asks for a place (a :class:`simpy.PriorityResource` per pool:
the therapists' caseload places for individual and telehealth care, the groups' seats), ordered
by the waitlist policy, and leaves the list after an exponential patience when it runs out.
A place granted is the intake: the patient takes up treatment or declines, is given the least
loaded therapist (or the emptiest group), and books one session at a time in the therapist's
diary at the protocol's cadence (a group patient attends its group's next meetings). Each
session is attended or missed (no-show); after an attended session the patient may drop out.
Early response (pain since intake) is judged after a set number of attended sessions and
raises non-responders' no-shows and dropout. After the course a patient whose pain returns
above the relapse threshold asks for a booster course. Self-guided patients start at once with
no resource.

The patient dynamics are not stepped here: sessions delivered are written to a buffer that
:mod:`prt_sim.clinic.population` applies, epoch by epoch, and the clinic reads patients'
weekly pain at epoch boundaries (early response, relapse, the post assessment).
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from .diary import Diary
from .spec import FORMATS, WEEKDAYS, ClinicSpec

__all__ = ["Clinic", "EVENTS", "STATUS", "Gauge"]

IND, TEL, GRP, SG = range(4)

#: Event types of the event log (the ``code`` of each row indexes this tuple).
EVENTS = (
    "referral",
    "waitlist",
    "renege",
    "intake",
    "decline",
    "session",
    "no_show",
    "dropout",
    "discharge",
    "relapse",
    "booster_request",
    "booster_session",
    "self_guided_start",
)
_E = {name: k for k, name in enumerate(EVENTS)}

#: Where a patient is (the ``status`` codes).
STATUS = ("not_referred", "waiting", "in_treatment", "discharged", "left")
NOT_REFERRED, WAITING, TREATING, DISCHARGED, LEFT = range(5)
#: How a patient's first course ended (the ``outcome`` codes).
OUTCOMES = (
    "waiting_at_end",
    "reneged",
    "declined",
    "completed",
    "dropped_out",
    "in_treatment_at_end",
)
O_WAITING, O_RENEGED, O_DECLINED, O_COMPLETED, O_DROPPED, O_TREATING = range(6)
_DONE, _DROPPED, _CENSORED = range(3)  # how a run of sessions ended
_BOOSTER_GAP = 7  # days between the sessions of a booster course (weekly; illustrative)


class Gauge:
    """A level (queue length, places in use) whose time integral is kept per week and over
    the results window ``[w0, w1)``."""

    __slots__ = ("env", "level", "last", "weekly", "window", "w0", "w1")

    def __init__(self, env: simpy.Environment, n_weeks: int, w0: float, w1: float) -> None:
        self.env = env
        self.level = 0
        self.last = env.now
        self.weekly = np.zeros(n_weeks)
        self.window = 0.0
        self.w0, self.w1 = w0, w1

    def add(self, delta: int) -> None:
        self.advance(self.env.now)
        self.level += delta

    def advance(self, now: float) -> None:
        t = self.last
        if now <= t:
            return
        lv = self.level
        if lv:
            lo, hi = max(t, self.w0), min(now, self.w1)
            if hi > lo:
                self.window += lv * (hi - lo)
            nw = len(self.weekly)
            while t < now:
                k = int(t // 7.0)
                e = min(now, (k + 1) * 7.0)
                if 0 <= k < nw:
                    self.weekly[k] += lv * (e - t)
                t = e
        self.last = now


class Clinic:
    """One replication of the clinic (see the module docstring).

    Parameters
    ----------
    spec : ClinicSpec
    referral : numpy.ndarray
        float64[n]: referral time of each patient (days; negative for the initial waitlist,
        who join the list on day 0), sorted.
    fmt : numpy.ndarray
        int8[n]: format of each patient (index into :data:`~prt_sim.clinic.spec.FORMATS`).
    draws : dict of numpy.ndarray
        Per-patient uniforms and times: ``patience`` (days), ``course`` (days of an
        exponential course), ``uptake`` [n], ``no_show`` and ``dropout`` [sessions, n].
    severity : numpy.ndarray
        float64[n]: pain at referral (orders the "severity" waitlist).
    week_pain : numpy.ndarray
        float64[n]: each patient's 7-day mean pain at the last epoch boundary, updated in
        place by the caller (read for early response); None without dynamics.
    record_events : bool
        Keep the per-patient event log.
    """

    def __init__(
        self,
        spec: ClinicSpec,
        referral: np.ndarray,
        fmt: np.ndarray,
        draws: dict[str, np.ndarray],
        severity: np.ndarray,
        week_pain: np.ndarray | None,
        *,
        record_events: bool = True,
    ) -> None:
        self.spec = spec
        s = spec
        self.env = env = simpy.Environment(initial_time=0.0)
        n = len(referral)
        self.n = n
        self.days = s.days
        self.n_weeks = int(math.ceil(s.days / 7))
        self.referral = referral
        self.fmt = fmt
        self.d = draws
        self.week_pain = week_pain
        self.dynamics = week_pain is not None
        self.record_events = record_events
        w0, w1 = float(s.warmup_days), float(s.days)
        st = s.staffing
        # -- resources --------------------------------------------------------------------
        cap = st.therapists * st.caseload if st.therapists else 0
        self.caseload_capacity = cap
        self.caseload = simpy.PriorityResource(env, capacity=cap) if cap else None
        self.caseload_limit = st.caseload
        self.th_count = np.zeros(max(st.therapists, 1), dtype=np.int64)
        self.diary = Diary(st, s.days) if st.therapists else None
        g = s.group
        self.n_groups = st.therapists * g.groups_per_therapist if s.mix.group > 0 else 0
        self.seats = (
            simpy.PriorityResource(env, capacity=self.n_groups * g.size) if self.n_groups else None
        )
        self.group_members = np.zeros(max(self.n_groups, 1), dtype=np.int64)
        self.meeting_days = np.array(
            [d for d in range(s.days) if WEEKDAYS[d % 7] in g.meeting_days], dtype=np.int64
        )
        self.group_time = np.zeros(max(self.n_groups, 1))  # hour of each group's meetings
        self.group_therapist = np.zeros(max(self.n_groups, 1), dtype=np.int64)
        for k in range(self.n_groups):
            th = k // g.groups_per_therapist
            self.group_therapist[k] = th
            slot = self.diary.reserve(th, self.meeting_days)
            self.group_time[k] = (st.shift_start + slot * st.session_hours) / 24.0
        self.held_meetings: set[tuple[int, int]] = set()
        # -- gauges -----------------------------------------------------------------------
        self.waiting = Gauge(env, self.n_weeks, w0, w1)
        self.busy = Gauge(env, self.n_weeks, w0, w1)
        self.seats_busy = Gauge(env, self.n_weeks, w0, w1)
        # -- per-patient records ----------------------------------------------------------
        nan = np.full(n, np.nan)
        self.status = np.zeros(n, dtype=np.int8)
        self.outcome = np.full(n, O_WAITING, dtype=np.int8)
        self.intake = nan.copy()
        self.discharge = nan.copy()
        self.therapist = np.full(n, -1, dtype=np.int64)
        self.group_of = np.full(n, -1, dtype=np.int64)
        self.attended = np.zeros(n, dtype=np.int32)
        self.missed = np.zeros(n, dtype=np.int32)
        self.pain_intake = nan.copy()
        self.nonresponder = np.zeros(n, dtype=bool)
        self.judged = np.zeros(n, dtype=bool)
        self.boosters = np.zeros(n, dtype=np.int32)
        self.in_booster = np.zeros(n, dtype=bool)
        self.booster_waits: list[float] = []
        self._session_no = np.zeros(n, dtype=np.int32)  # draws used (sessions booked)
        # -- what happened, for the engine and the results --------------------------------
        self.buffer: list[tuple[int, int, float, float, float]] = []  # delivered sessions
        self.sg_periods: list[tuple[int, int, int]] = []  # (row, first day, end day)
        self.sessions_week = np.zeros((self.n_weeks, len(FORMATS)), dtype=np.int64)
        self.missed_week = np.zeros((self.n_weeks, len(FORMATS)), dtype=np.int64)
        self.meetings_week = np.zeros(self.n_weeks, dtype=np.int64)
        self.slots_used_week = np.zeros(self.n_weeks, dtype=np.int64)
        self.sg_started_week = np.zeros(self.n_weeks, dtype=np.int64)
        # the same, counted over the results window [warmup_days, days)
        self.w0 = w0
        self.sessions_window = np.zeros(len(FORMATS), dtype=np.int64)
        self.missed_window = np.zeros(len(FORMATS), dtype=np.int64)
        self.meetings_window = 0
        self.slots_used_window = 0
        self.sg_started_window = 0
        self.booster_requests_window = 0
        self.ev_patient: list[int] = []
        self.ev_time: list[float] = []
        self.ev_code: list[int] = []
        self.ev_detail: list[int] = []
        # -- the course -------------------------------------------------------------------
        c = s.course
        self.sess_doses = [(x.education, x.exposure, x.placebo) for x in c.protocol.sessions]
        self.gaps = c.gaps
        self.uptake = c.protocol.uptake
        self.exponential = c.length == "exponential"
        fs = (s.individual, s.telehealth, s.group)
        self.no_show = [f.no_show for f in fs]
        self.dose = [f.dose for f in fs]
        self.patience_finite = math.isfinite(s.waitlist.patience_days)
        self.fifo = fifo = s.waitlist.policy == "fifo"
        self.priority = [
            float(referral[i]) if fifo else (-float(severity[i]), float(referral[i]))
            for i in range(n)
        ]
        env.process(self._arrivals())

    # -- bookkeeping ------------------------------------------------------------------------
    def log(self, i: int, code: str, detail: int = -1) -> None:
        if self.record_events:
            self.ev_patient.append(i)
            self.ev_time.append(self.env.now)
            self.ev_code.append(_E[code])
            self.ev_detail.append(detail)

    def _week(self, t: float) -> int:
        return int(t // 7.0)

    # -- processes --------------------------------------------------------------------------
    def _arrivals(self):
        env = self.env
        # the initial waitlist joins on day 0 in the order of the policy, so the places free at
        # opening go to those first in line; then referrals in order of time
        n0 = int(np.sum(self.referral <= 0))
        order = sorted(range(n0), key=lambda i: (self.priority[i], i))
        for i in [*order, *range(n0, self.n)]:
            t = max(0.0, float(self.referral[i]))
            if t > env.now:
                yield env.timeout(t - env.now)
            self.status[i] = WAITING
            if self.record_events:
                self.ev_patient.append(i)
                self.ev_time.append(float(self.referral[i]))
                self.ev_code.append(_E["referral"])
                self.ev_detail.append(int(self.fmt[i]))
            env.process(self._patient(i))

    def _wait(self, i: int, pool: simpy.PriorityResource, booster: bool = False):
        """Wait for a place in ``pool``; returns the granted request, or None (reneged)."""
        env = self.env
        if booster:  # asked for now: ordered by the time of the request (or pain now)
            prio = env.now if self.fifo else (-float(self.week_pain[i]), env.now)
        else:
            prio = self.priority[i]
        req = pool.request(priority=prio)
        self.waiting.add(1)
        self.log(i, "waitlist", 1 if booster else 0)
        t_in = env.now
        if self.patience_finite:
            patience = self.d["patience"][i]
            yield req | env.timeout(patience)
            if not req.triggered:
                req.cancel()
                self.waiting.add(-1)
                self.log(i, "renege", 1 if booster else 0)
                return None
        else:
            yield req
        self.waiting.add(-1)
        if booster:
            self.booster_waits.append(env.now - t_in)
        return req

    def _patient(self, i: int):
        env = self.env
        f = int(self.fmt[i])
        if f == SG:
            yield from self._self_guided(i)
            return
        group = f == GRP
        pool = self.seats if group else self.caseload
        req = yield from self._wait(i, pool)
        if req is None:
            self.status[i] = LEFT
            self.outcome[i] = O_RENEGED
            return
        gauge = self.seats_busy if group else self.busy
        gauge.add(1)
        self.intake[i] = env.now
        self.status[i] = TREATING
        self.outcome[i] = O_TREATING
        if self.dynamics:
            self.pain_intake[i] = self.week_pain[i]
        if self.d["uptake"][i] >= self.uptake:
            self.log(i, "intake", -1)
            self.log(i, "decline")
            pool.release(req)
            gauge.add(-1)
            self.status[i] = LEFT
            self.outcome[i] = O_DECLINED
            return
        if group:
            k = int(np.argmin(self.group_members[: self.n_groups]))
            self.group_members[k] += 1
            self.group_of[i] = k
            self.log(i, "intake", k)
        else:
            th = self._assign()
            self.therapist[i] = th
            self.log(i, "intake", th)
        end = env.now + self.d["course"][i] if self.exponential else math.inf
        th = int(self.therapist[i])
        how = yield from self._sessions(i, f, len(self.sess_doses), end, th, booster=False)
        if how == _CENSORED:
            return  # still in treatment when the run ends
        dropped = how == _DROPPED
        if self.exponential and not dropped and end > env.now:
            yield env.timeout(end - env.now)
        if group:
            self.group_members[self.group_of[i]] -= 1
        else:
            self.th_count[self.therapist[i]] -= 1
        pool.release(req)
        gauge.add(-1)
        self.discharge[i] = env.now
        self.status[i] = DISCHARGED
        self.outcome[i] = O_DROPPED if dropped else O_COMPLETED
        self.log(i, "discharge", int(dropped))

    def _assign(self) -> int:
        counts = self.th_count
        th = int(np.argmin(counts))
        counts[th] += 1
        return th

    def _sessions(self, i: int, fi: int, n_sessions: int, end: float, th: int, *, booster: bool):
        """Book and hold ``n_sessions`` sessions in format ``fi`` with therapist ``th`` (or the
        patient's group); returns how the course ended: completed, dropped out, or still
        running when the run ends."""
        env = self.env
        c = self.spec.course
        target = int(math.floor(env.now)) + 1
        nd = self.d["no_show"].shape[0]
        before = min(end, float(self.days))
        ran_out = _DONE if end < self.days else _CENSORED  # when no session fits any more
        for k in range(n_sessions):
            if fi == GRP:
                g = int(self.group_of[i])
                j = int(np.searchsorted(self.meeting_days, target))
                if j >= len(self.meeting_days):
                    return ran_out
                day = int(self.meeting_days[j])
                t = day + self.group_time[g]
                if t >= before:
                    return ran_out
            else:
                day, t = self.diary.book(th, target, before)
                if day < 0:
                    return ran_out
            yield env.timeout(t - env.now)
            w = self._week(env.now)
            inw = env.now >= self.w0
            u = self._session_no[i]
            self._session_no[i] += 1
            p = self.no_show[fi]
            if self.nonresponder[i]:
                p = min(1.0, p * c.no_show_nonresponder)
            if fi == GRP:
                key = (int(self.group_of[i]), day)
                if key not in self.held_meetings:
                    self.held_meetings.add(key)
                    if w < self.n_weeks:
                        self.meetings_week[w] += 1
                        self.slots_used_week[w] += 1
                    if inw:
                        self.meetings_window += 1
                        self.slots_used_window += 1
            else:
                if w < self.n_weeks:
                    self.slots_used_week[w] += 1
                if inw:
                    self.slots_used_window += 1
            if self.d["no_show"][min(u, nd - 1), i] < p:
                self.missed[i] += 1
                if w < self.n_weeks:
                    self.missed_week[w, fi] += 1
                if inw:
                    self.missed_window[fi] += 1
                self.log(i, "no_show", k)
            else:
                if booster:
                    edu, exp, plc = c.booster_education, c.booster_exposure, 0.0
                else:
                    edu, exp, plc = self.sess_doses[k]
                dose = self.dose[fi]
                self.buffer.append((i, day, edu * dose, exp * dose, plc))
                self.attended[i] += 1
                if w < self.n_weeks:
                    self.sessions_week[w, fi] += 1
                if inw:
                    self.sessions_window[fi] += 1
                self.log(i, "booster_session" if booster else "session", k)
                if (
                    self.dynamics
                    and not self.judged[i]
                    and self.attended[i] >= c.early_response_session
                ):
                    self.judged[i] = True
                    base = self.pain_intake[i]
                    drop = (base - self.week_pain[i]) / base if base > 0 else 0.0
                    self.nonresponder[i] = drop < c.response_threshold
                pd = c.dropout_nonresponder if self.nonresponder[i] else c.dropout
                if not booster and self.d["dropout"][min(u, nd - 1), i] < pd:
                    self.log(i, "dropout", k)
                    return _DROPPED
            if k < n_sessions - 1:
                gap = self.gaps[k] if not booster else _BOOSTER_GAP
                target = day + gap
        return _DONE

    def _self_guided(self, i: int, booster: bool = False):
        env = self.env
        s = self.spec
        if not booster:
            self.intake[i] = env.now
            if self.d["uptake"][i] >= self.uptake:
                self.log(i, "decline")
                self.status[i] = LEFT
                self.outcome[i] = O_DECLINED
                return
            self.status[i] = TREATING
            self.outcome[i] = O_TREATING
            if self.dynamics:
                self.pain_intake[i] = self.week_pain[i]
        first = int(math.floor(env.now)) + 1
        end = first + s.self_guided.program_days
        self.sg_periods.append((i, first, end))
        w = self._week(env.now)
        if w < self.n_weeks:
            self.sg_started_week[w] += 1
        if env.now >= self.w0:
            self.sg_started_window += 1
        self.log(i, "self_guided_start", int(booster))
        yield env.timeout(end - env.now)
        self.status[i] = DISCHARGED
        if not booster:
            self.discharge[i] = env.now
            self.outcome[i] = O_COMPLETED
        self.log(i, "discharge", 0)

    def booster(self, i: int):
        """The booster course of patient ``i`` after a relapse (started by the run loop)."""
        env = self.env
        self.boosters[i] += 1
        self.in_booster[i] = True
        if env.now >= self.w0:
            self.booster_requests_window += 1
        self.log(i, "booster_request", int(self.boosters[i]))
        f = int(self.fmt[i])
        if f == SG:
            yield from self._self_guided(i, booster=True)
            self.in_booster[i] = False
            return
        fi = TEL if f == TEL else IND
        req = yield from self._wait(i, self.caseload, booster=True)
        if req is None:
            self.in_booster[i] = False
            return
        self.busy.add(1)
        th = self._assign()
        self.status[i] = TREATING
        n_b = self.spec.course.booster_sessions
        how = yield from self._sessions(i, fi, n_b, math.inf, th, booster=True)
        if how == _CENSORED:
            return
        self.th_count[th] -= 1
        self.caseload.release(req)
        self.busy.add(-1)
        self.status[i] = DISCHARGED
        self.in_booster[i] = False
        self.log(i, "discharge", 2)

    # -- the run loop's hooks ------------------------------------------------------------------
    def take_buffer(self) -> tuple[np.ndarray, ...]:
        """The sessions delivered since the last call: (rows, days, education, exposure,
        placebo)."""
        b = self.buffer
        self.buffer = []
        if not b:
            e = np.empty(0)
            return (np.empty(0, np.int64), np.empty(0, np.int64), e, e, e)
        a = np.array(b, dtype=np.float64)
        return (a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2], a[:, 3], a[:, 4])

    def self_guided_doses(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Self-guided doses on clinic days ``[t0, t1)``: (rows, days, dose)."""
        sg = self.spec.self_guided
        rows, days, dose = [], [], []
        keep = []
        for r, a, b in self.sg_periods:
            lo, hi = max(a, t0), min(b, t1)
            for d in range(lo, hi):
                rows.append(r)
                days.append(d)
                dose.append(
                    sg.daily_dose
                    * (2.0 ** (-(d - a) / sg.half_life) if math.isfinite(sg.half_life) else 1.0)
                )
            if b > t1:
                keep.append((r, a, b))
        self.sg_periods = keep
        return (
            np.array(rows, dtype=np.int64),
            np.array(days, dtype=np.int64),
            np.array(dose, dtype=np.float64),
        )

    def finish(self) -> None:
        """Close the gauges at the end of the run."""
        for g in (self.waiting, self.busy, self.seats_busy):
            g.advance(float(self.days))
