"""Population parameters of the daily update: :class:`ModelParams` and its compiled mirror.

Defaults were chosen by hand so that simulated trial arms land near the published Ashar 2022
figures (see ``docs/model.md``); the fitting layer refines them. Every field has a unit and an
allowed range; out-of-range values raise :class:`prt_sim.errors.ValidationError`.
:class:`DynParams` is the same set of fields as a named tuple (what numba kernels and PyTensor
graphs take); :func:`params_from_array` reads one from a row of a parameter table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

from ..jit import njit, row_tuple
from .spec import Validated, spec

__all__ = [
    "ModelParams",
    "DynParams",
    "N_PARAMS",
    "PARAM_INDEX",
    "MEASUREMENT_PARAMS",
    "params_from_array",
]


@dataclass(frozen=True)
class ModelParams(Validated):
    """Population-level constants of the daily update (shared by all patients).

    Per-patient differences live in the cohort's traits (:class:`prt_sim.model.cohorts.Cohort`).
    See ``docs/model.md`` for the equation each parameter enters.
    """

    # threat appraisal -> pain amplification
    threat_slope: float = spec(
        10.0,
        0.0,
        50.0,
        "1/belief",
        "steepness of threat appraisal as a "
        "logistic function of belief (+ weighted catastrophizing)",
        lo_open=True,
    )
    threat_midpoint: float = spec(
        0.65, 0.0, 1.5, "belief units", "belief level at which threat appraisal is one half"
    )
    cat_threat_weight: float = spec(
        0.5, 0.0, 2.0, "1", "weight of catastrophizing in threat appraisal"
    )
    # day-to-day fluctuation and flare-ups
    fluct_sd: float = spec(
        0.7,
        0.0,
        5.0,
        "pain points",
        "SD of the stationary autocorrelated day-to-day pain fluctuation",
    )
    fluct_persistence: float = spec(
        0.94,
        0.0,
        1.0,
        "1",
        "AR(1) coefficient of the daily fluctuation (0 = white noise)",
        hi_open=True,
    )
    flare_rate: float = spec(
        1 / 60,
        0.0,
        1.0,
        "1/day",
        "daily probability of a flare-up (stressful life events multiply it)",
    )
    flare_pain: float = spec(2.5, 0.0, 10.0, "pain points", "extra pain on the day a flare starts")
    flare_duration: float = spec(
        5.0, 0.0, 365.0, "days", "e-folding time of a flare's pain", lo_open=True
    )
    reinstatement: float = spec(
        0.05,
        0.0,
        1.0,
        "1",
        "share of safety memory lost when a flare is "
        "read fully as damage (read as damage to the degree of the belief)",
    )
    # learning: education, exposure, decay
    exposure_learning: float = spec(
        0.15,
        0.0,
        5.0,
        "1/dose",
        "safety learned per unit of exposure dose per unit of expected harm (prediction error)",
    )
    everyday_activity: float = spec(
        0.01,
        0.0,
        1.0,
        "dose/day",
        "everyday movement exposure per day at zero avoidance, in guided-session equivalents",
    )
    safety_decay: float = spec(
        0.002,
        0.0,
        1.0,
        "1/day",
        "decay rate of safety memory per day at full avoidance (no practice)",
    )
    chronicity_effect: float = spec(
        0.02, 0.0, 1.0, "1/year", "learning slows as exp(-chronicity_effect * years of pain)"
    )
    # slower psychological states
    fear_rate: float = spec(
        0.15,
        0.0,
        1.0,
        "1/day",
        "rate at which fear of movement tracks fear_prop * belief",
        lo_open=True,
    )
    avoid_rate: float = spec(
        0.1, 0.0, 1.0, "1/day", "rate at which avoidance tracks avoid_prop * fear", lo_open=True
    )
    cat_rate: float = spec(
        0.1, 0.0, 1.0, "1/day", "rate at which catastrophizing tracks its target", lo_open=True
    )
    cat_belief_weight: float = spec(
        0.5, 0.0, 1.0, "1", "catastrophizing target: weight of belief versus pain/10"
    )
    placebo_duration: float = spec(
        90.0,
        0.0,
        3650.0,
        "days",
        "e-folding time of the open-label placebo expectancy effect",
        lo_open=True,
    )
    # competing memory mechanisms (prt_sim.model.mechanisms): 0 switches a term off
    consolidation_rate: float = spec(
        0.0,
        0.0,
        0.1,
        "1/day",
        "rate at which practised labile safety memory moves into a stable trace "
        "(0: no consolidation, the inhibition mechanism)",
    )
    stable_decay_ratio: float = spec(
        0.1,
        0.0,
        1.0,
        "1",
        "forgetting (decay and reinstatement) of the stable trace relative to the labile one",
    )
    fear_threat_weight: float = spec(
        0.0,
        0.0,
        1.0,
        "1",
        "share of threat appraisal read from fear of movement instead of the belief itself "
        "(0: belief only; 1: fear-mediated)",
    )
    course_sd: float = spec(
        0.0,
        0.0,
        10.0,
        "logit units",
        "between-patient SD of the level each patient's natural course settles at: the "
        "change of the damage schema's logit, mean 0; 0 (or drift_reversion 0): every "
        "untreated patient keeps their schema (no natural course)",
    )
    drift_reversion: float = spec(
        0.0,
        0.0,
        20.0,
        "1/year",
        "rate at which a patient's natural course approaches its level (time constant "
        "1 / drift_reversion years); the patient's drift at entry is drift_reversion x level",
    )
    # non-specific effect of therapeutic contact (the "contact" mechanism): 0 switches it off
    contact_effect: float = spec(
        0.0,
        0.0,
        1.0,
        "1",
        "expectancy of relief a treatment session with a clinician brings about: the share of "
        "amplified pain it removes, approached by each attended session (0: no contact effect)",
    )
    contact_duration: float = spec(
        30.0,
        0.0,
        365.0,
        "days",
        "e-folding time of the contact expectancy once sessions stop",
        lo_open=True,
    )
    # measurement
    pain_report_sd: float = spec(
        0.5,
        0.0,
        5.0,
        "pain points",
        "SD of report noise added to the 7-day mean pain before rounding to an integer",
        role="measurement",
    )
    item_noise_sd: float = spec(
        0.05,
        0.0,
        0.5,
        "scale fraction",
        "SD of occasion noise on the latent fraction behind TSK-11, PCS and Oswestry sums",
        role="measurement",
    )
    # State-dependent responding: a questionnaire filled in during a worse-than-usual stretch of
    # pain reads higher. The fluctuation carries the entry selection's excess, so questionnaires
    # regress to the mean with pain (eligibility -> T1 -> post in every arm).
    tsk11_pain_state: float = spec(
        0.03,
        0.0,
        0.5,
        "scale fraction / pain point",
        "TSK-11 reading (fraction of its range) added per point of the day's pain fluctuation",
        role="measurement",
    )
    pcs_pain_state: float = spec(
        0.10,
        0.0,
        0.5,
        "scale fraction / pain point",
        "PCS reading (fraction of its range) added per point of the day's pain fluctuation",
        role="measurement",
    )
    odi_pain_state: float = spec(
        0.045,
        0.0,
        0.5,
        "scale fraction / pain point",
        "Oswestry reading (fraction of its range) added per point of the day's pain fluctuation",
        role="measurement",
    )
    # Reported weekly pain read at a survey (Visit.mode "survey": the trial's weekly surveys
    # during treatment) minus what a visit reads for the same 7-day mean.
    survey_offset: float = spec(
        0.0,
        -5.0,
        5.0,
        "pain points",
        "added to the 7-day mean pain before the report noise at survey visits (mode effect)",
        role="measurement",
    )

    def to_tuple(self) -> DynParams:
        """The numba-friendly named tuple used by :func:`prt_sim.model.dynamics.daily_step`."""
        return DynParams(**self.to_dict())


# A NamedTuple mirror of ModelParams: numba compiles attribute access on it, numpy uses it as is.
DynParams = NamedTuple("DynParams", [(f.name, float) for f in fields(ModelParams)])

#: Number of parameters, and the position of each in :class:`DynParams` (= a parameter table's
#: column).
N_PARAMS = len(DynParams._fields)
PARAM_INDEX = {name: k for k, name in enumerate(DynParams._fields)}
#: The parameters of how the trial measured patients (report noise, occasion noise,
#: state-dependent responding): the daily update never reads them (tests/test_dynamics.py).
MEASUREMENT_PARAMS = tuple(
    f.name for f in fields(ModelParams) if f.metadata.get("role") == "measurement"
)


@njit(inline="always", cache=True)
def params_from_array(row):
    """:class:`DynParams` from a float64 row of a parameter table, in field order (compiled
    code; Python callers use ``DynParams(*row)``)."""
    return DynParams(*row_tuple(row, N_PARAMS))
