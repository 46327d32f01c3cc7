"""The PyMC model of a trial's arm-level figures, built from the simulator's own equations.

Population parameters get priors (:mod:`prt_sim.inference.priors`); standardized surrogate
agents (scrambled Sobol points pushed through :func:`prt_sim.model.baseline.standard_draws`)
become trait vectors with :func:`prt_sim.model.baseline.build_patients`, the function the
simulator's cohorts use; the :class:`~prt_sim.inference.skeleton.SkeletonOp` runs
:func:`prt_sim.model.dynamics.daily_step` over the trial calendar with expected shocks; and the
instruments' observation models turn the agents' expected weekly pain and states into arm-level
predictions.

Arm-level likelihood (published figures):

- mean pain per arm and visit: Normal(predicted mean, observed SD / sqrt(n));
- pain 0-1 responders: Binomial(n observed, predicted share);
- TSK-11, PCS, Oswestry means: Normal(predicted mean, SD / sqrt(n));
- mind-brain attributions: Binomial(3 n, predicted share).

Each agent's reported pain is an integer: the agent's expected 7-day mean plus Normal noise
(day-to-day fluctuation averaged over the week, flare-ups, report noise), rounded and clipped
to 0-10. The predicted arm mean, SD and pain 0-1 share average those integer distributions
over agents, so heterogeneity and rounding enter the responder counts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import ValidationError, check_int
from ..model.baseline import DRIFT_UNIFORM, build_patients, entry_latent, standard_draws
from ..model.cohorts import CohortSpec
from ..model.dynamics import N_STATE, N_TRAITS, State, Traits
from ..model.instruments import INSTRUMENTS, questionnaire_readings
from ..model.params import ModelParams
from ..model.protocols import Protocol
from ..model.rng import MAX_SEED, derive_key
from ..model.timeline import Visit
from .grid import build_grid
from .observation import (
    param_vector,
    report_noise_sd,
    reported_pain_moments,
    stack_rows,
    survey_adjusted,
    symbolic_inputs,
)
from .priors import DEFAULT_PRIORS, Prior, check_priors_reach_likelihood, validate_priors

__all__ = [
    "build_arm_model",
    "ArmModelParts",
    "likelihood_rows",
    "observation_data",
    "ODI_SD_FALLBACK",
]

#: SD of Oswestry scores used where a source publishes no SD (public data at post: 10.6-11.1).
ODI_SD_FALLBACK = 11.0


@dataclasses.dataclass
class ArmModelParts:
    """What :func:`build_arm_model` made, for predictions and checks."""

    model: Any
    visits: tuple[Visit, ...]
    arms: tuple[str, ...]
    fitted: dict[str, Prior]
    n_agents: int
    op: Any


def check_no_variability_spread(spec, priors) -> None:
    """Refuse a between-patient spread of rating variability at arm level, fixed
    (``spec.variability_sd``) or fitted (a prior on it). The arm-level likelihood reads every
    agent's reports with the population's spread: a fitted spread would not reach it, a fixed
    one would make the simulated replicates unlike the fitted agents."""
    if spec.variability_sd or "variability_sd" in priors:
        raise ValidationError(
            "spec.variability_sd" if spec.variability_sd else "priors[variability_sd]",
            spec.variability_sd or priors["variability_sd"].describe(),
            "0 and not fitted at arm level (a patient-level random effect)",
        )


def build_arm_model(
    data,
    *,
    priors: dict[str, Prior] | None = None,
    params: ModelParams | None = None,
    spec: CohortSpec | None = None,
    n_agents: int = 32,
    max_dt: int = 7,
    agent_seed: int = 0,
    daily_grid: bool = False,
) -> ArmModelParts:
    """Build the PyMC model of arm-level trial data.

    Parameters
    ----------
    data : prt_sim.data.TrialData
        Arm-level data (``data.summaries``); patient-level data is summarised first.
    priors : dict of name -> Prior, optional
        Fitted parameters and their priors (default :data:`DEFAULT_PRIORS`); parameters not
        listed keep their values in ``params`` / ``spec``.
    params, spec : optional
        Fixed values of the parameters that are not fitted.
    n_agents : int
        Surrogate agents per arm, 4 to 4096 (quasi-random; the same agents in every arm).
    max_dt : int
        Longest skeleton step in days where nothing happens (1 = daily map).
    agent_seed : int
        Scrambling seed of the Sobol points.
    daily_grid : bool
        Run the skeleton day by day everywhere (exactly the simulator's daily map).
    """
    import pymc as pm
    import pytensor.tensor as pt
    from scipy.stats import qmc

    from .skeleton import SkeletonOp

    priors = dict(DEFAULT_PRIORS if priors is None else priors)
    params = params or ModelParams()
    spec = spec or CohortSpec()
    n_agents = check_int("n_agents", n_agents, 4, 4096)
    check_no_variability_spread(spec, priors)
    if data.level != "arm":
        data = data.to_arm_level()
    summaries = data.summaries
    arms = tuple(data.arms)
    priors = validate_priors(priors)

    # Visits the skeleton must resolve: every data visit, and the parts of composite visits.
    comp = dict(data.composite_visits or {})
    visits = data.simulated_visits()
    vindex = {v.name: j for j, v in enumerate(visits)}
    protocols: dict[str, Protocol] = dict(data.protocols)
    grid = build_grid(protocols, visits, max_dt=max_dt, daily=daily_grid)

    # Surrogate agents: the same Sobol points in every arm.
    # One dimension more than a cohort's draws before the drift: it decides treatment uptake.
    sobol = qmc.Sobol(DRIFT_UNIFORM + 1, scramble=True, seed=agent_seed)
    # Sobol points are balanced in blocks of 2**m: draw the enclosing block, keep n_agents.
    m = int(np.ceil(np.log2(n_agents)))
    u_all = sobol.random_base2(m)[:n_agents].T
    # The natural-course drift's uniform from a sequence of its own, so that the points above
    # (and so every fit made before the drift existed) are unchanged.
    drift_seed = derive_key(agent_seed, "arm-drift") % MAX_SEED
    u_drift = qmc.Sobol(1, scramble=True, seed=drift_seed).random_base2(m)[:n_agents].T
    u = np.vstack([u_all[:DRIFT_UNIFORM], u_drift])
    std = standard_draws(u, spec)
    n_arms = len(arms)
    arm_idx = np.repeat(np.arange(n_arms), n_agents)
    # Uptake: a stratified share of each arm's agents never starts treatment.
    # Uptake is independent of the traits (as in the simulator): ranking the agents on a Sobol
    # dimension of its own spreads the non-starters over the trait space. (Ranking on u[0], the
    # steady-pain dimension, left the highest-pain agents untreated: +0.16 points on PRT's mean
    # pain after treatment against the simulator, measured.)
    v = (np.argsort(np.argsort(u_all[DRIFT_UNIFORM])) + 0.5) / n_agents
    treat = np.concatenate([(v < grid.uptake[a]).astype(float) for a in range(n_arms)])
    std_all = {k: np.tile(np.asarray(val, float), n_arms) for k, val in std.items()}

    coords = {"arm": list(arms), "visit": [v.name for v in visits], "parameter": list(priors)}
    with pm.Model(coords=coords) as model:
        theta = {name: pr.dist(name) for name, pr in priors.items()}
        # Randomized arms differ at baseline by chance: a per-arm offset of steady pain with the
        # sampling SD of an arm mean.
        n_rand = np.asarray(summaries["n_randomized"].values, float)
        offset_z = pm.Normal("arm_offset_z", 0.0, 1.0, dims="arm")
        p_sym, spec_sym = symbolic_inputs(theta, params, spec)
        offset = pm.Deterministic(
            "arm_pain_offset", offset_z * spec_sym.pain_sd / np.sqrt(n_rand), dims="arm"
        )
        spec_sym.pain_mean = spec_sym.pain_mean + offset[arm_idx]
        # The agents start from the entry excess's mean: no random part of the fluctuation.
        std_all["fluct_z"] = np.zeros(len(arm_idx))
        traits, init = build_patients(
            entry_latent(std_all, spec_sym, p_sym), std_all, spec_sym, p_sym, spec_sym.entry_shift
        )
        traits_m = stack_rows(traits, len(arm_idx))
        sg_scale = theta.get("self_guided_scale", 1.0)
        op = SkeletonOp(grid, arm_idx, treat)
        week, vstate, _ = op(
            traits_m, stack_rows(init, len(arm_idx)), param_vector(p_sym, params), sg_scale
        )

        reported = survey_adjusted(week, p_sym, visits)
        mean_i, m2_i, free_i = reported_pain_moments(reported, report_noise_sd(p_sym))
        by_arm = [np.flatnonzero(arm_idx == a) for a in range(n_arms)]

        def arm_mean(x):
            return pt.stack([x[idx].mean(0) for idx in by_arm])

        pain_mean = pm.Deterministic("pred_pain_mean", arm_mean(mean_i), dims=("arm", "visit"))
        pain_m2 = arm_mean(m2_i)
        pm.Deterministic(
            "pred_pain_sd", pt.sqrt(pt.maximum(pain_m2 - pain_mean**2, 1e-9)), dims=("arm", "visit")
        )
        pain_free = pm.Deterministic("pred_pain_free", arm_mean(free_i), dims=("arm", "visit"))
        x_sym = Traits(*[traits_m[k][:, None] for k in range(N_TRAITS)])
        readings = questionnaire_readings(State(*[vstate[f] for f in range(N_STATE)]), x_sym, p_sym)
        latent = {
            name: INSTRUMENTS[name].to_score(arm_mean(r))
            for name, r in zip(("tsk11", "pcs", "odi"), readings[:3])
        }
        latent["attrib_mb_share"] = arm_mean(readings[3])
        for k, val in latent.items():
            pm.Deterministic(f"pred_{k}", val, dims=("arm", "visit"))
        pm.Deterministic("pred_belief", 1.0 - latent["attrib_mb_share"], dims=("arm", "visit"))

        n_vis = len(visits)

        def pred(arm, visit):
            """Weights over the flattened (arm, visit) predictions (composites average)."""
            w = np.zeros(n_arms * n_vis)
            parts = comp.get(visit, (visit,))
            for part in parts:
                w[arm * n_vis + vindex[part]] += 1.0 / len(parts)
            return w

        _add_likelihoods(summaries, arms, comp, pred, pain_mean, pain_free, latent)
    check_priors_reach_likelihood(model, priors)
    return ArmModelParts(model, visits, arms, priors, n_agents, op)


def likelihood_rows(summaries, arms, pred=None) -> dict[str, list]:
    """The arm-level observations in likelihood order: measure -> rows of
    ``(arm, visit, weights, observed value, SE or n)``.

    Entries missing in ``summaries`` (NaN) are left out, so two datasets with the same
    pattern of reported figures give rows in the same order.
    """
    s = summaries
    visits = [str(v) for v in s["visit"].values]
    pred = pred or (lambda a, visit: None)
    rows: dict[str, list] = {k: [] for k in ("pain", "free", "tsk11", "pcs", "odi", "mb")}
    for a, arm in enumerate(arms):
        for visit in visits:

            def val(name, arm=arm, visit=visit):
                return float(s[name].sel(arm=arm, visit=visit)) if name in s else np.nan

            m, sd, n = val("pain_avg_mean"), val("pain_avg_sd"), val("pain_avg_n")
            if np.isfinite(m) and np.isfinite(sd) and n > 0:
                rows["pain"].append((arm, visit, pred(a, visit), m, sd / np.sqrt(n)))
            k, n_obs = val("pain_free_k"), val("pain_free_n_observed")
            if np.isfinite(k) and n_obs > 0:
                rows["free"].append((arm, visit, pred(a, visit), k, n_obs))
            for meas in ("tsk11", "pcs", "odi"):
                m, sd, n = val(f"{meas}_mean"), val(f"{meas}_sd"), val(f"{meas}_n")
                if meas == "odi" and not np.isfinite(sd):
                    sd = ODI_SD_FALLBACK
                if np.isfinite(m) and np.isfinite(sd) and n > 0:
                    rows[meas].append((arm, visit, pred(a, visit), m, sd / np.sqrt(n)))
            share, n = val("attrib_mb_share_mean"), val("attrib_mb_share_n")
            if np.isfinite(share) and n > 0:
                rows["mb"].append((arm, visit, pred(a, visit), round(share * 3 * n), 3 * n))
    return rows


def observation_data(rows: dict[str, list]) -> dict[str, np.ndarray]:
    """Values of the model's data containers for :func:`likelihood_rows` output (to re-sample a
    compiled model on new data: ``compiled.with_data(**observation_data(rows))``)."""
    out = {}
    for key, obs in rows.items():
        if not obs:
            continue
        if key in ("free", "mb"):
            out[f"obs_{key}_n"] = np.array([r[4] for r in obs], dtype=np.int64)
            out[f"obs_{key}_value"] = np.array([r[3] for r in obs], dtype=np.int64)
        else:
            out[f"obs_{key}_se"] = np.array([r[4] for r in obs], dtype=float)
            out[f"obs_{key}_value"] = np.array([r[3] for r in obs], dtype=float)
    return out


def _add_likelihoods(summaries, arms, comp, pred, pain_mean, pain_free, latent) -> None:
    import pymc as pm
    import pytensor.tensor as pt

    rows = likelihood_rows(summaries, arms, pred)
    model = pm.modelcontext(None)
    for key, obs in rows.items():
        if not obs:
            continue
        dim = f"{key}_obs"
        model.add_coord(dim, [f"{r[0]}/{r[1]}" for r in obs])
        source = {
            "pain": pain_mean,
            "free": pain_free,
            "tsk11": latent["tsk11"],
            "pcs": latent["pcs"],
            "odi": latent["odi"],
            "mb": latent["attrib_mb_share"],
        }[key]
        # One dot product per measure keeps the graph small (fast to rewrite and compile).
        mu = pt.dot(np.stack([r[2] for r in obs]), source.reshape((-1,)))
        # Data containers (not constants): a compiled model can be re-sampled on new data of the
        # same shape (simulation-based calibration) without compiling again.
        if key in ("free", "mb"):
            p = pt.clip(mu, 1e-6, 1 - 1e-6)
            n = pm.Data(f"obs_{key}_n", np.array([r[4] for r in obs], dtype=np.int64), dims=dim)
            y = pm.Data(f"obs_{key}_value", np.array([r[3] for r in obs], dtype=np.int64), dims=dim)
            pm.Binomial(f"{key}_count", n=n, p=p, observed=y, dims=dim)
        else:
            name = {"pain": "pain_mean_obs"}.get(key, f"{key}_mean_obs")
            sigma = pm.Data(f"obs_{key}_se", np.array([r[4] for r in obs]), dims=dim)
            y = pm.Data(f"obs_{key}_value", np.array([r[3] for r in obs]), dims=dim)
            pm.Normal(name, mu=mu, sigma=sigma, observed=y, dims=dim)
