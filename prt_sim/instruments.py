"""Observation models: from a patient's latent state to what the trial measured.

All functions are plain Python made numba-callable (``register_jitable``), scalar in, scalar out;
``u`` and ``z`` are uniform and standard-normal draws supplied by the caller so that the
simulator's keyed random numbers drive them.

=============  ===============================================  ================
instrument     model                                            range
=============  ===============================================  ================
pain_avg       round(7-day mean pain + N(0, pain_report_sd))    integers 0-10
tsk11          11 + Binomial(33, reading + N(0, item_noise_sd)) integers 11-44
pcs            Binomial(52, reading + occasion noise)           integers 0-52
attrib_mb      Binomial(3, 1 - belief): mind-brain causes       integers 0-3
odi            2 * Binomial(50, reading + occasion noise)       even integers 0-100
=============  ===============================================  ================

A questionnaire's *reading* is its latent fraction (fear, catastrophizing, avoidance) plus a
state term: ``<instrument>_pain_state`` times the day's pain fluctuation in points
(``fluct_sd * fluctuation``), see :func:`questionnaire_readings`.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from .rng import binomial

__all__ = [
    "INSTRUMENTS",
    "INSTRUMENT_RANGES",
    "report_pain",
    "report_sum",
    "clip01",
    "questionnaire_readings",
]

#: Instrument names in the order the engine stores them.
INSTRUMENTS = ("pain_avg", "tsk11", "pcs", "attrib_mb", "odi")
#: Allowed (min, max) of each instrument.
INSTRUMENT_RANGES = {
    "pain_avg": (0, 10),
    "tsk11": (11, 44),
    "pcs": (0, 52),
    "attrib_mb": (0, 3),
    "odi": (0, 100),
}


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
    """A questionnaire sum: Binomial(n_points, latent + occasion noise) from one uniform ``u``."""
    return float(binomial(n_points, clip01(latent + sd * z), u))


@register_jitable
def questionnaire_readings(s, p):
    """Expected TSK-11, PCS and Oswestry readings as fractions of each instrument's range.

    State-dependent responding: a questionnaire answered in a worse-than-usual stretch of pain
    reads higher, by ``p.<instrument>_pain_state`` per point of the day's pain fluctuation
    ``p.fluct_sd * s.fluctuation``. The fluctuation carries the selection excess of enrolment
    (:func:`prt_sim.cohorts.entry_fluctuation`), so readings regress to the mean with pain.

    Parameters
    ----------
    s : State
        End-of-visit-day state (fields may be floats, numpy arrays or PyTensor tensors).
    p : DynParams
        Parameters (``fluct_sd`` in pain points; ``*_pain_state`` in scale fraction per point).

    Returns
    -------
    (tsk11, pcs, odi) : tuple
        Readings before occasion noise and clipping: fractions of 33 (TSK-11 - 11), 52 (PCS) and
        100 (Oswestry) points; the latent fear, catastrophizing and avoidance when the
        fluctuation is 0.
    """
    state_pain = p.fluct_sd * s.fluctuation
    return (
        s.fear + p.tsk11_pain_state * state_pain,
        s.catastrophizing + p.pcs_pain_state * state_pain,
        s.avoidance + p.odi_pain_state * state_pain,
    )
