"""The trial's instruments: one table of their scales, and the maps between latent states and readings.

Every fact about an instrument is here once: its range, how many binomial points make its
score, its offset and step, the latent state it reads and the parameter of its state-dependent
responding (:data:`INSTRUMENTS`); the pain-free threshold (:data:`PAIN_FREE_MAX`); the
latent-to-reading map (:func:`questionnaire_readings`) and its inverse
(:func:`latent_from_readings`); and the observation models the simulator draws with
(:func:`report_pain`, :func:`report_sum`). The engine, both likelihoods, the cohort inversion,
the forecasts and the data loaders all read them from here.

=============  ===============================================  ================
instrument     model                                            range
=============  ===============================================  ================
pain_avg       round(7-day mean + N(0, v * pain_report_sd))    integers 0-10
tsk11          11 + Binomial(33, reading + N(0, item_noise_sd)) integers 11-44
pcs            Binomial(52, reading + occasion noise)           integers 0-52
odi            2 * Binomial(50, reading + occasion noise)       even integers 0-100
attrib_mb      Binomial(3, 1 - belief): mind-brain causes       integers 0-3
=============  ===============================================  ================

A questionnaire's *reading* is its latent fraction (fear, catastrophizing, avoidance) plus a
state term: ``<instrument>_pain_state`` times the day's pain fluctuation in points
(``fluct_sd * variability * fluctuation``), see :func:`questionnaire_readings`. ``v`` is the
patient's rating variability (trait ``variability``; mean square 1 over patients).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from ._math import maximum
from .dynamics import belief
from .rng import SLOTS, binomial

__all__ = [
    "Instrument",
    "INSTRUMENTS",
    "INSTRUMENT_NAMES",
    "INSTRUMENT_RANGES",
    "QUESTIONNAIRES",
    "PAIN_FREE_MAX",
    "PAIN_FREE_WEEK",
    "LATENT_FLOOR",
    "report_pain",
    "report_sum",
    "clip01",
    "questionnaire_readings",
    "latent_from_readings",
]


class Instrument(NamedTuple):
    """One instrument of the trial.

    A questionnaire score is ``offset + step * k`` with ``k`` successes out of ``n_points``
    binomial points, whose probability is the instrument's reading (a fraction, 0-1).
    """

    name: str  #: variable name in results and data
    long_name: str  #: what it is
    unit: str  #: unit and range, for labels
    lo: float  #: lowest score
    hi: float  #: highest score
    n_points: int  #: binomial points behind a score (0: pain, reported by rounding)
    step: float  #: score points per binomial point
    offset: float  #: score of a zero reading
    latent: str  #: the latent quantity the reading measures (a State field, or "mind_brain")
    pain_state: str  #: ModelParams field of its state-dependent responding ("" if none)

    def to_score(self, fraction):
        """Score of a reading (fraction of the scale; numbers, arrays or tensors)."""
        return self.offset + self.step * self.n_points * fraction

    def to_fraction(self, score):
        """Reading (fraction of the scale) of a score: the inverse of :meth:`to_score`."""
        return (score - self.offset) / (self.step * self.n_points)


#: The instruments, in the order of results and data (pain first, then the questionnaires).
INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument(
            "pain_avg", "BPI average pain in the last week", "points (0-10)",
            0.0, 10.0, 0, 1.0, 0.0, "pain", "",
        ),
        Instrument(
            "tsk11", "Tampa Scale of Kinesiophobia, 11 items", "sum (11-44)",
            11.0, 44.0, 33, 1.0, 11.0, "fear", "tsk11_pain_state",
        ),
        Instrument(
            "pcs", "Pain Catastrophizing Scale", "sum (0-52)",
            0.0, 52.0, 52, 1.0, 0.0, "catastrophizing", "pcs_pain_state",
        ),
        Instrument(
            "odi", "Oswestry Disability Index", "percent (0-100)",
            0.0, 100.0, 50, 2.0, 0.0, "avoidance", "odi_pain_state",
        ),
        Instrument(
            "attrib_mb", "attributed causes of pain coded mind-brain", "count (0-3)",
            0.0, 3.0, 3, 1.0, 0.0, "mind_brain", "",
        ),
    )
}  # fmt: skip
INSTRUMENT_NAMES = tuple(INSTRUMENTS)
#: Allowed (min, max) score of each instrument.
INSTRUMENT_RANGES = {k: (i.lo, i.hi) for k, i in INSTRUMENTS.items()}
#: The questionnaires (every instrument scored as a binomial sum), in table order.
QUESTIONNAIRES = tuple(k for k, i in INSTRUMENTS.items() if i.n_points > 0)

#: Reported weekly pain at or below this counts as pain-free (or nearly): the trial's "pain 0-1".
PAIN_FREE_MAX = 1.0
#: A 7-day mean pain below this is reported as pain-free without report noise (reports round
#: half up).
PAIN_FREE_WEEK = PAIN_FREE_MAX + 0.5

#: Lowest latent value a reading maps back to (:func:`latent_from_readings`): fear must stay
#: positive because the cohort divides by it; the other states may be 0.
LATENT_FLOOR = {"fear": 0.01, "catastrophizing": 0.0, "avoidance": 0.0}

# Compile-time tables of the questionnaires, in table order (read by the engine's observe
# kernel): binomial points, step, offset, whether a reading carries occasion noise, and the
# random-number slots of that noise and of the sum.
Q_POINTS = np.array([INSTRUMENTS[k].n_points for k in QUESTIONNAIRES], dtype=np.int64)
Q_STEP = np.array([INSTRUMENTS[k].step for k in QUESTIONNAIRES])
Q_OFFSET = np.array([INSTRUMENTS[k].offset for k in QUESTIONNAIRES])
Q_NOISY = np.array([INSTRUMENTS[k].pain_state != "" for k in QUESTIONNAIRES])
Q_NOISE_SLOT = np.array([getattr(SLOTS, f"{k}_noise", 0) for k in QUESTIONNAIRES], dtype=np.uint64)
Q_SUM_SLOT = np.array([getattr(SLOTS, f"{k}_sum") for k in QUESTIONNAIRES], dtype=np.uint64)


@register_jitable
def clip01(v):
    """Clip to [0, 1]."""
    return min(1.0, max(0.0, v))


@register_jitable
def report_pain(week_mean, z, sd):
    """Reported one-week average pain: an integer 0-10 (round half up)."""
    return min(10.0, max(0.0, np.floor(week_mean + sd * z + 0.5)))


@register_jitable
def report_sum(latent, z, sd, n_points, u):
    """A questionnaire's binomial points: Binomial(n_points, latent + occasion noise) from one
    uniform ``u``."""
    return float(binomial(n_points, clip01(latent + sd * z), u))


@register_jitable
def questionnaire_readings(s, x, p):
    """Expected readings of the questionnaires as fractions of each one's range, in the order of
    :data:`QUESTIONNAIRES` (TSK-11, PCS, Oswestry, mind-brain attributions).

    State-dependent responding: a questionnaire answered in a worse-than-usual stretch of pain
    reads higher, by ``p.<instrument>_pain_state`` per point of the day's pain fluctuation
    ``p.fluct_sd * x.variability * s.fluctuation``. The fluctuation carries the selection excess of enrolment
    (:func:`prt_sim.model.baseline.entry_fluctuation`), so readings regress to the mean with
    pain. Attributions read the complement of the damage belief
    (:func:`~prt_sim.model.dynamics.belief`).

    Parameters
    ----------
    s : State
        End-of-visit-day state (fields may be floats, numpy arrays or PyTensor tensors).
    x : Traits
        The patient's traits (the schema of the belief, the scale of the fluctuation).
    p : DynParams
        Parameters (``fluct_sd`` in pain points; ``*_pain_state`` in scale fraction per point).

    Returns
    -------
    (tsk11, pcs, odi, attrib_mb) : tuple
        Readings before occasion noise and clipping; the latent fear, catastrophizing and
        avoidance when the fluctuation is 0.
    """
    state_pain = p.fluct_sd * x.variability * s.fluctuation
    return (
        s.fear + p.tsk11_pain_state * state_pain,
        s.catastrophizing + p.pcs_pain_state * state_pain,
        s.avoidance + p.odi_pain_state * state_pain,
        1.0 - belief(s, x),
    )


def latent_from_readings(readings: dict, state_pain, p) -> dict:
    """Latent fear, catastrophizing and avoidance from questionnaire readings (fractions) taken
    when the pain fluctuation stood ``state_pain`` points above its mean: the inverse of
    :func:`questionnaire_readings`, floored at :data:`LATENT_FLOOR`.

    ``readings`` maps ``fear``, ``catastrophizing`` and ``avoidance`` to readings; other entries
    are kept. Values and the fields of ``p`` may be numbers, arrays or PyTensor tensors.
    """
    out = dict(readings)
    for ins in INSTRUMENTS.values():
        if ins.pain_state:
            loading = getattr(p, ins.pain_state)
            out[ins.latent] = maximum(
                LATENT_FLOOR[ins.latent], readings[ins.latent] - loading * state_pain
            )
    return out
