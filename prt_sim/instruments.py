"""Observation models: from a patient's latent state to what the trial measured.

All functions are plain Python made numba-callable (``register_jitable``), scalar in, scalar out;
``u`` and ``z`` are uniform and standard-normal draws supplied by the caller so that the
simulator's keyed random numbers drive them.

=============  ===============================================  ================
instrument     model                                            range
=============  ===============================================  ================
pain_avg       round(7-day mean pain + N(0, pain_report_sd))    integers 0-10
tsk11          11 + Binomial(33, fear + N(0, item_noise_sd))    integers 11-44
pcs            Binomial(52, catastrophizing + occasion noise)   integers 0-52
attrib_mb      Binomial(3, 1 - belief): mind-brain causes       integers 0-3
odi            2 * Binomial(50, avoidance + occasion noise)     even integers 0-100
=============  ===============================================  ================
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from .rng import binomial

__all__ = ["INSTRUMENTS", "INSTRUMENT_RANGES", "report_pain", "report_sum", "clip01"]

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
