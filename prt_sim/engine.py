"""The numba kernels that advance many patients through their days and observe them at visits.

Three kernels, each over a batch of patients in parallel (``prange``): :func:`prime` fills each
patient's 7-day pain memory, :func:`advance` runs days ``[t0, t1)`` of every patient's calendar
and :func:`observe` draws the instruments on a visit day. Their inputs are named structures:

- :class:`Patients`: per-patient tables (state and traits rows, ids, treatment status, the pain
  memory), each patient pointing to a row of :class:`Draws` (``member``) and of
  :class:`Calendars` (``group``);
- :class:`Draws`: parameter rows (one per posterior draw, or one for a plain simulation) with
  their random-stream keys;
- :class:`Calendars`: drive tables (one row per protocol and scenario) over the simulated days.

Days run inside each patient's loop so the state stays in registers; the daily update
(:func:`prt_sim.model.dynamics.daily_step`) is inlined at the IR level so terms that depend only
on parameters are hoisted out of the day loop. Random draws are keyed on (stream key, patient
id, day, slot) (:mod:`prt_sim.model.rng`, slots named in :data:`~prt_sim.model.rng.SLOTS`), so a
patient's history depends neither on the batch it runs in nor on the number of threads.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .jit import njit
from .model.calendar import RECALL_DAYS
from .model.dynamics import (
    Drive,
    Shocks,
    belief,
    daily_step_inline,
    load_state,
    load_traits,
    pain,
    store_state,
    threat,
)
from .model.instruments import (
    PAIN_FREE_WEEK,
    Q_NOISE_SLOT,
    Q_NOISY,
    Q_OFFSET,
    Q_POINTS,
    Q_STEP,
    Q_SUM_SLOT,
    QUESTIONNAIRES,
    questionnaire_readings,
    report_pain,
    report_sum,
)
from .model.params import params_from_array
from .model.rng import SLOTS, counter, normal_nb, patient_key_nb, uniform_nb

__all__ = [
    "Patients",
    "Draws",
    "Calendars",
    "Observations",
    "prime",
    "advance",
    "observe",
    "DAILY_VARS",
    "LATENT_VARS",
]

#: Variables recorded per (patient, day) when a daily history is requested.
DAILY_VARS = (
    "pain",
    "belief",
    "fear",
    "catastrophizing",
    "avoidance",
    "safety",
    "expectancy",
    "flare",
    "consolidated",
    "course",
    "contact",
)
#: Latent variables that can be recorded at a visit (:attr:`Observations.latent_rows` indexes
#: this tuple).
LATENT_VARS = (
    "belief",
    "threat",
    "pain_week",
    "fear",
    "catastrophizing",
    "avoidance",
    "safety",
    "expectancy",
    "consolidated",
    "course",
    "contact",
)
_N_Q = len(QUESTIONNAIRES)


class Patients(NamedTuple):
    """Per-patient tables of a batch of ``n`` patients (updated in place by the kernels)."""

    state: np.ndarray  #: float64[n, N_STATE]: each row a :class:`~prt_sim.model.dynamics.State`
    traits: np.ndarray  #: float64[n, N_TRAITS]: each row a :class:`~prt_sim.model.dynamics.Traits`
    pid: np.ndarray  #: uint64[n]: global patient ids (they key the random numbers)
    member: np.ndarray  #: int64[n]: row of the patient's parameters in :class:`Draws`
    group: np.ndarray  #: int64[n]: row of the patient's calendar in :class:`Calendars`
    treating: np.ndarray  #: bool[n]: still in treatment (uptake, then dropout)
    attended: np.ndarray  #: int32[n]: sessions attended so far
    ring: np.ndarray  #: float64[n, RECALL_DAYS]: pain of the last days, column ``t % 7``
    pain_free_days: np.ndarray  #: int64[n] days with 7-day mean pain below PAIN_FREE_WEEK, or [0]


class Draws(NamedTuple):
    """Parameter rows and their random streams (``D`` rows; see
    :class:`~prt_sim.model.rng.StreamKeys`)."""

    params: np.ndarray  #: float64[D, N_PARAMS]: :class:`~prt_sim.model.params.DynParams` rows
    key_dynamics: np.ndarray  #: uint64[D]: stream of the daily shocks
    key_observe: np.ndarray  #: uint64[D]: stream of the measurements
    key_uptake: np.ndarray  #: uint64[D]: stream of treatment uptake
    sg_scale: np.ndarray  #: float64[D]: multiplier of the self-guided dose (fitted engagement)


class Calendars(NamedTuple):
    """Drive tables of ``G`` calendars over ``T`` simulated days (index ``t`` is study day
    ``start_day + t``)."""

    start_day: int  #: study day of index 0
    education: np.ndarray  #: float64[G, T]: education dose delivered in a session that day
    exposure: np.ndarray  #: float64[G, T]: guided exposure dose of that day's session
    placebo: np.ndarray  #: float64[G, T]: open-label placebo given that day (0-1)
    session: np.ndarray  #: bool[G, T]: a session is scheduled that day
    self_guided: np.ndarray  #: float64[G, T]: self-guided education (sessions/day)
    flare_multiplier: np.ndarray  #: float64[G, T]: multiplier of the flare-up rate
    uptake: np.ndarray  #: float64[G]: probability of starting treatment at all
    attendance: np.ndarray  #: float64[G]: probability of attending a session
    dropout: np.ndarray  #: float64[G]: probability of stopping after an attended session


class Observations(NamedTuple):
    """Outputs of :func:`observe` over ``V`` visits (column ``j`` is the visit being observed).

    Patients come first, so the rows of a chunk of patients are one contiguous block.
    ``questionnaires`` and ``latent`` may have 0 visit columns: they are then skipped.
    """

    pain: np.ndarray  #: float32[n, V]: reported weekly pain, drawn whether or not observed
    observed: np.ndarray  #: bool[n, V]: whether the visit is observed (response)
    questionnaires: np.ndarray  #: float32[n, len(QUESTIONNAIRES), V or 0]: scores (NaN if missed)
    latent: np.ndarray  #: float32[n, len(latent_rows), V or 0]: latent values at the visit
    latent_rows: np.ndarray  #: int64[L]: which of LATENT_VARS each row of ``latent`` holds


@njit(inline="always", cache=True)
def _week_mean(ring_row):
    """Mean of a patient's pain memory (the days of a weekly recall)."""
    total = 0.0
    for k in range(RECALL_DAYS):
        total += ring_row[k]
    return total / RECALL_DAYS


@njit(inline="always", cache=True)
def _latent_value(k, b, week, s, p):
    """Entry ``k`` of :data:`LATENT_VARS` (computed only when a row asks for it)."""
    if k == 0:
        return b
    if k == 1:
        return threat(b, s, p)
    if k == 2:
        return week
    if k == 3:
        return s.fear
    if k == 4:
        return s.catastrophizing
    if k == 5:
        return s.avoidance
    if k == 6:
        return s.safety
    if k == 7:
        return s.expectancy
    if k == 8:
        return s.consolidated
    if k == 9:
        return s.course
    return s.contact


# In the parallel kernels every array is taken out of its named tuple before ``prange``: numba
# (0.65) loses writes made through a tuple's field inside a ``prange`` body.


@njit(parallel=True, cache=True)
def prime(patients, draws):
    """Fill every patient's pain memory with the pain of its initial state (no noise)."""
    state, traits, member, ring = patients.state, patients.traits, patients.member, patients.ring
    table = draws.params
    for i in numba.prange(state.shape[0]):
        p = params_from_array(table[member[i]])
        s = load_state(state[i])
        v = pain(s, load_traits(traits[i]), p, s.flare)
        for k in range(RECALL_DAYS):
            ring[i, k] = v


@njit(cache=True)
def _patient(patients, cal, draws, i, t0, t1, daily, record, count):
    """One patient's days ``[t0, t1)``: serial, with the daily update inlined so that terms that
    depend only on parameters are hoisted out of the day loop. (numba's parfor analysis cannot
    take the inlined update directly inside ``prange``.)"""
    r = patients.member[i]
    g = patients.group[i]
    p = params_from_array(draws.params[r])
    pk = patient_key_nb(draws.key_dynamics[r], patients.pid[i])
    sg_scale = draws.sg_scale[r]
    attendance = cal.attendance[g]
    dropout = cal.dropout[g]
    on = patients.treating[i]
    n_att = patients.attended[i]
    ring = patients.ring[i]
    s = load_state(patients.state[i])
    x = load_traits(patients.traits[i])
    pain_free = 0
    for t in range(t0, t1):
        c = counter(cal.start_day + t, 0)
        noise = normal_nb(pk, c + np.uint64(SLOTS.noise))
        rate = p.flare_rate * cal.flare_multiplier[g, t]
        flare = 1.0 if uniform_nb(pk, c + np.uint64(SLOTS.flare)) < rate else 0.0
        attend = 0.0
        adhere = 0.0
        if on and cal.session[g, t]:
            if uniform_nb(pk, c + np.uint64(SLOTS.attend)) < attendance:
                attend = 1.0
                n_att += 1
                if uniform_nb(pk, c + np.uint64(SLOTS.adhere)) < x.adherence:
                    adhere = 1.0
                if uniform_nb(pk, c + np.uint64(SLOTS.dropout)) < dropout:
                    on = False
        # Dropout stops self-guided use too (the skeleton's grid gates it the same way).
        sg = cal.self_guided[g, t] * sg_scale if on else 0.0
        d = Drive(cal.education[g, t], cal.exposure[g, t], cal.placebo[g, t], sg, 1.0)
        z = Shocks(noise, flare, attend, adhere)
        s_new, today = daily_step_inline(s, x, d, z, p)
        ring[t % RECALL_DAYS] = today
        if count and _week_mean(ring) < PAIN_FREE_WEEK:
            pain_free += 1
        if record:
            b = belief(s, x)
            # in the order of DAILY_VARS
            row = (today, b, s.fear, s.catastrophizing, s.avoidance, s.safety, s.expectancy,
                   s_new.flare, s.consolidated, s.course, s.contact)  # fmt: skip
            for k in range(len(row)):
                daily[i, k, t] = row[k]
        s = s_new
    store_state(patients.state[i], s)
    patients.treating[i] = on
    patients.attended[i] = n_att
    if count:
        patients.pain_free_days[i] += pain_free


@njit(parallel=True, cache=True)
def advance(patients, calendars, draws, t0, t1, daily):
    """Advance every patient from day index ``t0`` to ``t1`` (exclusive), in place.

    Parameters
    ----------
    patients : Patients
    calendars : Calendars
    draws : Draws
    t0, t1 : int
        Day indices into the calendars (``0 <= t0 <= t1 <= T``).
    daily : float32[n, len(DAILY_VARS), T or 0]
        Daily record, column ``t`` (0 columns: record nothing).

    Days with a 7-day mean pain below :data:`~prt_sim.model.instruments.PAIN_FREE_WEEK` are
    counted into ``patients.pain_free_days`` when that array has one entry per patient.
    """
    n = patients.state.shape[0]
    record = daily.shape[2] > 0
    # ``count`` as a literal: each loop is compiled without the other's branch (2% faster)
    if patients.pain_free_days.shape[0] == n:
        for i in numba.prange(n):
            _patient(patients, calendars, draws, i, t0, t1, daily, record, True)
    else:
        for i in numba.prange(n):
            _patient(patients, calendars, draws, i, t0, t1, daily, record, False)


@njit(parallel=True, cache=True)
def observe(patients, draws, day, j, response, survey, out):
    """Assess every patient on study ``day`` into column ``j`` of ``out`` (:class:`Observations`).

    ``response`` (float64[G]) is each calendar's probability that the visit is observed. Pain is
    the mean of the 7-day memory, plus ``survey_offset`` when ``survey`` is 1 (a survey visit),
    reported as an integer 0-10; questionnaire scores follow the instrument table
    (:mod:`prt_sim.model.instruments`).
    """
    state, traits, pid, member = patients.state, patients.traits, patients.pid, patients.member
    group, ring, table, keys = patients.group, patients.ring, draws.params, draws.key_observe
    pain_out, observed, scores, latent, rows = out
    with_q = scores.shape[2] > 0
    with_latent = latent.shape[2] > 0
    for i in numba.prange(state.shape[0]):
        r = member[i]
        p = params_from_array(table[r])
        pk = patient_key_nb(keys[r], pid[i])
        c = counter(day, 0)
        s = load_state(state[i])
        x = load_traits(traits[i])
        week = _week_mean(ring[i])
        observed[i, j] = uniform_nb(pk, c + np.uint64(SLOTS.responds)) < response[group[i]]
        z = normal_nb(pk, c + np.uint64(SLOTS.pain_report))
        pain_out[i, j] = report_pain(
            week + survey * p.survey_offset, z, p.pain_report_sd * x.variability
        )
        if with_q and not observed[i, j]:  # a missed visit has no questionnaires
            for q in range(_N_Q):
                scores[i, q, j] = np.nan
        elif with_q:
            readings = questionnaire_readings(s, x, p)
            for q in range(_N_Q):
                z = 0.0
                sd = 0.0
                if Q_NOISY[q]:
                    z = normal_nb(pk, c + Q_NOISE_SLOT[q])
                    sd = p.item_noise_sd
                u = uniform_nb(pk, c + Q_SUM_SLOT[q])
                k = report_sum(readings[q], z, sd, Q_POINTS[q], u)
                scores[i, q, j] = Q_OFFSET[q] + Q_STEP[q] * k
        if with_latent:
            b = belief(s, x)
            for k in range(rows.shape[0]):
                latent[i, k, j] = _latent_value(rows[k], b, week, s, p)
