"""From a patient's baseline to their traits and initial state: the one builder every cohort and every PyMC model uses.

A patient enters with a steady-state (untreated) weekly pain, questionnaire readings taken on a
worse-than-usual day (enrolment selects on pain: the *entry excess*), a damage belief, a
chronicity and response traits that no baseline shows (education efficacy, adherence, placebo
response, pain floor, initial safety memory). :func:`build_patients` turns them into
:class:`~prt_sim.model.dynamics.Traits` whose untreated steady state is that baseline, and an
initial :class:`~prt_sim.model.dynamics.State` that carries the entry excess on its pain
fluctuation. The baseline comes either from trial-like draws (:func:`standard_draws`,
:func:`entry_latent`) or from recorded values (:func:`records_latent`).

Everything after :func:`standard_draws` is elementwise arithmetic through
:mod:`prt_sim.model._math`, so it runs on numpy arrays and on PyTensor tensors: the simulator's
cohorts and the inference layer's surrogate agents are built by the very same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from ..errors import ValidationError
from ._math import exp, log, maximum, minimum
from .dynamics import TRAIT_RANGES, State, Traits, threat
from .instruments import INSTRUMENTS, latent_from_readings
from .timeline import RECALL_DAYS

__all__ = [
    "BASELINE_VARS",
    "N_UNIFORMS",
    "DRIFT_UNIFORM",
    "VARIABILITY_UNIFORM",
    "patient_variability",
    "PAIN_RANGE",
    "standard_draws",
    "steady_pain",
    "entry_latent",
    "records_latent",
    "observed_readings",
    "response_traits",
    "entry_fluctuation",
    "entry_state_pain",
    "window_to_state",
    "check_entry_shift",
    "traits_from_baseline",
    "build_patients",
    "build_record_patients",
]

#: Baseline variables drawn jointly (Gaussian copula order).
BASELINE_VARS = ("pain", "fear", "catastrophizing", "avoidance", "belief", "chronicity")
#: Uniform draws per patient behind a cohort (copula, response traits, initial fluctuation,
#: natural-course drift, rating variability).
N_UNIFORMS = len(BASELINE_VARS) + 8
#: Row of the natural-course drift's uniform: the surrogate agents of the PyMC models draw it
#: apart from the others, so their Sobol points are what they were before it existed.
DRIFT_UNIFORM = len(BASELINE_VARS) + 6
#: Row of the rating variability's uniform (the last; 0.9.0): cohorts' other draws are keyed by
#: row, so they are what they were before it existed. The PyMC models' surrogate agents do not
#: draw it (their variability is 1, or a random effect at patient level).
VARIABILITY_UNIFORM = len(BASELINE_VARS) + 7
#: Steady-state pain is kept within this range (points) so that a gain that makes it the
#: untreated steady state exists (pain = floor + gain * threat + flare pain).
PAIN_RANGE = (0.5, 9.5)
#: Pseudo-count of causes with which a patient's attributions are shrunk toward the population's
#: damage belief (attribution counts are coarse: 0-3 of 3 causes).
BELIEF_PSEUDO_CAUSES = 10.0


def _beta_ppf(u: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Beta quantiles with a given mean and SD (SD shrunk if impossible for that mean)."""
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    var = min(sd**2, 0.9 * mean * (1 - mean))
    if var <= 0:
        return np.full_like(u, mean)
    conc = mean * (1 - mean) / var - 1
    return stats.beta.ppf(u, mean * conc, (1 - mean) * conc)


def _beta_mc(u: np.ndarray, mean: float, conc: float) -> np.ndarray:
    mean = min(max(mean, 1e-3), 1 - 1e-3)
    return stats.beta.ppf(u, mean * conc, (1 - mean) * conc)


def standard_draws(u: np.ndarray, spec: Any) -> dict[str, np.ndarray]:
    """Turn ``u`` (uniforms, shape ``(N_UNIFORMS, n)``) into standardized per-patient draws.

    The baseline marginals that are never fitted (fear, catastrophizing, avoidance, belief,
    chronicity, initial safety, pain floor, adherence) are evaluated here with scipy; the
    quantities that depend on fitted parameters stay standard normal (``pain_z``, ``edu_z``,
    ``placebo_z``, ``fluct_z``, ``drift_z``) and are transformed by the functions below, which
    also run on PyTensor tensors. The simulator's cohorts use keyed random uniforms; the inference layer's
    surrogate agents use scrambled Sobol points, through the same function. ``spec`` is a
    :class:`~prt_sim.model.cohorts.CohortSpec`.
    """
    u = np.clip(np.asarray(u, dtype=float), 1e-12, 1 - 1e-12)
    k = len(BASELINE_VARS)
    chol = np.linalg.cholesky(np.asarray(spec.correlation))
    z = chol @ stats.norm.ppf(u[:k])
    c = np.clip(stats.norm.cdf(z), 1e-12, 1 - 1e-12)
    lo, hi = TRAIT_RANGES["chronicity"]
    return {
        "pain_z": z[0],
        "fear": _beta_ppf(c[1], spec.fear_mean, spec.fear_sd),
        "catastrophizing": _beta_ppf(c[2], spec.cat_mean, spec.cat_sd),
        "avoidance": _beta_ppf(c[3], spec.avoid_mean, spec.avoid_sd),
        "belief": _beta_ppf(c[4], spec.belief_mean, spec.belief_sd),
        "chronicity": np.clip(
            spec.chronicity_median * np.exp(spec.chronicity_log_sd * z[5]), max(lo, 0.1), hi
        ),
        "safety": _beta_mc(u[k], spec.safety_mean, 20.0) if spec.safety_mean > 0 else 0.0 * u[k],
        "floor": np.clip(spec.floor_mean + spec.floor_sd * stats.norm.ppf(u[k + 1]), 0.0, 10.0),
        "edu_z": stats.norm.ppf(u[k + 2]),
        "adherence": _beta_mc(u[k + 3], spec.adherence_mean, spec.adherence_concentration),
        "placebo_z": stats.norm.ppf(u[k + 4]),
        "fluct_z": stats.norm.ppf(u[k + 5]),
        # Absent (0) from draws made without the drift's uniform (the patient-level model's
        # Sobol points, where the drift is a random effect).
        "drift_z": stats.norm.ppf(u[DRIFT_UNIFORM]) if len(u) > DRIFT_UNIFORM else 0.0 * u[k],
    } | ({"var_z": stats.norm.ppf(u[VARIABILITY_UNIFORM])} if len(u) > VARIABILITY_UNIFORM else {})


def patient_variability(std: Mapping, spec: Any):
    """Each patient's rating variability (trait ``variability``): ``exp(variability_sd * var_z
    - variability_sd**2)``, log-normal with a mean square of 1, kept within the trait's range;
    1 where ``std`` has no ``var_z`` (the surrogate agents of the PyMC models without the
    random effect). Scales the day-to-day fluctuation and the report noise of that patient
    (Pagé et al. 2022, J Pain 23:1151: the within-person SD of pain ratings differs between
    people and is stable within a person). A mean square of 1 keeps the population's average
    noise variance what ``fluct_sd`` and ``pain_report_sd`` say, whatever the spread: the
    spread shares it out unequally, it does not add to it. ``spec`` fields and ``var_z`` may be
    tensors."""
    if "var_z" not in std:
        return 1.0
    sd = spec.variability_sd
    return minimum(TRAIT_RANGES["variability"][1], exp(sd * std["var_z"] - sd * sd))


def steady_pain(pain):
    """Steady-state weekly pain kept within :data:`PAIN_RANGE` (numbers, arrays or tensors)."""
    return minimum(PAIN_RANGE[1], maximum(PAIN_RANGE[0], pain))


def entry_latent(std: Mapping, spec: Any, p) -> dict:
    """Latent baseline of trial-like patients from :func:`standard_draws`: steady pain
    ``spec.pain_mean + spec.pain_sd * pain_z``, and the latent states behind questionnaire
    readings drawn at entry (the first simulated visit, which carries the entry excess, in
    points scaled by each patient's variability: the same standardised fluctuation).

    ``spec`` fields and ``p`` (:class:`~prt_sim.model.params.DynParams`) may be tensors.
    """
    readings = {k: std[k] for k in BASELINE_VARS[1:]}
    readings["pain"] = spec.pain_mean + spec.pain_sd * std["pain_z"]
    excess = entry_state_pain(spec.entry_shift, p, RECALL_DAYS + 1) * patient_variability(std, spec)
    return latent_from_readings(readings, excess, p)


def observed_readings(values: Mapping[str, np.ndarray], spec: Any) -> dict[str, np.ndarray]:
    """Readings (fractions) and covariates from recorded instruments; NaN or absent values take
    the population means of ``spec`` (readings at entry).

    ``values`` may hold ``tsk11``, ``pcs``, ``odi``, ``attrib_mb`` (mind-brain causes of 3) and
    ``chronicity`` arrays of equal length (scores on each instrument's own scale). Attribution
    counts are coarse (0-3), so the belief is shrunk toward ``spec.belief_mean`` with
    :data:`BELIEF_PSEUDO_CAUSES` pseudo-causes.
    """
    n = len(next(iter(values.values())))

    def score(name: str) -> np.ndarray:
        return np.asarray(values.get(name, np.full(n, np.nan)), dtype=float)

    def reading(name: str, default: float) -> np.ndarray:
        v = INSTRUMENTS[name].to_fraction(score(name))
        return np.clip(np.where(np.isnan(v), default, v), 0.0, 1.0)

    mind_brain = INSTRUMENTS["attrib_mb"].to_fraction(score("attrib_mb"))
    w = 3.0 / (3.0 + BELIEF_PSEUDO_CAUSES)
    belief = np.where(
        np.isnan(mind_brain), spec.belief_mean, (1 - w) * spec.belief_mean + w * (1 - mind_brain)
    )
    chron = score("chronicity")
    lo, hi = TRAIT_RANGES["chronicity"]
    return {
        "fear": reading("tsk11", spec.fear_mean),
        "catastrophizing": reading("pcs", spec.cat_mean),
        "avoidance": reading("odi", spec.avoid_mean),
        "belief": np.clip(belief, 0.05, 0.99),
        "chronicity": np.clip(np.where(np.isnan(chron), spec.chronicity_median, chron), lo, hi),
    }


def records_latent(values: Mapping, spec: Any, p, state_pain, pain, variability=1.0) -> dict:
    """Latent baseline from recorded instruments taken when the fluctuation stood
    ``state_pain`` points above its mean (:func:`~prt_sim.model.instruments.latent_from_readings`),
    with steady pain ``pain`` (points).

    Missing TSK-11, PCS or Oswestry values take the population means of ``spec``, which are
    readings at entry: those lose the entry excess of ``spec.entry_shift`` (times each
    patient's ``variability``, as in :func:`entry_latent`) instead, so that every patient with a
    missing value gets the population's latent mean. ``state_pain``, ``pain``, ``variability``
    and the fields of ``p`` may be tensors.
    """
    base = observed_readings(values, spec)
    base["pain"] = pain
    at_record = latent_from_readings(base, state_pain, p)
    entry = entry_state_pain(spec.entry_shift, p, RECALL_DAYS + 1) * variability
    at_entry = latent_from_readings(base, entry, p)
    n = len(base["fear"])
    out = dict(at_record)
    for name, ins in INSTRUMENTS.items():
        if not ins.pain_state:
            continue
        missing = np.isnan(np.asarray(values.get(name, np.full(n, np.nan)), dtype=float)) * 1.0
        out[ins.latent] = missing * at_entry[ins.latent] + (1.0 - missing) * at_record[ins.latent]
    return out


def response_traits(std: Mapping, spec: Any) -> dict:
    """Response traits from standardized draws: log-normal education efficacy, logit-normal
    placebo expectancy (``spec`` fields may be PyTensor tensors)."""
    edu = spec.edu_efficacy_median * exp(spec.edu_efficacy_log_sd * std["edu_z"])
    logit = log(spec.placebo_median) - log(1.0 - spec.placebo_median)
    placebo = 1.0 / (1.0 + exp(-(logit + spec.placebo_logit_sd * std["placebo_z"])))
    return {
        "safety": std["safety"],
        "floor": std["floor"],
        "edu_efficacy": minimum(TRAIT_RANGES["edu_efficacy"][1], edu),
        "adherence": std["adherence"],
        "placebo_response": placebo,
        "variability": patient_variability(std, spec),
    }


def _recall_window(phi):
    """Mean of ``phi**1 ... phi**RECALL_DAYS``: the first visit's recall covers simulated days
    1-7 (day 0 is the initial state), where an initial excess has decayed by those factors."""
    return phi * (1.0 - phi**RECALL_DAYS) / (RECALL_DAYS * (1.0 - phi))


def entry_fluctuation(z0, shift, p):
    """Initial standardised fluctuation raised so its 7-day mean at the first visit is ``shift``.

    Enrolment on a pain threshold selects patients on a high day-to-day fluctuation; the excess
    then decays with the AR(1) persistence (regression to the mean between eligibility, T1 and
    post). ``p`` is a :class:`~prt_sim.model.params.DynParams` (fields may be tensors).
    """
    denom = p.fluct_sd * _recall_window(p.fluct_persistence)
    # No persistent fluctuation (fluct_sd or persistence 0): the selection cannot be carried.
    return z0 + shift / maximum(denom, 1e-9) * ((denom > 0) * 1.0)


def check_entry_shift(shift: float, params: Any, field: str) -> None:
    """Refuse an entry shift the fluctuation process cannot carry (more than 10 SD at day 0)."""
    phi, sd = params.fluct_persistence, params.fluct_sd
    window = _recall_window(phi)
    if shift > 0 and sd * window > 0 and shift / (sd * window) > 10.0 * (1 + 1e-9):
        raise ValidationError(
            field,
            shift,
            f"at most {10 * sd * window:.3g} points with fluct_sd={sd:g} and "
            f"fluct_persistence={phi:g}",
            "the initial fluctuation would exceed 10 SD",
        )


def window_to_state(p):
    """End-of-day fluctuation excess per point of the same excess in a visit's 7-day recall.

    An AR(1) excess decaying as ``fluct_persistence ** day`` averages over the recalled days to
    more than it is at the end of the visit day: the ratio is ``phi**7 * 7 (1 - phi) / (1 -
    phi**7)`` (0.77 at the default persistence 0.94; 0 without persistence). Turns a recorded
    pain's excess (e.g. ``pain_offset``) into the state excess its questionnaires carry.
    """
    phi = p.fluct_persistence
    return phi**RECALL_DAYS * RECALL_DAYS * (1.0 - phi) / (1.0 - phi**RECALL_DAYS)


def entry_state_pain(shift, p, steps):
    """Expected selection excess of the pain fluctuation (points) after ``steps`` daily updates.

    The initial fluctuation carries the entry shift (:func:`entry_fluctuation`) and decays as
    ``fluct_persistence ** steps``. The first visit's state (end of its day) is ``RECALL_DAYS +
    1`` updates after the initial state; a visit on study day ``v`` is ``v - start_day + 1``.
    Fields of ``p`` (:class:`~prt_sim.model.params.DynParams`) and ``shift`` may be tensors.
    """
    phi = p.fluct_persistence
    window = _recall_window(phi)
    carried = (p.fluct_sd * window > 0) * 1.0
    return shift / maximum(window, 1e-9) * phi**steps * carried


def traits_from_baseline(baseline: Mapping, response: Mapping, fluct0, p) -> tuple[Traits, State]:
    """Traits that make the given baseline each patient's untreated steady state.

    Fear, avoidance and catastrophizing relax toward proportional targets, so their propensities
    are ratios of baseline values; the gain is whatever makes baseline pain equal floor + gain *
    threat + the expected flare pain. Values are clipped to the trait ranges (a patient whose
    baseline cannot be matched exactly gets the nearest admissible traits). Runs on numpy arrays
    and on PyTensor tensors (``p`` a :class:`~prt_sim.model.params.DynParams`).
    """
    belief0 = baseline["belief"]
    # Initial safety memory cannot exceed 1 - belief, or the schema behind the belief would
    # have to exceed 1.
    safety = minimum(0.5, maximum(0.0, minimum(response["safety"], 1.0 - belief0)))
    schema = minimum(1.0, maximum(0.02, belief0 / (1.0 - safety)))
    b = schema * (1.0 - safety)
    fear_prop = minimum(1.0, maximum(0.0, baseline["fear"] / b))
    fear = fear_prop * b
    avoid_prop = minimum(3.0, maximum(0.0, baseline["avoidance"] / maximum(fear, 1e-3)))
    avoidance = minimum(1.0, avoid_prop * fear)
    pain = baseline["pain"]
    w = p.cat_belief_weight
    cat_base = w * b + (1.0 - w) * pain / 10.0
    cat_prop = minimum(1.0, maximum(0.0, baseline["catastrophizing"] / (cat_base + 1e-9)))
    cat = cat_prop * cat_base
    floor = minimum(response["floor"], 0.8 * pain)
    # Mean flare intensity of the stationary flare process (ignoring the cap at 1).
    flare_mean = minimum(1.0, p.flare_rate / (1.0 - exp(-1.0 / p.flare_duration)))
    zero = 0.0 * b
    s_tmp = State(safety, cat, fear, avoidance, zero, zero, zero, zero, zero, zero)
    t = threat(b, s_tmp, p)
    gain = minimum(
        10.0, maximum(0.0, (pain - floor - p.flare_pain * flare_mean) / maximum(t, 1e-3))
    )
    lo, hi = TRAIT_RANGES["chronicity"]
    traits = Traits(
        schema=schema,
        floor=floor,
        gain=gain,
        fear_prop=fear_prop,
        avoid_prop=avoid_prop,
        cat_prop=cat_prop,
        edu_efficacy=response["edu_efficacy"],
        adherence=response["adherence"],
        placebo_response=response["placebo_response"],
        chronicity=minimum(hi, maximum(lo, baseline["chronicity"])),
        drift=response["drift"] + zero,
        variability=response["variability"] + zero,
    )
    # Start the flare process at its stationary mean, as the gain inversion assumes.
    state = State(
        safety=safety,
        catastrophizing=cat,
        fear=fear,
        avoidance=avoidance,
        expectancy=zero,
        fluctuation=fluct0 + zero,
        flare=zero + flare_mean,
        consolidated=zero,  # nothing consolidated before treatment
        course=zero,  # the natural course starts at entry
        contact=zero,  # no session yet
    )
    return traits, state


def build_patients(
    latent: Mapping, std: Mapping, spec: Any, p, entry_shift
) -> tuple[Traits, State]:
    """Traits and initial state of patients: the one assembly every cohort and model uses.

    Parameters
    ----------
    latent : mapping
        ``pain`` (steady-state weekly pain, points; kept within :data:`PAIN_RANGE`), latent
        ``fear``, ``catastrophizing``, ``avoidance`` (fractions), ``belief`` (0-1) and
        ``chronicity`` (years): from :func:`entry_latent` or :func:`records_latent`.
    std : mapping
        Standardized response draws (``safety``, ``floor``, ``adherence``, ``edu_z``,
        ``placebo_z``, ``fluct_z``, ``drift_z``, optionally ``var_z``; see
        :func:`standard_draws`).
    spec : CohortSpec or an object with its fields (values may be tensors)
    p : DynParams
        Parameters (values may be tensors).
    entry_shift : float or tensor
        The entry excess (points) carried by the initial fluctuation (:func:`entry_fluctuation`).
    """
    baseline = dict(latent)
    baseline["pain"] = steady_pain(latent["pain"])
    response = response_traits(std, spec)
    # The natural-course drift at entry: the patient's level (mean 0, between-patient SD
    # course_sd; 0 unless the mechanism has a natural course) times the rate it is approached,
    # so the level and its spread are parameters of their own (sampled apart from the rate),
    # kept within the trait's range.
    lo, hi = TRAIT_RANGES["drift"]
    level = p.course_sd * std["drift_z"]
    response["drift"] = minimum(hi, maximum(lo, p.drift_reversion * level))
    fluct0 = entry_fluctuation(std["fluct_z"], entry_shift, p)
    return traits_from_baseline(baseline, response, fluct0, p)


def build_record_patients(
    values: Mapping, std: Mapping, effects: Mapping, spec: Any, p, t1_steps: int
) -> tuple[Traits, State]:
    """Traits and initial state of recorded trial patients with their random effects.

    The one assembly that the patient-level PyMC model (symbolic random effects, expected
    initial fluctuation) and the replay of its fitted patients by the full simulator (posterior
    draws of the random effects, a drawn initial fluctuation) both use.

    Parameters
    ----------
    values : mapping
        Recorded ``tsk11``, ``pcs``, ``odi``, ``attrib_mb`` and ``chronicity`` at T1 (arrays
        over patients, NaN = missing: population means of ``spec``).
    std : mapping
        Standardized draws of the traits that are not random effects (``safety``, ``floor``,
        ``adherence``; :func:`standard_draws`).
    effects : mapping
        ``pain_z``, ``edu_z``, ``placebo_z`` (standard-normal random effects), optionally
        ``floor_z`` (the pain floor's: floor = clip(``floor_mean`` + ``floor_sd`` *
        ``floor_z``, 0, 10); absent: the floor of ``std``), ``drift_z`` (the natural-course
        drift's; absent: 0) and ``fluct_z`` (the initial fluctuation before the entry excess;
        0 = its mean), optionally ``var_z`` (the rating variability's, see
        :func:`patient_variability`; absent: 1), arrays or tensors.
    spec : CohortSpec or an object with its fields (values may be tensors)
    p : DynParams
        Parameters (values may be tensors).
    t1_steps : int
        Daily updates from the initial state to the end of the T1 day, >= 1.
    """
    variability = patient_variability(effects, spec)
    latent = records_latent(
        values,
        spec,
        p,
        entry_state_pain(spec.entry_shift, p, t1_steps) * variability,
        spec.pain_mean + spec.pain_sd * effects["pain_z"],
        variability,
    )
    floor = std["floor"]
    if "floor_z" in effects:  # the floor as a random effect (patient-level fits of it)
        floor = minimum(10.0, maximum(0.0, spec.floor_mean + spec.floor_sd * effects["floor_z"]))
    resp = {
        "safety": std["safety"],
        "floor": floor,
        "adherence": std["adherence"],
        "edu_z": effects["edu_z"],
        "placebo_z": effects["placebo_z"],
        "fluct_z": effects["fluct_z"],
        "drift_z": effects.get("drift_z", 0.0 * effects["pain_z"]),
    } | ({"var_z": effects["var_z"]} if "var_z" in effects else {})
    return build_patients(latent, resp, spec, p, spec.entry_shift)
