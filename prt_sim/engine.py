"""The numba engine: advances many patients through days, and observes them at visits.

Patients run in parallel (``prange``), days run inside each patient's loop so the state stays in
registers; each day calls :func:`prt_sim.dynamics.daily_step` (compiled with IR inlining so that
parameter-only terms are hoisted out of the day loop), the one definition of the model. Random draws are keyed on (stream key, patient id, day, stream) (:mod:`prt_sim.rng`), so
a patient's history does not depend on the chunking or the number of threads.
"""

from __future__ import annotations

from dataclasses import fields

import numba
import numpy as np

from .dynamics import Drive, Shocks, State, Traits, belief, daily_step_inline, pain, threat
from .instruments import questionnaire_readings, report_pain, report_sum
from .params import DynParams, ModelParams
from .rng import normal_nb as normal
from .rng import patient_key_nb as patient_key
from .rng import uniform_nb as uniform

__all__ = [
    "advance",
    "observe",
    "prime_ring",
    "prime_batch",
    "advance_batch",
    "observe_batch",
    "DAILY_VARS",
    "LATENT_VARS",
    "STREAMS",
    "PAIN_FREE_WEEK",
]

#: Counter slots per patient-day, by use. Noise uses two (Box-Muller).
STREAMS = {"noise": 0, "flare": 2, "attend": 3, "adhere": 4, "dropout": 5}
_PER_DAY = np.uint64(16)
_DAY_OFFSET = 1 << 20  # keeps counters non-negative for negative study days

#: A day counts as pain-free (or nearly) when its 7-day mean pain is below this: it would be
#: reported as 0 or 1 on the weekly-recall scale without report noise.
PAIN_FREE_WEEK = 1.5

#: Variables recorded per (patient, day) when daily history is requested.
DAILY_VARS = (
    "pain",
    "belief",
    "fear",
    "catastrophizing",
    "avoidance",
    "safety",
    "expectancy",
    "flare",
)
#: Latent variables recorded at each visit.
LATENT_VARS = (
    "belief",
    "threat",
    "pain_week",
    "fear",
    "catastrophizing",
    "avoidance",
    "safety",
    "expectancy",
)


@numba.njit(cache=True)
def _load(state, traits, i):
    s = State(
        state[0, i], state[1, i], state[2, i], state[3, i], state[4, i], state[5, i], state[6, i]
    )
    x = Traits(
        traits[0, i],
        traits[1, i],
        traits[2, i],
        traits[3, i],
        traits[4, i],
        traits[5, i],
        traits[6, i],
        traits[7, i],
        traits[8, i],
        traits[9, i],
    )
    return s, x


@numba.njit(inline="always", cache=True)
def _week_sum(ring, i):
    """Sum of patient ``i``'s pain memory (the 7 days of a weekly recall)."""
    total = 0.0
    for k in range(ring.shape[0]):
        total += ring[k, i]
    return total


@numba.njit(inline="always", cache=True)
def _prime_one(state, traits, ring, i, p):
    s, x = _load(state, traits, i)
    v = pain(s, x, p, s.flare)
    for k in range(ring.shape[0]):
        ring[k, i] = v


@numba.njit(cache=True)
def params_from_array(v):
    """:class:`DynParams` from a float array in field order (numba and Python)."""
    return DynParams(
        v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
        v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19],
        v[20], v[21], v[22],
    )  # fmt: skip


@numba.njit(inline="always", cache=True)
def _counter(day, slot):
    return np.uint64(day + _DAY_OFFSET) * _PER_DAY + np.uint64(slot)


@numba.njit(parallel=True, cache=True)
def prime_ring(state, traits, ring, p):
    """Fill each patient's 7-day pain memory with the pain of its initial state (no noise)."""
    for i in numba.prange(state.shape[1]):
        _prime_one(state, traits, ring, i, p)


@numba.njit(cache=True)
def _patient(
    state,
    traits,
    i,
    pk,
    on,
    n_att,
    ring,
    start_day,
    t0,
    t1,
    education,
    exposure,
    placebo,
    session,
    self_guided,
    flare_mult,
    attendance,
    dropout,
    p,
    daily,
    daily_t0,
    record,
    sg_scale,
    count_pain_free,
):
    """One patient's days [t0, t1): serial, with the daily update inlined so that terms that
    depend only on parameters are hoisted out of the day loop.

    ``sg_scale`` multiplies the self-guided dose (a fitted engagement scale); with
    ``count_pain_free`` the days whose 7-day mean pain is below :data:`PAIN_FREE_WEEK` are
    counted (returned third)."""
    s, x = _load(state, traits, i)
    n_ring = ring.shape[0]
    pain_free_days = 0
    for t in range(t0, t1):
        day = start_day + t
        c = _counter(day, 0)
        noise = normal(pk, c)
        flare = 1.0 if uniform(pk, c + np.uint64(2)) < p.flare_rate * flare_mult[t] else 0.0
        attend = 0.0
        adhere = 0.0
        if on and session[t]:
            if uniform(pk, c + np.uint64(3)) < attendance:
                attend = 1.0
                n_att += 1
                if uniform(pk, c + np.uint64(4)) < x.adherence:
                    adhere = 1.0
                if uniform(pk, c + np.uint64(5)) < dropout:
                    on = False
        sg = self_guided[t] * sg_scale if on else 0.0  # dropout stops self-guided use too
        d = Drive(education[t], exposure[t], placebo[t], sg, 1.0)
        z = Shocks(noise, flare, attend, adhere)
        b = belief(s, x)
        s_new, today = daily_step_inline(s, x, d, z, p)
        ring[t % n_ring, i] = today
        if count_pain_free and _week_sum(ring, i) < PAIN_FREE_WEEK * n_ring:
            pain_free_days += 1
        if record:
            j = t - daily_t0
            daily[0, i, j] = today
            daily[1, i, j] = b
            daily[2, i, j] = s.fear
            daily[3, i, j] = s.catastrophizing
            daily[4, i, j] = s.avoidance
            daily[5, i, j] = s.safety
            daily[6, i, j] = s.expectancy
            daily[7, i, j] = s_new.flare
        s = s_new
    for k in range(7):
        state[k, i] = s[k]
    return on, n_att, pain_free_days


@numba.njit(parallel=True, cache=True)
def advance(
    state,
    traits,
    pids,
    treating,
    attended,
    ring,
    key,
    start_day,
    t0,
    t1,
    education,
    exposure,
    placebo,
    session,
    self_guided,
    flare_mult,
    attendance,
    dropout,
    p,
    daily,
    daily_t0,
):
    """Advance every patient from timeline index ``t0`` to ``t1`` (exclusive), in place.

    Parameters
    ----------
    state : float64[7, n]
        Patient states (:class:`prt_sim.dynamics.State` order); updated in place.
    traits : float64[10, n]
        Patient traits (:class:`prt_sim.dynamics.Traits` order).
    pids : uint64[n]
        Global patient ids (key the random numbers).
    treating : bool[n]
        Whether the patient is (still) in treatment; updated by dropout.
    attended : int32[n]
        Sessions attended so far; updated.
    ring : float64[7, n]
        Pain of the last 7 days, indexed by ``timeline index % 7``; updated.
    key : uint64
        Stream key of this simulation.
    start_day : int
        Study day of timeline index 0.
    education, exposure, placebo, self_guided, flare_mult : float64[T]
        Calendar drive per timeline index; ``session`` bool[T] marks session days.
    attendance, dropout : float
        Protocol probabilities.
    p : DynParams
        Population parameters.
    daily : float32[len(DAILY_VARS), n, D]
        Daily record (``D = 0`` to record nothing); column ``t - daily_t0``.
    """
    n = state.shape[1]
    record = daily.shape[2] > 0
    # The per-patient loop lives in a serial helper: numba's parfor analysis cannot take the
    # inlined update directly inside prange.
    for i in numba.prange(n):
        pk = patient_key(key, pids[i])
        on, n_att, _ = _patient(
            state,
            traits,
            i,
            pk,
            treating[i],
            attended[i],
            ring,
            start_day,
            t0,
            t1,
            education,
            exposure,
            placebo,
            session,
            self_guided,
            flare_mult,
            attendance,
            dropout,
            p,
            daily,
            daily_t0,
            record,
            1.0,
            False,
        )
        treating[i] = on
        attended[i] = n_att


@numba.njit(parallel=True, cache=True)
def observe(state, traits, ring, pids, key, day, response, p, instruments, latent, j):
    """Observe every patient at a visit on study ``day`` into column ``j`` of the outputs.

    ``instruments`` is float32[5, V, n] (NaN where unobserved), ``latent`` float32[8, V, n]
    (``V = 0`` rows to skip latent recording). Pain is the mean of the 7-day memory.
    """
    n = state.shape[1]
    rec_latent = latent.shape[1] > 0
    for i in numba.prange(n):
        pk = patient_key(key, pids[i])
        c = _counter(day, 0)
        s, x = _load(state, traits, i)
        week = _week_sum(ring, i) / ring.shape[0]
        b = belief(s, x)
        if rec_latent:
            latent[0, j, i] = b
            latent[1, j, i] = threat(b, s, p)
            latent[2, j, i] = week
            latent[3, j, i] = s.fear
            latent[4, j, i] = s.catastrophizing
            latent[5, j, i] = s.avoidance
            latent[6, j, i] = s.safety
            latent[7, j, i] = s.expectancy
        if uniform(pk, c + np.uint64(15)) >= response:
            for k in range(5):
                instruments[k, j, i] = np.nan
            continue
        sd = p.item_noise_sd
        f_tsk, f_pcs, f_odi = questionnaire_readings(s, p)
        instruments[0, j, i] = report_pain(week, normal(pk, c), p.pain_report_sd)
        instruments[1, j, i] = 11.0 + report_sum(
            f_tsk, normal(pk, c + np.uint64(2)), sd, 33, uniform(pk, c + np.uint64(4))
        )
        instruments[2, j, i] = report_sum(
            f_pcs, normal(pk, c + np.uint64(5)), sd, 52, uniform(pk, c + np.uint64(7))
        )
        instruments[3, j, i] = report_sum(1.0 - b, 0.0, 0.0, 3, uniform(pk, c + np.uint64(8)))
        instruments[4, j, i] = 2.0 * report_sum(
            f_odi, normal(pk, c + np.uint64(9)), sd, 50, uniform(pk, c + np.uint64(11))
        )


# -- batches over posterior draws (forecasting) ---------------------------------------------------
# A forecast runs many posterior draws at once: each patient carries the row of its draw in a
# parameter table, and the group (arm x scenario) whose calendar it follows.

assert DynParams._fields == tuple(f.name for f in fields(ModelParams)), "DynParams out of sync"
assert len(DynParams._fields) == 23, "update params_from_array when ModelParams changes"


@numba.njit(parallel=True, cache=True)
def prime_batch(state, traits, ring, ptable, member):
    """:func:`prime_ring` for patients of many posterior draws (``member[i]`` = row in
    ``ptable``)."""
    for i in numba.prange(state.shape[1]):
        _prime_one(state, traits, ring, i, params_from_array(ptable[member[i]]))


@numba.njit(parallel=True, cache=True)
def advance_batch(
    state,
    traits,
    pids,
    member,
    group,
    keys,
    treating,
    attended,
    ring,
    pain_free_days,
    start_day,
    t0,
    t1,
    education,
    exposure,
    placebo,
    session,
    self_guided,
    flare_mult,
    attendance,
    dropout,
    ptable,
    sg_scale,
):
    """Advance patients of many posterior draws and calendars from index ``t0`` to ``t1``.

    Like :func:`advance`, with per-patient inputs: ``member[i]`` is the row of patient ``i``'s
    posterior draw in ``ptable`` (float64[D, 23], :class:`DynParams` order), ``keys`` (uint64[D])
    and ``sg_scale`` (float64[D]); ``group[i]`` the row of its calendar in the drive arrays
    (float64[G, T]; ``session`` bool[G, T]) and in ``attendance``/``dropout`` (float64[G]).
    ``pain_free_days`` (int64[n]) accumulates days with 7-day mean pain below
    :data:`PAIN_FREE_WEEK`. A patient's history equals :func:`advance` with that draw's
    parameters and key.
    """
    n = state.shape[1]
    no_daily = np.empty((len(DAILY_VARS), 0, 0), dtype=np.float32)
    for i in numba.prange(n):
        r = member[i]
        g = group[i]
        p = params_from_array(ptable[r])
        pk = patient_key(keys[r], pids[i])
        on, n_att, pf = _patient(
            state,
            traits,
            i,
            pk,
            treating[i],
            attended[i],
            ring,
            start_day,
            t0,
            t1,
            education[g],
            exposure[g],
            placebo[g],
            session[g],
            self_guided[g],
            flare_mult[g],
            attendance[g],
            dropout[g],
            p,
            no_daily,
            0,
            False,
            sg_scale[r],
            True,
        )
        treating[i] = on
        attended[i] = n_att
        pain_free_days[i] += pf


@numba.njit(parallel=True, cache=True)
def observe_batch(state, traits, ring, pids, member, group, keys, day, response, ptable, out, j):
    """Assess patients of many posterior draws on study ``day`` into column ``j``.

    ``out`` is float32[7, K, n]: reported weekly pain (0-10 integer, as :func:`observe` draws
    it, whether or not observed), observed flag (1/0, probability ``response[group[i]]``),
    latent 7-day mean pain, belief, fear, avoidance, catastrophizing. ``keys`` (uint64[D]) are
    the draws' observation keys: the reported pain and the flag equal :func:`observe`'s.
    """
    n = state.shape[1]
    for i in numba.prange(n):
        r = member[i]
        p = params_from_array(ptable[r])
        pk = patient_key(keys[r], pids[i])
        c = _counter(day, 0)
        s, x = _load(state, traits, i)
        week = _week_sum(ring, i) / ring.shape[0]
        out[0, j, i] = report_pain(week, normal(pk, c), p.pain_report_sd)
        out[1, j, i] = 1.0 if uniform(pk, c + np.uint64(15)) < response[group[i]] else 0.0
        out[2, j, i] = week
        out[3, j, i] = belief(s, x)
        out[4, j, i] = s.fear
        out[5, j, i] = s.avoidance
        out[6, j, i] = s.catastrophizing
