"""The PyMC model of a trial's patient-level records: one surrogate agent per patient.

Each patient's recorded baseline sets their traits through the same builder as the simulator's
cohorts (:func:`prt_sim.model.baseline.build_patients`); steady pain, education efficacy and
placebo response are per-patient random effects; the skeleton runs the trial calendar; each
observed visit contributes the likelihood of what the patient reported (:func:`build_patient_model`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..data.uptake import start_probabilities
from ..errors import ValidationError
from ..model.baseline import DRIFT_UNIFORM, build_record_patients, standard_draws
from ..model.cohorts import CohortSpec
from ..model.dynamics import N_STATE, N_TRAITS, State, Traits
from ..model.instruments import INSTRUMENTS, questionnaire_readings
from ..model.params import ModelParams
from ..model.timeline import Visit
from .arm_model import ArmModelParts
from .grid import build_grid
from .observation import (
    param_vector,
    questionnaire_noise_var,
    report_noise_sd,
    stack_rows,
    survey_adjusted,
    symbolic_inputs,
)
from .priors import (
    PATIENT_PAIN_SD_PRIOR,
    Prior,
    check_priors_reach_likelihood,
    mechanism_priors,
    validate_priors,
)

__all__ = [
    "RANDOM_EFFECTS",
    "DRIFT_EFFECT",
    "FLOOR_EFFECT",
    "VARIABILITY_EFFECT",
    "has_drift",
    "has_floor_effect",
    "has_variability_effect",
    "has_surveys",
    "patient_priors",
    "random_effects",
    "build_patient_model",
    "PatientModelParts",
    "PatientRecords",
    "patient_records",
    "UNTIMED_VISITS",
    "likelihood_function",
]


#: Weekly visits after post whose timing the public data does not document (left out).
UNTIMED_VISITS = ("week5", "week6", "week7", "week8")


@dataclasses.dataclass
class PatientModelParts(ArmModelParts):
    """What :func:`build_patient_model` made."""

    patients: np.ndarray = None
    mixture_arms: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PatientRecords:
    """A trial's records as the patient-level model reads them (:func:`patient_records`)."""

    records: Any  #: xarray.Dataset over (patient, visit): the timed visits only
    visits: tuple  #: the timed visits (:class:`~prt_sim.model.timeline.Visit`), in day order
    baseline: dict  #: recorded T1 values per patient (tsk11, pcs, odi, attrib_mb, chronicity)
    std: dict  #: standardized draws of the traits that are not random effects (Sobol points)


#: The per-patient random effects of every patient-level fit (standard normal over patients).
RANDOM_EFFECTS = ("pain_z", "edu_z", "placebo_z")
#: The random effect of the natural-course drift, in fits whose mechanism has one.
DRIFT_EFFECT = "drift_z"
#: The random effect of the pain floor, in fits of ``floor_mean`` (the patient-level default).
FLOOR_EFFECT = "floor_z"
#: The random effect of the rating variability, in fits of ``variability_sd`` (the
#: patient-level default since 0.9.0).
VARIABILITY_EFFECT = "var_z"
#: Column of the rating variability in a trait table.
_VARIABILITY = Traits._fields.index("variability")


def has_drift(priors, params: ModelParams) -> bool:
    """Whether a model with these priors and parameters has a natural-course drift."""
    return "course_sd" in priors or params.course_sd > 0.0


def has_floor_effect(priors) -> bool:
    """Whether a patient-level model with these priors gives each patient their own pain
    floor: when the population's ``floor_mean`` is fitted. A floor drawn once and held
    fixed keeps a recovered patient from reporting less than it (fits before 0.8.0)."""
    return "floor_mean" in priors


def has_variability_effect(priors) -> bool:
    """Whether a patient-level model with these priors gives each patient their own rating
    variability (the scale of their day-to-day fluctuation and report noise): when the
    population's spread ``variability_sd`` is fitted. Without it every patient's reports
    scatter alike around their expected pain (fits before 0.9.0)."""
    return "variability_sd" in priors


def has_surveys(data) -> bool:
    """Whether a trial's records hold a reported pain at a timed survey visit (``Visit.mode``;
    the untimed :data:`UNTIMED_VISITS` are left out): what a fit of the surveys' offset
    learns from."""
    names = [v.name for v in data.visits if v.mode == "survey" and v.name not in UNTIMED_VISITS]
    rec = getattr(data, "records", None)
    if not names or rec is None or "pain_avg" not in rec:
        return False
    return bool(rec["pain_avg"].sel(visit=names).notnull().any())


def patient_priors(data, mechanism="inhibition") -> dict:
    """The default priors of a patient-level fit of ``data`` under ``mechanism``:
    :func:`~prt_sim.inference.priors.mechanism_priors` at patient level, without the surveys'
    offset where the records hold no survey (:func:`has_surveys`): nothing would inform it."""
    priors = mechanism_priors(mechanism, level="patient")
    if not has_surveys(data):
        priors.pop("survey_offset", None)
    return priors


def random_effects(idata_or_names) -> tuple[str, ...]:
    """The random effects of a fitted patient-level model: :data:`RANDOM_EFFECTS`, plus
    :data:`FLOOR_EFFECT`, :data:`VARIABILITY_EFFECT` and :data:`DRIFT_EFFECT` where the fit
    has them. Takes a fit (InferenceData) or variable names."""
    names = getattr(idata_or_names, "posterior", idata_or_names)
    return (
        RANDOM_EFFECTS
        + ((FLOOR_EFFECT,) if FLOOR_EFFECT in names else ())
        + ((VARIABILITY_EFFECT,) if VARIABILITY_EFFECT in names else ())
        + ((DRIFT_EFFECT,) if DRIFT_EFFECT in names else ())
    )


def patient_records(data, spec: CohortSpec, agent_seed: int = 0) -> PatientRecords:
    """The timed visits, T1 baseline values and fixed trait draws of each recorded patient.

    The untimed weekly visits after post (:data:`UNTIMED_VISITS`) are left out. Initial safety,
    adherence and (in fits without ``floor_mean``) the pain floor are not random effects: each
    patient gets a scrambled Sobol point (seeded by ``agent_seed``) through
    :func:`~prt_sim.model.baseline.standard_draws`. The PyMC model and the replay of its fitted
    patients both start here.
    """
    from scipy.stats import qmc

    rec = data.records
    keep = [str(v) for v in rec["visit"].values if str(v) not in UNTIMED_VISITS]
    rec = rec.sel(visit=keep)
    visits = tuple(
        Visit(name=str(v), day=int(d), mode=data.visit_mode(str(v)))
        for v, d in zip(rec["visit"].values, rec["day"].values)
    )
    n_pat = rec.sizes["patient"]
    table = data.baseline_table(dropna=False)
    order = {int(p): k for k, p in enumerate(table["id"])}
    take = np.array([order[int(p)] for p in rec["patient"].values])
    base_values = {
        k: np.asarray(table[k], float)[take]
        for k in ("tsk11", "pcs", "odi", "attrib_mb", "chronicity")
    }
    # The natural-course drift is a random effect here (``drift_z``), not a fixed draw: its
    # uniform (the last) is left out, which also keeps every other fixed draw what it was
    # before the drift existed (scrambled Sobol points change with their dimension).
    u = (
        qmc.Sobol(DRIFT_UNIFORM, scramble=True, seed=agent_seed)
        .random_base2(int(np.ceil(np.log2(n_pat))))[:n_pat]
        .T
    )
    return PatientRecords(rec, visits, base_values, standard_draws(u, spec))


def build_patient_model(
    data,
    *,
    priors: dict[str, Prior] | None = None,
    params: ModelParams | None = None,
    spec: CohortSpec | None = None,
    max_dt: int = 7,
    agent_seed: int = 0,
    trait_draws: dict | None = None,
    start_prob: np.ndarray | None = None,
) -> PatientModelParts:
    """Build the PyMC model of patient-level trial data, one surrogate agent per patient.

    Each patient's fear, catastrophizing, disability, damage belief (attributions) and
    chronicity at T1 set its traits (missing values: population means); its steady-state pain,
    education efficacy, placebo response and, when ``floor_mean`` is fitted (the default), its
    pain floor are random effects (standard normal ``*_z`` over ``patient``). Likelihood per observed visit: reported pain as an integer 0-10 (rounded
    Normal around the agent's 7-day mean), TSK-11, PCS and Oswestry after T1 (beta-binomial
    sums on each instrument's integer range, overdispersed by the occasion noise), mind-brain
    attributions after T1 (Binomial of the coded causes). Whether a patient in an arm with uptake < 1 started treatment is unknown:
    the likelihood mixes the treated and untreated trajectories with the patient's probability
    of having started given whether they left a record during treatment
    (:func:`prt_sim.data.uptake.start_probabilities`, or ``start_prob``: one probability per
    patient), and ``uptake_prob`` records each patient's posterior probability of having
    started.

    The traits that are not random effects (initial safety, adherence, ...) come
    from scrambled Sobol points seeded by ``agent_seed`` (:func:`patient_records`), unless
    ``trait_draws`` gives them (the ``std`` of :class:`PatientRecords`, one value per patient
    of ``data``): the integrated leave-one-out scores candidates that keep a fitted patient's
    own trait draws.
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import normal_lcdf
    from pymc.math import logdiffexp

    from .skeleton import SkeletonOp

    if data.level != "patient":
        raise ValidationError("data.level", data.level, "'patient' (records) for this model")
    priors = patient_priors(data) if priors is None else dict(priors)
    priors.setdefault("pain_sd", PATIENT_PAIN_SD_PRIOR)
    priors = validate_priors(priors)
    params = params or ModelParams()
    spec = spec or CohortSpec()
    pr = patient_records(data, spec, agent_seed)
    rec, visits, base_values, std = pr.records, pr.visits, pr.baseline, pr.std
    if trait_draws is not None:
        n = rec.sizes["patient"]
        for k, v in trait_draws.items():
            if np.shape(v) not in ((), (n,)):
                raise ValidationError(
                    f"trait_draws[{k!r}]", np.shape(v), f"one value per patient ({n})"
                )
        std = dict(trait_draws)
    arms = tuple(data.arms)
    protocols = dict(data.protocols)
    grid = build_grid(protocols, visits, max_dt=max_dt)
    n_pat = rec.sizes["patient"]
    pat_arm = np.array([arms.index(str(a)) for a in rec["arm"].values])
    if start_prob is None:
        start_prob = start_probabilities(data)
    start_prob = np.asarray(start_prob, dtype=float)
    if start_prob.shape != (n_pat,) or not np.all((start_prob >= 0) & (start_prob <= 1)):
        seen = f"shape {start_prob.shape}"
        if start_prob.size:
            seen += f", range [{start_prob.min():g}, {start_prob.max():g}]"
        raise ValidationError(
            "start_prob", seen, f"one probability in [0, 1] per patient ({n_pat})"
        )
    # Patients who may not have started their arm's treatment: a treated and an untreated agent
    # each, mixed with the patient's probability of having started.
    mix_idx = np.flatnonzero(start_prob < 1.0)
    mix_arms = tuple(a for i, a in enumerate(arms) if (pat_arm[mix_idx] == i).any())
    agent_pat = np.concatenate([np.arange(n_pat), mix_idx])  # patient of each agent
    agent_arm = pat_arm[agent_pat]
    treat = np.concatenate([np.ones(n_pat), np.zeros(len(mix_idx))])

    obs = {k: rec[k].values.astype(float) for k in ("pain_avg", "tsk11", "pcs", "odi", "attrib_mb")}
    coded = rec["attrib_coded"].values.astype(float) if "attrib_coded" in rec else None
    first_days = {"eligibility", "t1"}
    after_t1 = np.array([v.name not in first_days for v in visits])
    coords = {
        "patient": rec["patient"].values.astype(int),
        "visit": [v.name for v in visits],
        "arm": list(arms),
    }
    with pm.Model(coords=coords) as model:
        theta = {name: pr.dist(name) for name, pr in priors.items()}
        pain_z = pm.Normal("pain_z", 0.0, 1.0, dims="patient")
        edu_z = pm.Normal("edu_z", 0.0, 1.0, dims="patient")
        placebo_z = pm.Normal("placebo_z", 0.0, 1.0, dims="patient")
        p_sym, sv = symbolic_inputs(theta, params, spec)
        # The T1 questionnaires carry the selection excess the fluctuation has at the end of
        # the T1 day (missing ones: population means, see records_latent).
        t1_steps = next(v.day for v in visits if v.name == "t1") - grid.start_day + 1
        effects = {"pain_z": pain_z, "edu_z": edu_z, "placebo_z": placebo_z}
        if has_floor_effect(priors):  # each patient's own floor, under the fitted population's
            effects["floor_z"] = pm.Normal("floor_z", 0.0, 1.0, dims="patient")
        variable = has_variability_effect(priors)
        if variable:  # each patient's own rating variability
            effects["var_z"] = pm.Normal("var_z", 0.0, 1.0, dims="patient")
        if has_drift(priors, params):  # the natural course: each patient's own drift
            effects["drift_z"] = pm.Normal("drift_z", 0.0, 1.0, dims="patient")
        # The mean selection excess: the initial fluctuation's own draw is averaged out.
        effects["fluct_z"] = 0.0 * pain_z
        traits, init = build_record_patients(base_values, std, effects, sv, p_sym, t1_steps)
        traits_m = stack_rows(traits, n_pat, agent_pat)
        init_m = stack_rows(init, n_pat, agent_pat)
        op = SkeletonOp(grid, agent_arm, treat)
        sg_scale = theta.get("self_guided_scale", 1.0)
        week, vstate, _ = op(traits_m, init_m, param_vector(p_sym, params), sg_scale)
        # Each agent's rating variability (a vector over agents), or None: the population's.
        var_agent = traits_m[_VARIABILITY] if variable else None
        n_agents = len(agent_pat)

        # Log-likelihood of each agent's observations, computed at the observed (agent, visit)
        # entries only and summed per agent: most questionnaires are not asked at most visits,
        # and their beta-binomial terms (log-gamma values, digamma gradients) are most of the
        # observation model's cost.
        per_agent = pt.zeros(n_agents)

        def variability_at(agents):  # the observed entries' variability, or the population's
            return None if var_agent is None else var_agent[agents]

        y_all = obs["pain_avg"][agent_pat]
        pa, pv = np.nonzero(~np.isnan(y_all))
        y = y_all[pa, pv]
        hi_e = np.where(y >= 10, 50.0, y + 0.5)
        lo_e = np.where(y <= 0, -50.0, y - 0.5)
        reported = survey_adjusted(week, p_sym, visits)  # the weekly surveys' mode offset
        sd = report_noise_sd(p_sym, variability_at(pa))
        mu = reported[pa, pv]
        ll_pain = logdiffexp(normal_lcdf(mu, sd, hi_e), normal_lcdf(mu, sd, lo_e))
        per_agent = pt.inc_subtensor(per_agent[pa], ll_pain)
        x_sym = Traits(*[traits_m[k][:, None] for k in range(N_TRAITS)])
        readings = questionnaire_readings(State(*[vstate[f] for f in range(N_STATE)]), x_sym, p_sym)
        # Questionnaire sums as the simulator draws them: Binomial(n points, reading + occasion
        # noise), i.e. a beta-binomial whose overdispersion comes from item_noise_sd and from the
        # random part of the pain fluctuation the reading follows (stationary SD fluct_sd); the
        # likelihood lives on the instrument's own integer range.
        for name, reading in zip(("tsk11", "pcs", "odi"), readings[:3]):
            ins = INSTRUMENTS[name]
            yv = obs[name][agent_pat]
            qa, qv = np.nonzero(~np.isnan(yv) & after_t1[None, :])
            if not len(qa):
                continue
            k = np.clip(np.round((yv[qa, qv] - ins.offset) / ins.step), 0, ins.n_points)
            q = pt.clip(reading[qa, qv], 0.01, 0.99)  # keeps the beta-binomial numerically finite
            var = questionnaire_noise_var(p_sym, getattr(p_sym, ins.pain_state), variability_at(qa))
            conc = pt.maximum(q * (1 - q) / pt.maximum(var, 1e-6) - 1.0, 2.0)
            bb = pm.BetaBinomial.dist(alpha=q * conc, beta=(1 - q) * conc, n=ins.n_points)
            per_agent = pt.inc_subtensor(per_agent[qa], pm.logp(bb, k.astype(np.int64)))
        if coded is not None:
            k = obs["attrib_mb"][agent_pat]
            n_c = np.nan_to_num(coded[agent_pat])
            ca, cv = np.nonzero(~np.isnan(k) & (n_c > 0) & after_t1[None, :])
            if len(ca):
                p_mb = pt.clip(readings[3][ca, cv], 1e-6, 1 - 1e-6)
                llv = pm.logp(
                    pm.Binomial.dist(n_c[ca, cv].astype(np.int64), p_mb),
                    k[ca, cv].astype(np.int64),
                )
                per_agent = pt.inc_subtensor(per_agent[ca], llv)
        total = per_agent[:n_pat]
        took_up = pt.ones(n_pat)
        if len(mix_idx):
            up = np.maximum(start_prob[mix_idx], 1e-300)  # finite logs (and gradients) at P = 0
            treated = np.log(up) + per_agent[:n_pat][mix_idx]
            mixed = pm.math.logaddexp(treated, np.log1p(-up) + per_agent[n_pat:])
            total = pt.set_subtensor(total[mix_idx], mixed)
            took_up = pt.set_subtensor(took_up[mix_idx], pt.exp(treated - mixed))
        pm.Potential("loglik", total.sum())
        pm.Deterministic("patient_loglik", total, dims="patient")
        # P(the patient started their arm's treatment | their records): the replay of the
        # fitted patients draws uptake from it, not from the arm's prior uptake.
        pm.Deterministic("uptake_prob", took_up, dims="patient")
        by_arm = [np.flatnonzero(agent_arm[:n_pat] == a) for a in range(len(arms))]
        pm.Deterministic(  # the 7-day mean as each visit reads it (survey offset included)
            "pred_pain_mean",
            pt.stack([reported[:n_pat][i].mean(0) for i in by_arm]),
            dims=("arm", "visit"),
        )
        b = 1.0 - readings[3]
        pm.Deterministic(
            "pred_belief", pt.stack([b[:n_pat][i].mean(0) for i in by_arm]), dims=("arm", "visit")
        )
    check_priors_reach_likelihood(model, priors)
    parts = PatientModelParts(model, visits, arms, priors, n_pat, op)
    parts.patients = rec["patient"].values
    parts.mixture_arms = mix_arms
    return parts


def likelihood_function(model, names, var: str = "patient_loglik"):
    """A compiled function of a patient-level model: (population values in ``names`` order,
    then the arrays over patients of the model's :func:`random_effects`: ``pain_z``, ``edu_z``,
    ``placebo_z``, and ``floor_z``, ``var_z`` and ``drift_z`` where the model has them) -> the per-patient
    deterministic ``var`` (default each patient's log likelihood, ``patient_loglik``, uptake
    mixture included; ``"uptake_prob"``: the probability of having started; constrained values
    in). Scores candidate patients for personalized forecasts and the integrated leave-one-out,
    and recomputes ``uptake_prob`` for fits made before it was recorded."""
    import pytensor
    from pymc.logprob.utils import replace_rvs_by_values

    (out,) = replace_rvs_by_values(
        [model[var]], rvs_to_values=model.rvs_to_values, rvs_to_transforms={}
    )
    effects = random_effects([v.name for v in model.free_RVs])
    inputs = [model.rvs_to_values[model[n]] for n in (*names, *effects)]
    return pytensor.function(inputs, out, on_unused_input="ignore")
