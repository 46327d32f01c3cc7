"""The PyMC model of a trial, built from the simulator's own equations.

Population parameters get priors (:mod:`prt_sim.inference.priors`); standardized surrogate
agents (scrambled Sobol points pushed through :func:`prt_sim.cohorts.standard_draws`) become
trait vectors with :func:`prt_sim.cohorts.realize`, the same function the simulator's cohorts
use; the :class:`~prt_sim.inference.skeleton.SkeletonOp` runs :func:`prt_sim.dynamics.
daily_step` over the trial calendar with expected shocks; and the instruments' observation
models turn the agents' expected weekly pain and states into arm-level predictions.

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
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..cohorts import N_UNIFORMS, CohortSpec, realize, standard_draws
from ..dynamics import State
from ..errors import ValidationError, check_int
from ..instruments import questionnaire_readings
from ..params import DynParams, ModelParams
from ..protocols import Protocol
from ..timeline import RECALL_DAYS, Visit, trial_visits
from .grid import build_grid
from .priors import DEFAULT_PRIORS, PATIENT_PAIN_SD_PRIOR, Prior, validate_priors

__all__ = ["build_arm_model", "ArmModelParts", "report_noise_sd", "ODI_SD_FALLBACK"]

#: SD of Oswestry scores used where a source publishes no SD (public data at post: 10.6-11.1).
ODI_SD_FALLBACK = 11.0

_MEASURES = ("pain_avg", "tsk11", "pcs", "odi", "attrib_mb_share")


def report_noise_sd(params: ModelParams) -> float:
    """SD (points) of a reported weekly pain around an agent's expected 7-day mean.

    Sums the variance of the 7-day mean of the stationary AR(1) fluctuation, of flare-up pain
    (onsets Bernoulli(flare_rate) per day, each decaying with ``flare_duration``; cap at 1
    ignored), and of the report noise.
    """
    phi, sd = params.fluct_persistence, params.fluct_sd
    lags = np.abs(np.subtract.outer(np.arange(RECALL_DAYS), np.arange(RECALL_DAYS)))
    fluct_var = sd**2 * np.mean(phi**lags)
    # Weight of a flare starting on day o (relative to the window start) in the 7-day mean.
    onsets = np.arange(-int(20 * params.flare_duration) - 1, RECALL_DAYS)
    days = np.arange(RECALL_DAYS)
    lag = days[None, :] - onsets[:, None]
    c = np.where(lag >= 0, np.exp(-np.maximum(lag, 0) / params.flare_duration), 0.0).mean(axis=1)
    r = params.flare_rate
    flare_var = params.flare_pain**2 * r * (1 - r) * np.sum(c**2)
    return float(np.sqrt(fluct_var + flare_var + params.pain_report_sd**2))


@dataclasses.dataclass
class ArmModelParts:
    """What :func:`build_arm_model` made, for predictions and checks."""

    model: Any
    visits: tuple[Visit, ...]
    arms: tuple[str, ...]
    fitted: dict[str, Prior]
    n_agents: int
    op: Any


def _normal_cdf(x):
    import pytensor.tensor as pt

    return 0.5 * (1.0 + pt.erf(x / np.sqrt(2.0)))


def _reported_pain_moments(mu, sd):
    """Mean, second moment and P(<= 1) of round-and-clip(mu + N(0, sd^2)) to 0..10."""
    import pytensor.tensor as pt

    edges = np.arange(10) + 0.5  # P(Y <= k) = Phi((k + 0.5 - mu) / sd), k = 0..9
    cdf = _normal_cdf((edges[None, None, :] - mu[..., None]) / sd)
    ones = pt.ones_like(cdf[..., :1])
    cdf = pt.concatenate([cdf, ones], axis=-1)
    pmf = pt.concatenate([cdf[..., :1], cdf[..., 1:] - cdf[..., :-1]], axis=-1)
    k = np.arange(11.0)
    return (pmf * k).sum(-1), (pmf * k**2).sum(-1), cdf[..., 1]


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
    if data.level != "arm":
        data = data.to_arm_level()
    summaries = data.summaries
    arms = tuple(data.arms)
    priors = validate_priors(priors)

    # Visits the skeleton must resolve: every data visit, and the parts of composite visits.
    named = {v.name: v for v in trial_visits(extra_days=())}
    day_of = dict(data.visit_days)
    comp = dict(data.composite_visits or {})
    needed = []
    for v in summaries["visit"].values:
        for part in comp.get(v, (v,)):
            if part not in [w.name for w in needed]:
                day = named[part].day if part in named else day_of[part]
                needed.append(Visit(name=part, day=int(day)))
    visits = tuple(sorted(needed, key=lambda v: v.day))
    vindex = {v.name: j for j, v in enumerate(visits)}
    protocols: dict[str, Protocol] = dict(data.protocols)
    grid = build_grid(protocols, visits, max_dt=max_dt, daily=daily_grid)

    # Surrogate agents: the same Sobol points in every arm.
    # One dimension more than a cohort uses: it decides treatment uptake.
    sobol = qmc.Sobol(N_UNIFORMS + 1, scramble=True, seed=agent_seed)
    # Sobol points are balanced in blocks of 2**m: draw the enclosing block, keep n_agents.
    u_all = sobol.random_base2(int(np.ceil(np.log2(n_agents))))[:n_agents].T
    u = u_all[:N_UNIFORMS]
    std = standard_draws(u, spec)
    n_arms = len(arms)
    arm_idx = np.repeat(np.arange(n_arms), n_agents)
    # Uptake: a stratified share of each arm's agents never starts treatment.
    # Uptake is independent of the traits (as in the simulator): ranking the agents on a Sobol
    # dimension of its own spreads the non-starters over the trait space. (Ranking on u[0], the
    # steady-pain dimension, left the highest-pain agents untreated: +0.16 points on PRT's mean
    # pain after treatment against the simulator, measured.)
    v = (np.argsort(np.argsort(u_all[N_UNIFORMS])) + 0.5) / n_agents
    treat = np.concatenate([(v < grid.uptake[a]).astype(float) for a in range(n_arms)])
    std_all = {k: np.tile(np.asarray(val, float), n_arms) for k, val in std.items()}

    coords = {"arm": list(arms), "visit": [v.name for v in visits], "parameter": list(priors)}
    with pm.Model(coords=coords) as model:
        theta = {name: pr.dist(name) for name, pr in priors.items()}
        # Randomized arms differ at baseline by chance: a per-arm offset of steady pain with the
        # sampling SD of an arm mean.
        n_rand = np.asarray(summaries["n_randomized"].values, float)
        offset_z = pm.Normal("arm_offset_z", 0.0, 1.0, dims="arm")
        pain_sd = theta.get("pain_sd", spec.pain_sd)
        offset = pm.Deterministic(
            "arm_pain_offset", offset_z * pain_sd / np.sqrt(n_rand), dims="arm"
        )

        pvals = {f: theta.get(f, getattr(params, f)) for f in DynParams._fields}
        p_sym = DynParams(**pvals)
        spec_vals = {
            f.name: theta.get(f.name, getattr(spec, f.name))
            for f in dataclasses.fields(CohortSpec)
            if f.name != "correlation"
        }
        spec_vals["pain_mean"] = spec_vals["pain_mean"] + offset[arm_idx]
        traits, init = realize(std_all, SimpleNamespace(**spec_vals), p_sym)
        init = init._replace(fluctuation=init.fluctuation - std_all["fluct_z"])  # mean only
        traits_m = pt.stack([pt.as_tensor_variable(t) * pt.ones(len(arm_idx)) for t in traits])
        init_m = pt.stack([pt.as_tensor_variable(t) * pt.ones(len(arm_idx)) for t in init])
        pvec = pt.stack(
            [pt.as_tensor_variable(pvals[f]).astype("float64") for f in DynParams._fields]
        )
        sg_scale = theta.get("self_guided_scale", 1.0)
        op = SkeletonOp(grid, arm_idx, treat)
        week, vstate, _ = op(traits_m, init_m, pvec, sg_scale)

        sd = report_noise_sd(params)
        mean_i, m2_i, free_i = _reported_pain_moments(week, sd)
        belief = traits_m[0][:, None] * (1.0 - vstate[0])
        by_arm = [np.flatnonzero(arm_idx == a) for a in range(n_arms)]

        def arm_mean(x):
            return pt.stack([x[idx].mean(0) for idx in by_arm])

        pain_mean = pm.Deterministic("pred_pain_mean", arm_mean(mean_i), dims=("arm", "visit"))
        pain_m2 = arm_mean(m2_i)
        pm.Deterministic(
            "pred_pain_sd", pt.sqrt(pt.maximum(pain_m2 - pain_mean**2, 1e-9)), dims=("arm", "visit")
        )
        pain_free = pm.Deterministic("pred_pain_free", arm_mean(free_i), dims=("arm", "visit"))
        tsk, pcs, odi = questionnaire_readings(State(*[vstate[f] for f in range(7)]), p_sym)
        latent = {
            "tsk11": 11.0 + 33.0 * arm_mean(tsk),
            "pcs": 52.0 * arm_mean(pcs),
            "odi": 100.0 * arm_mean(odi),
            "attrib_mb_share": arm_mean(1.0 - belief),
        }
        for k, val in latent.items():
            pm.Deterministic(f"pred_{k}", val, dims=("arm", "visit"))
        pm.Deterministic("pred_belief", arm_mean(belief), dims=("arm", "visit"))

        n_vis = len(visits)

        def pred(arm, visit):
            """Weights over the flattened (arm, visit) predictions (composites average)."""
            w = np.zeros(n_arms * n_vis)
            parts = comp.get(visit, (visit,))
            for part in parts:
                w[arm * n_vis + vindex[part]] += 1.0 / len(parts)
            return w

        _add_likelihoods(summaries, arms, comp, pred, pain_mean, pain_free, latent)
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


#: Weekly visits after post whose timing the public data does not document (left out).
UNTIMED_VISITS = ("week5", "week6", "week7", "week8")


@dataclasses.dataclass
class PatientModelParts(ArmModelParts):
    """What :func:`build_patient_model` made."""

    patients: np.ndarray = None
    mixture_arms: tuple[str, ...] = ()


def build_patient_model(
    data,
    *,
    priors: dict[str, Prior] | None = None,
    params: ModelParams | None = None,
    spec: CohortSpec | None = None,
    max_dt: int = 7,
    agent_seed: int = 0,
) -> PatientModelParts:
    """Build the PyMC model of patient-level trial data, one surrogate agent per patient.

    Each patient's fear, catastrophizing, disability, damage belief (attributions) and
    chronicity at T1 set its traits (missing values: population means); its steady-state pain,
    education efficacy and placebo response are random effects (standard normal ``*_z`` over
    ``patient``). Likelihood per observed visit: reported pain as an integer 0-10 (rounded
    Normal around the agent's 7-day mean), TSK-11, PCS and Oswestry after T1 (beta-binomial
    sums on each instrument's integer range, overdispersed by the occasion noise), mind-brain
    attributions after T1 (Binomial of the coded causes). Whether a patient in an arm with uptake < 1 started treatment is unknown:
    the likelihood mixes the treated and untreated trajectories with the uptake probability.
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import normal_lcdf
    from pymc.math import logdiffexp
    from scipy.stats import qmc

    from ..cohorts import (
        entry_fluctuation,
        entry_state_pain,
        records_latent,
        response_traits,
        traits_from_baseline,
    )
    from .skeleton import SkeletonOp

    if data.level != "patient":
        raise ValidationError("data.level", data.level, "'patient' (records) for this model")
    priors = dict(DEFAULT_PRIORS if priors is None else priors)
    priors.setdefault("pain_sd", PATIENT_PAIN_SD_PRIOR)
    priors = validate_priors(priors)
    params = params or ModelParams()
    spec = spec or CohortSpec()
    rec = data.records
    keep = [str(v) for v in rec["visit"].values if str(v) not in UNTIMED_VISITS]
    rec = rec.sel(visit=keep)
    visits = tuple(
        Visit(name=str(v), day=int(d)) for v, d in zip(rec["visit"].values, rec["day"].values)
    )
    arms = tuple(data.arms)
    protocols = dict(data.protocols)
    grid = build_grid(protocols, visits, max_dt=max_dt)
    n_pat = rec.sizes["patient"]
    pat_arm = np.array([arms.index(str(a)) for a in rec["arm"].values])
    mix_arms = tuple(a for i, a in enumerate(arms) if grid.uptake[i] < 1.0)
    mix_idx = np.flatnonzero(np.isin(pat_arm, [arms.index(a) for a in mix_arms]))
    agent_pat = np.concatenate([np.arange(n_pat), mix_idx])  # patient of each agent
    agent_arm = pat_arm[agent_pat]
    treat = np.concatenate([np.ones(n_pat), np.zeros(len(mix_idx))])

    table = data.baseline_table(dropna=False)
    order = {int(p): k for k, p in enumerate(table["id"])}
    take = np.array([order[int(p)] for p in rec["patient"].values])

    base_values = {
        k: np.asarray(table[k], float)[take]
        for k in ("tsk11", "pcs", "odi", "attrib_mb", "chronicity")
    }
    u = (
        qmc.Sobol(N_UNIFORMS, scramble=True, seed=agent_seed)
        .random_base2(int(np.ceil(np.log2(n_pat))))[:n_pat]
        .T
    )
    std = standard_draws(u, spec)

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
        pvals = {f: theta.get(f, getattr(params, f)) for f in DynParams._fields}
        p_sym = DynParams(**pvals)
        sv = SimpleNamespace(
            **{
                f.name: theta.get(f.name, getattr(spec, f.name))
                for f in dataclasses.fields(CohortSpec)
                if f.name != "correlation"
            }
        )
        pain = pt.minimum(9.5, pt.maximum(0.5, sv.pain_mean + sv.pain_sd * pain_z))
        # The T1 questionnaires carry the selection excess the fluctuation has at the end of
        # the T1 day (missing ones: population means, see records_latent).
        t1_steps = next(v.day for v in visits if v.name == "t1") - grid.start_day + 1
        baseline = records_latent(
            base_values, sv, p_sym, entry_state_pain(sv.entry_shift, p_sym, t1_steps)
        )
        baseline["pain"] = pain
        resp_std = {
            "safety": std["safety"],
            "floor": std["floor"],
            "adherence": std["adherence"],
            "edu_z": edu_z,
            "placebo_z": placebo_z,
        }
        response = response_traits(resp_std, sv)
        fluct0 = entry_fluctuation(0.0 * pain, sv.entry_shift, p_sym)  # mean selection excess
        traits, init = traits_from_baseline(baseline, response, fluct0, p_sym)
        traits_m = pt.stack(
            [(pt.as_tensor_variable(t) * pt.ones(n_pat))[agent_pat] for t in traits]
        )
        init_m = pt.stack([(pt.as_tensor_variable(t) * pt.ones(n_pat))[agent_pat] for t in init])
        pvec = pt.stack(
            [pt.as_tensor_variable(pvals[f]).astype("float64") for f in DynParams._fields]
        )
        op = SkeletonOp(grid, agent_arm, treat)
        week, vstate, _ = op(traits_m, init_m, pvec, theta.get("self_guided_scale", 1.0))
        sd = report_noise_sd(params)

        # Log-likelihood of each agent's observations (agent x visit), masked where missing.
        y = np.nan_to_num(obs["pain_avg"][agent_pat], nan=0.0)
        has = ~np.isnan(obs["pain_avg"][agent_pat])
        hi_e = pt.where(y >= 10, 50.0, y + 0.5)
        lo_e = pt.where(y <= 0, -50.0, y - 0.5)
        ll_pain = logdiffexp(normal_lcdf(week, sd, hi_e), normal_lcdf(week, sd, lo_e))
        ll = pt.where(has, ll_pain, 0.0)
        fear, cat, avoid = questionnaire_readings(State(*[vstate[f] for f in range(7)]), p_sym)
        b = traits_m[0][:, None] * (1.0 - vstate[0])
        # Questionnaire sums as the simulator draws them: Binomial(n items-points, reading +
        # occasion noise), i.e. a beta-binomial whose overdispersion comes from item_noise_sd
        # and from the random part of the pain fluctuation the reading follows (stationary SD
        # fluct_sd); the likelihood lives on the instrument's own integer range.
        for name, latent_frac, n_pts, offset, scale in (
            ("tsk11", fear, 33, 11.0, 1.0),
            ("pcs", cat, 52, 0.0, 1.0),
            ("odi", avoid, 50, 0.0, 2.0),
        ):
            yv = obs[name][agent_pat]
            m_ = ~np.isnan(yv) & after_t1[None, :]
            k = np.clip(np.round((np.nan_to_num(yv, nan=offset) - offset) / scale), 0, n_pts)
            q = pt.clip(latent_frac, 0.01, 0.99)  # keeps the beta-binomial numerically finite
            loading = getattr(p_sym, f"{name}_pain_state")
            var = params.item_noise_sd**2 + (loading * params.fluct_sd) ** 2
            conc = pt.maximum(q * (1 - q) / pt.maximum(var, 1e-6) - 1.0, 2.0)
            bb = pm.BetaBinomial.dist(alpha=q * conc, beta=(1 - q) * conc, n=n_pts)
            llv = pm.logp(bb, k.astype(np.int64))
            ll = ll + pt.where(m_, llv, 0.0)
        if coded is not None:
            k = obs["attrib_mb"][agent_pat]
            n_c = coded[agent_pat]
            m_ = ~np.isnan(k) & (np.nan_to_num(n_c) > 0) & after_t1[None, :]
            p_mb = pt.clip(1.0 - b, 1e-6, 1 - 1e-6)
            llv = pm.logp(
                pm.Binomial.dist(np.nan_to_num(n_c).astype(np.int64), p_mb),
                np.nan_to_num(k).astype(np.int64),
            )
            ll = ll + pt.where(m_, llv, 0.0)
        per_agent = ll.sum(axis=1)
        total = per_agent[:n_pat]
        if len(mix_idx):
            up = np.array([grid.uptake[a] for a in pat_arm[mix_idx]])
            mixed = pm.math.logaddexp(
                np.log(up) + per_agent[:n_pat][mix_idx], np.log1p(-up) + per_agent[n_pat:]
            )
            total = pt.set_subtensor(total[mix_idx], mixed)
        pm.Potential("loglik", total.sum())
        pm.Deterministic("patient_loglik", total, dims="patient")
        by_arm = [np.flatnonzero(agent_arm[:n_pat] == a) for a in range(len(arms))]
        pm.Deterministic(
            "pred_pain_mean",
            pt.stack([week[:n_pat][i].mean(0) for i in by_arm]),
            dims=("arm", "visit"),
        )
        pm.Deterministic(
            "pred_belief", pt.stack([b[:n_pat][i].mean(0) for i in by_arm]), dims=("arm", "visit")
        )
    parts = PatientModelParts(model, visits, arms, priors, n_pat, op)
    parts.patients = rec["patient"].values
    parts.mixture_arms = mix_arms
    return parts
