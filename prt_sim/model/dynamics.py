r"""The daily update of one patient: the single source of truth for the model's equations.

:func:`daily_step` is written once, with elementwise arithmetic and the few functions of
:mod:`prt_sim.model._math` only, so the *same function* runs

- on numpy arrays (one element per patient): the reference and vectorised path;
- compiled by numba on scalars inside the simulator's parallel kernel
  (:mod:`prt_sim.engine` inlines this very function: :data:`daily_step_inline`);
- on PyTensor tensors, building the symbolic graph of the update;
- with expected values in place of random shocks (:func:`expected_shocks`) for the
  deterministic skeleton that the inference layer differentiates.

Every term is documented in ``docs/model.md``. Notation: state ``s``, traits ``x``, calendar drive
``d``, random shocks ``z``, population parameters ``p`` (:class:`prt_sim.model.params.DynParams`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from ..jit import njit, row_tuple, store_row
from ._math import exp, expm1, maximum, minimum, off, power, sqrt

__all__ = [
    "State",
    "Traits",
    "Drive",
    "Shocks",
    "STATE_RANGES",
    "TRAIT_RANGES",
    "belief",
    "schema_now",
    "DAYS_PER_YEAR",
    "COURSE_MAX",
    "threat",
    "pain",
    "pain_from_belief",
    "daily_step",
    "daily_step_jit",
    "daily_step_inline",
    "expected_shocks",
    "relax",
    "N_STATE",
    "N_TRAITS",
    "load_state",
    "load_traits",
    "store_state",
]


class State(NamedTuple):
    """Daily latent state of a patient (each field a scalar or an array over patients)."""

    safety: float  #: safety memory (learned "movement/pain is safe"), 0-1; inhibits the schema
    catastrophizing: float  #: catastrophizing, 0-1 (PCS / 52)
    fear: float  #: fear of movement, 0-1 ((TSK-11 - 11) / 33)
    avoidance: float  #: activity restriction, 0-1 (drives Oswestry / 100)
    expectancy: float  #: open-label placebo expectancy: fraction of amplified pain removed, 0-1
    fluctuation: float  #: standardised AR(1) day-to-day fluctuation, unbounded (stationary N(0,1))
    flare: float  #: current flare intensity, 0-1 (1 on the day a flare starts, then decays)
    consolidated: (
        float  #: consolidated (stable) safety trace, 0-1 (0 unless consolidation_rate > 0)
    )
    course: float  #: natural-course change of the schema since entry, logit units (0: none)
    contact: float  #: expectancy from therapeutic contact: fraction of amplified pain removed, 0-1


class Traits(NamedTuple):
    """Fixed per-patient characteristics (each field a scalar or an array over patients)."""

    schema: float  #: strength of the old "pain means damage" schema, 0-1
    floor: float  #: pain with no threat amplification (little tissue input), 0-10 points
    gain: float  #: amplification at full threat appraisal, 0-10 points
    fear_prop: float  #: fear of movement per unit belief, 0-1
    avoid_prop: float  #: avoidance per unit fear, 0-3 (target clipped to 1)
    cat_prop: float  #: catastrophizing propensity, 0-1
    edu_efficacy: float  #: safety learned per education session (exponent), 0-5
    adherence: float  #: probability of doing the guided exposure in a session, 0-1
    placebo_response: float  #: expectancy reached after an open-label placebo, 0-1
    chronicity: float  #: years with back pain, 0-80
    drift: float  #: natural-course drift of the schema at entry, logit units/year, -500 to 500
    variability: float  #: scale of day-to-day fluctuation and report noise, 0-20 (mean square 1)


class Drive(NamedTuple):
    """What the calendar delivers on a day, before patient-level attendance."""

    education: float  #: education dose in sessions (1 = one session), >= 0
    exposure: float  #: guided exposure dose in sessions, >= 0
    placebo: float  #: open-label placebo administered (0 or 1)
    self_guided: float  #: self-guided education (workbook, website) in sessions/day, >= 0
    dt: float = 1.0  #: length of the step in days, 1 to 365 (the simulator always uses 1)


class Shocks(NamedTuple):
    """Random inputs of a day. The simulator draws them; the skeleton uses expectations."""

    noise: float  #: standard normal innovation of the fluctuation
    flare: float  #: 1 if a flare starts today else 0 (expected: the flare probability x dt)
    attend: float  #: 1 if the patient attends today's session else 0 (expected: attendance prob.)
    adhere: float  #: 1 if the guided exposure is done else 0 (expected: the adherence trait)


#: Days per year of the natural-course drift (Julian year).
DAYS_PER_YEAR = 365.25
#: The schema reads the course cut to +-COURSE_MAX logit units (its odds moved by e^30 = 1e13:
#: a schema of 0.001-0.999 is then 0 or 1 to 1e-10), so ``exp`` cannot overflow and a schema of exactly 1
#: stays 1 (no 0/0) however far the course goes.
COURSE_MAX = 30.0

#: Fields per state and per trait vector: the width of a patient's row in the kernels' tables.
N_STATE = len(State._fields)
N_TRAITS = len(Traits._fields)


@njit(inline="always", cache=True)
def load_state(row):
    """:class:`State` from a patient's row of a state table (float64[N_STATE]; compiled code)."""
    return State(*row_tuple(row, N_STATE))


@njit(inline="always", cache=True)
def load_traits(row):
    """:class:`Traits` from a patient's row of a trait table (float64[N_TRAITS])."""
    return Traits(*row_tuple(row, N_TRAITS))


@njit(inline="always", cache=True)
def store_state(row, s):
    """Write :class:`State` ``s`` into a patient's row of a state table."""
    store_row(row, s)


def expected_shocks(flare_probability, attendance, adherence):
    """Shocks replaced by their expectations: no noise, the flare probability, attendance and
    adherence probabilities. The update is linear in ``flare`` where it reinstates the schema, so
    this gives the exact one-day expectation of those terms."""
    return Shocks(0.0 * flare_probability, flare_probability, attendance, adherence)


#: Allowed ranges of the state variables (used by tests and validators).
STATE_RANGES = {
    "safety": (0.0, 1.0),
    "catastrophizing": (0.0, 1.0),
    "fear": (0.0, 1.0),
    "avoidance": (0.0, 1.0),
    "expectancy": (0.0, 1.0),
    "fluctuation": (-np.inf, np.inf),
    "flare": (0.0, 1.0),
    "consolidated": (0.0, 1.0),
    "course": (-np.inf, np.inf),
    "contact": (0.0, 1.0),
}

#: Allowed ranges of the traits (the cohort validates against these).
TRAIT_RANGES = {
    "schema": (0.0, 1.0),
    "floor": (0.0, 10.0),
    "gain": (0.0, 10.0),
    "fear_prop": (0.0, 1.0),
    "avoid_prop": (0.0, 3.0),
    "cat_prop": (0.0, 1.0),
    "edu_efficacy": (0.0, 5.0),
    "adherence": (0.0, 1.0),
    "placebo_response": (0.0, 1.0),
    "chronicity": (0.0, 80.0),
    # A level of 25 logit units (a schema of 0.9 moved to 1 - 1.5e-12) approached at the
    # fastest rate (20/year).
    "drift": (-500.0, 500.0),
    # Between-patient spread of rating variability (log-normal around 1): e^(2 x 1.5) = 20 is
    # beyond any plausible patient at the prior's upper end.
    "variability": (0.0, 20.0),
}


@register_jitable
def schema_now(s, x):
    """The damage schema today, 0-1: the entry schema moved by the natural course, ``course``
    logit units (its odds multiplied by ``exp(course)``). Exactly ``x.schema`` while ``course``
    is 0, and never past 0 or 1: a schema near 1 still moves down, and moves up ever less.

    Written as ``schema + schema (1 - schema) expm1(course) / (1 + schema expm1(course))``
    (= ``schema e^c / (1 - schema + schema e^c)``) so that ``course = 0`` gives the entry schema
    bit for bit."""
    if off(s.course):  # a scalar 0 (compiled code, per patient-day): the same value, no exp
        return x.schema
    m = expm1(minimum(COURSE_MAX, maximum(-COURSE_MAX, s.course)))
    return x.schema + x.schema * (1.0 - x.schema) * m / (1.0 + x.schema * m)


@register_jitable
def belief(s, x):
    """Effective belief that pain signals damage, 0-1: today's schema inhibited by the labile
    and the consolidated safety traces."""
    return schema_now(s, x) * ((1.0 - s.safety) * (1.0 - s.consolidated))


@register_jitable
def threat(b, s, p):
    """Threat appraisal of pain, 0-1: a logistic of the appraisal's input, belief (moved toward
    fear of movement by ``fear_threat_weight``) plus weighted catastrophizing."""
    appraisal = b + p.fear_threat_weight * (s.fear - b)
    return 1.0 / (
        1.0
        + exp(
            -p.threat_slope
            * (appraisal + p.cat_threat_weight * s.catastrophizing - p.threat_midpoint)
        )
    )


@register_jitable
def pain(s, x, p, flare):
    """Daily pain, 0-10: floor + gain * threat * (1 - placebo) * (1 - contact) + flare +
    the patient's fluctuation (``fluct_sd * variability * fluctuation``), clipped."""
    return pain_from_belief(belief(s, x), s, x, p, flare)


@register_jitable
def pain_from_belief(b, s, x, p, flare):
    """:func:`pain` given today's belief ``b`` = ``belief(s, x)`` (the daily update evaluates
    the belief once and uses it twice)."""
    # Both expectancies (open-label placebo, therapeutic contact) remove a share of the
    # amplified pain, not of the floor.
    amplified = x.gain * threat(b, s, p) * (1.0 - s.expectancy) * (1.0 - s.contact)
    raw = x.floor + amplified + p.flare_pain * flare + p.fluct_sd * x.variability * s.fluctuation
    return minimum(10.0, maximum(0.0, raw))


@register_jitable
def relax(rate, dt):
    """Share of the gap to a target closed in ``dt`` days at a daily ``rate``: 1 - (1 - rate)^dt."""
    return 1.0 - power(1.0 - rate, dt)


@register_jitable
def daily_step(s, x, d, z, p):
    """Advance one patient (or an array of patients) by one day.

    Parameters
    ----------
    s : State
        Today's state (fields scalars or arrays over patients, ranges in :data:`STATE_RANGES`).
    x : Traits
        Per-patient traits (ranges in :data:`TRAIT_RANGES`).
    d : Drive
        Calendar input for today (doses >= 0, placebo 0-1).
    z : Shocks
        Today's random inputs: 0/1 draws in the simulator, expected values in the skeleton.
    p : DynParams
        Population parameters (:meth:`prt_sim.model.params.ModelParams.to_tuple`).

    Returns
    -------
    (State, pain)
        Tomorrow's state and today's pain (0-10 points).
    """
    dt = d.dt
    b = belief(s, x)
    # A flare starts today (z.flare) on top of the decaying previous one. Over a step of dt days
    # the z.flare onsets are spread over the step, so each has decayed on average by the
    # factor below at its end (exactly 1 when dt = 1).
    decay = exp(-dt / p.flare_duration)
    spread = (1.0 - decay) / (dt * (1.0 - exp(-1.0 / p.flare_duration)))
    flare = minimum(1.0, s.flare * decay + z.flare * spread)
    today_pain = pain_from_belief(b, s, x, p, flare)

    # Treatment delivered to this patient today.
    session = d.education * z.attend
    exposure_guided = d.exposure * z.attend * z.adhere
    # Everyday movement is exposure only where the patient does not avoid, and it disconfirms
    # only to the degree it is appraised with the safety frame (safety memory): untreated
    # patients with little safety memory learn little from it.
    # Both traces frame it as safe (their union).
    framed = s.safety + s.consolidated * (1.0 - s.safety)
    exposure_everyday = p.everyday_activity * dt * (1.0 - s.avoidance) * framed
    plasticity = exp(-p.chronicity_effect * x.chronicity)
    # Prediction error of exposure: the harm expected (belief) did not happen.
    learn = plasticity * (
        x.edu_efficacy * (session + d.self_guided * dt)
        + p.exposure_learning * (exposure_guided + exposure_everyday) * b
    )
    # Safety memory fades without practice (avoidance), and a new flare read as damage
    # (to the degree of the belief) reinstates the old schema.
    fade = exp(-p.safety_decay * dt * s.avoidance)
    rein = 1.0 - p.reinstatement * z.flare * b
    if off(p.consolidation_rate):  # no stable trace (it keeps its initial value, 0)
        safety = (1.0 - (1.0 - s.safety) * exp(-learn)) * fade * rein
        consolidated = s.consolidated
    else:
        # While practised (1 - avoidance), a share tau of the labile trace moves to the stable
        # one, in units of log(1 - trace), so the transfer leaves total safety unchanged.
        # expm1: exact for tiny rates, where numpy's and numba's exp differ by an ulp and a
        # share of 0 or 1e-16 decides whether (1 - safety)^tau at safety 1 is 1 or 0.
        tau = -expm1(-p.consolidation_rate * dt * (1.0 - s.avoidance))
        safety = (1.0 - power(1.0 - s.safety, 1.0 - tau) * exp(-learn)) * fade * rein
        stable = 1.0 - (1.0 - s.consolidated) * power(1.0 - s.safety, tau)
        # The stable trace forgets both ways stable_decay_ratio times as fast.
        r = p.stable_decay_ratio
        consolidated = (
            stable
            * exp(-p.safety_decay * r * dt * s.avoidance)
            * (1.0 - p.reinstatement * r * z.flare * b)
        )

    fear = s.fear + relax(p.fear_rate, dt) * (x.fear_prop * b - s.fear)
    avoid_target = minimum(1.0, x.avoid_prop * s.fear)
    avoidance = s.avoidance + relax(p.avoid_rate, dt) * (avoid_target - s.avoidance)
    w = p.cat_belief_weight
    cat_target = x.cat_prop * (w * b + (1.0 - w) * today_pain / 10.0)
    catastrophizing = s.catastrophizing + relax(p.cat_rate, dt) * (cat_target - s.catastrophizing)
    # The placebo sets the expectancy to the patient's response, after which it fades.
    faded = s.expectancy * exp(-dt / p.placebo_duration)
    injected = d.placebo * z.attend
    expectancy = faded + injected * (x.placebo_response - faded)
    # Each attended session with a clinician (education or guided exposure; not self-guided
    # material, not the placebo's injection, whose visit the placebo term already holds) moves
    # the contact expectancy to contact_effect; it fades after sessions stop.
    if off(p.contact_effect):  # no contact effect: the expectancy keeps its initial value, 0
        contact = s.contact
    else:
        met = minimum(1.0, d.education + d.exposure) * z.attend
        contact = s.contact * exp(-dt / p.contact_duration)
        contact = contact + met * (p.contact_effect - contact)
    phi = power(p.fluct_persistence, dt)
    fluctuation = phi * s.fluctuation + sqrt(1.0 - phi * phi) * z.noise
    # Natural course: the schema drifts at the patient's own rate (logit units per year), a
    # drift that levels off at rate drift_reversion at drift / reversion, the patient's level
    # (cohorts build the drift as reversion x level, so a rate of 0 means no course at all).
    course = s.course + (x.drift - p.drift_reversion * s.course) * (dt / DAYS_PER_YEAR)

    new = State(
        safety,
        catastrophizing,
        fear,
        avoidance,
        expectancy,
        fluctuation,
        flare,
        consolidated,
        course,
        contact,
    )
    return new, today_pain


# ``register_jitable`` leaves the functions plain Python for numpy callers and lets numba compile
# the very same source where they are called from jitted code (the simulator's kernel).
daily_step_jit = njit(cache=True)(daily_step)
# Inlined at the numba IR level into serial kernels, so that terms depending only on parameters
# and dt are hoisted out of their loops (2.3x faster in the engine; measured in benchmarks/).
daily_step_inline = njit(inline="always")(daily_step)
