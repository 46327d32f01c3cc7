"""``TrialModel``: fit the patient model to a trial, check it, and predict with it.

The constructor stores configuration only. ``fit`` builds the PyMC model (:func:`prt_sim.
inference.model.build_arm_model`) and samples it; ``sample_posterior_predictive`` runs the full
stochastic simulator under posterior draws for trial arms of the original size (so predictive
intervals include the sampling of patients, missing visits and measurement noise);
``save``/``load`` write netCDF with provenance.

>>> import prt_sim as ps                                          # doctest: +SKIP
>>> tm = ps.TrialModel(ps.data.published_ashar2022())
>>> idata = tm.fit(draws=1000, seed=1)
>>> tm.diagnostics(idata)
>>> idata = tm.sample_posterior_predictive(idata, n_draws=200, seed=1)
>>> tm.ppc_table(idata)
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..cohorts import Cohort, CohortSpec
from ..errors import ValidationError, check_int
from ..io import NETCDF_ENGINE, atomic_path, provenance, to_jsonable
from ..params import ModelParams
from ..protocols import Protocol, SelfGuided
from ..rng import MAX_SEED, check_seed, derive_key
from ..simulation import simulate
from ..timeline import Visit
from .priors import DEFAULT_PRIORS, PATIENT_PAIN_SD_PRIOR, Prior, validate_priors

__all__ = ["TrialModel", "SAMPLERS", "posterior_inputs", "trial_design", "spaced_draws"]

#: Samplers accepted by :meth:`TrialModel.fit`.
SAMPLERS = ("nutpie", "pymc")


class TrialModel:
    """Bayesian calibration of the patient model to arm-level trial data.

    Parameters
    ----------
    data : prt_sim.data.TrialData
        The trial (arm-level; patient-level data are summarised per arm).
    priors : dict of name -> Prior, optional
        Fitted parameters (default :data:`~prt_sim.inference.priors.DEFAULT_PRIORS`).
    params, spec : ModelParams, CohortSpec, optional
        Values of everything not fitted.
    n_agents : int
        Surrogate agents per arm, 4-4096 (default 32: quadrature error about 0.04 points in arm
        means and 0.02 in pain 0-1 shares against 2048 agents).
    max_dt : int
        Longest skeleton step in days where nothing happens, 1-60.
    agent_seed : int
        Scrambling seed of the surrogate agents' Sobol points.
    level : {"arm", "patient"}, optional
        Fit arm-level summaries (surrogate agents) or patient-level records (one agent per
        patient, per-patient random effects). Default: the data's level.
    """

    def __init__(
        self,
        data,
        *,
        priors: dict[str, Prior] | None = None,
        params: ModelParams | None = None,
        spec: CohortSpec | None = None,
        n_agents: int = 32,
        max_dt: int = 7,
        agent_seed: int = 0,
        level: str | None = None,
    ) -> None:
        from ..data import TrialData

        if not isinstance(data, TrialData):
            raise ValidationError("data", type(data).__name__, "a prt_sim.data.TrialData")
        self.data = data
        level = data.level if level is None else level
        if priors is None:
            priors = dict(DEFAULT_PRIORS)
            if level == "patient":  # per-patient steady pain: its spread is fitted too
                priors["pain_sd"] = PATIENT_PAIN_SD_PRIOR
        self.priors = validate_priors(priors)
        self.params = params or ModelParams()
        self.spec = spec or CohortSpec()
        self.n_agents = check_int("n_agents", n_agents, 4, 4096)
        self.max_dt = check_int("max_dt", max_dt, 1, 60)
        self.agent_seed = check_seed(agent_seed, "agent_seed")
        level = data.level if level is None else level
        if level not in ("arm", "patient"):
            raise ValidationError("level", level, "'arm' or 'patient'")
        if level == "patient" and data.level != "patient":
            raise ValidationError("level", level, "'arm' for arm-level data (no records)")
        self.level = level
        self._parts = None

    # -- model ---------------------------------------------------------------------------------
    @property
    def parts(self):
        """The built model and its metadata (built on first use)."""
        if self._parts is None:
            from .model import build_arm_model, build_patient_model

            common = dict(
                priors=self.priors,
                params=self.params,
                spec=self.spec,
                max_dt=self.max_dt,
                agent_seed=self.agent_seed,
            )
            if self.level == "patient":  # one agent per patient
                self._parts = build_patient_model(self.data, **common)
            else:
                self._parts = build_arm_model(self.data, n_agents=self.n_agents, **common)
        return self._parts

    @property
    def model(self):
        """The PyMC model."""
        return self.parts.model

    def config(self) -> dict[str, Any]:
        """JSON-serialisable configuration (stored in every result's attrs)."""
        return {
            "data_source": self.data.source,
            "arms": list(self.data.arms),
            "priors": {k: dataclasses.asdict(p) for k, p in self.priors.items()},
            "params": self.params.to_dict(),
            "spec": self.spec.to_dict(),
            "level": self.level,
            "n_agents": self.n_agents,
            "max_dt": self.max_dt,
            "agent_seed": self.agent_seed,
        }

    # -- fitting --------------------------------------------------------------------------------
    def fit(
        self,
        *,
        draws: int = 1000,
        tune: int | None = None,
        chains: int = 4,
        cores: int = 2,
        sampler: str = "nutpie",
        seed: int = 0,
        target_accept: float | None = None,
        mass_matrix: str = "low_rank",
        progress: bool = True,
    ):
        """Sample the posterior with NUTS.

        Parameters
        ----------
        draws : int
            Draws kept per chain, 1-100000.
        tune : int, optional
            Tuning draws per chain, 0-100000. Default 500 (arm level: R-hat 1.00, bulk ESS
            1089-1344 and no divergences on seeds 1 and 2 in 43-45 s, measured; with 300, seeds 2
            and 3 reached R-hat 1.01 only).
        chains, cores : int
            Chains (1-64) and parallel workers (1-64).
        sampler : {"nutpie", "pymc"}
            nutpie (Rust NUTS, default) or PyMC's NUTS.
        seed : int
            Sampler seed.
        target_accept : float, optional
            NUTS target acceptance, 0.5-0.999 (default 0.8 at arm level; 0.85 at patient level,
            measured on the public data: no divergences, R-hat 1.01, 33 leapfrog steps per draw
            and 468 s, against 62 steps and 884 s at 0.95).
        mass_matrix : {"low_rank", "diag"}
            nutpie's low-rank-modified mass matrix (default: it follows the correlation between
            education and exposure efficacy; 9 leapfrog steps per draw instead of 16 on the
            published data) or a diagonal one. PyMC's sampler always adapts a diagonal one.
        progress : bool
            Show the sampler's progress.

        Returns
        -------
        arviz.InferenceData
            ``posterior`` (parameters and arm-level predictions ``pred_*`` over ``arm`` x
            ``visit``), ``sample_stats``, ``observed_data``; attrs hold provenance, the sampler,
            the wall time and the convergence diagnostics.
        """
        import pymc as pm

        draws = check_int("draws", draws, 1, 100_000)
        if tune is None:
            tune = 500
        tune = check_int("tune", tune, 0, 100_000)
        chains = check_int("chains", chains, 1, 64)
        cores = check_int("cores", cores, 1, 64)
        seed = check_seed(seed)
        if sampler not in SAMPLERS:
            raise ValidationError("sampler", sampler, f"one of {SAMPLERS}")
        if target_accept is None:
            target_accept = 0.85 if self.level == "patient" else 0.8
        if not (0.5 <= target_accept < 1.0):
            raise ValidationError("target_accept", target_accept, "a number in [0.5, 1)")
        if mass_matrix not in ("low_rank", "diag"):
            raise ValidationError("mass_matrix", mass_matrix, "'low_rank' or 'diag'")
        t0 = time.perf_counter()
        model = self.model
        kwargs = dict(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            random_seed=seed,
            progressbar=progress,
            compute_convergence_checks=False,
        )
        with model:
            if sampler == "nutpie":
                from .nutpie_cache import cached_compile

                with cached_compile():  # the compiled model is reused across processes
                    idata = pm.sample(
                        nuts_sampler="nutpie",
                        target_accept=target_accept,
                        nuts_sampler_kwargs={
                            "low_rank_modified_mass_matrix": mass_matrix == "low_rank"
                        },
                        **kwargs,
                    )
            else:
                idata = pm.sample(target_accept=target_accept, **kwargs)
        wall = time.perf_counter() - t0
        diag = self.diagnostics(idata)
        attrs = provenance("fit", seed, self.config())
        attrs.update(
            design=json.dumps(to_jsonable(trial_design(self.data))),
            target_accept=target_accept,
            sampler=sampler,
            draws=draws,
            tune=tune,
            chains=chains,
            wall_time_s=round(wall, 2),
            diagnostics=json.dumps(to_jsonable(diag)),
        )
        idata.attrs.update(attrs)
        for g in idata.groups():
            idata[g].attrs.update(attrs)
        return idata

    def diagnostics(self, idata) -> dict[str, Any]:
        """Convergence over every free variable (population parameters, arm offsets, per-patient
        random effects): max R-hat, min bulk and tail ESS, divergences, and whether R-hat <= 1.01,
        bulk ESS >= 400 and no divergences all hold."""
        import arviz as az

        names = [v.name for v in self.model.free_RVs if v.name in idata.posterior]
        summ = az.summary(idata, var_names=names, kind="diagnostics")
        div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
        out = {
            "max_rhat": float(summ["r_hat"].max()),
            "min_ess_bulk": float(summ["ess_bulk"].min()),
            "min_ess_tail": float(summ["ess_tail"].min()),
            "divergences": div,
            "chains": int(idata.posterior.sizes["chain"]),
            "draws": int(idata.posterior.sizes["draw"]),
            "worst_rhat": str(summ["r_hat"].idxmax()),
            "worst_ess": str(summ["ess_bulk"].idxmin()),
        }
        out["converged"] = bool(out["max_rhat"] <= 1.01 and out["min_ess_bulk"] >= 400 and div == 0)
        return out

    # -- posterior draws as simulator inputs ---------------------------------------------------
    def draw_inputs(self, idata, chain: int, draw: int):
        """Simulator inputs of one posterior draw: (ModelParams, CohortSpec per arm, protocols)."""
        flat = np.array([chain * idata.posterior.sizes["draw"] + draw])
        [(params, specs, scale)] = posterior_inputs(
            idata, flat, priors=self.priors, params=self.params, spec=self.spec
        )
        protocols = {a: _scale_self_guided(p, scale) for a, p in self.data.protocols.items()}
        return params, specs, protocols

    def sample_prior(self, *, draws: int = 500, seed: int = 0):
        """Draws from the prior, as InferenceData with a ``prior`` group over ``(chain, draw)``
        (one chain) and ``arm``: the fitted parameters and the arms' baseline pain offsets.

        For prior predictive checks and forecasts before fitting
        (``forecast(..., group="prior")``). Attrs carry the configuration and trial design
        like a fit's.
        """
        import arviz as az

        draws = check_int("draws", draws, 1, 1_000_000)
        seed = check_seed(seed)
        rng = np.random.default_rng(derive_key(seed, "prior"))
        values = {n: pr.draw(rng, draws)[None, :] for n, pr in self.priors.items()}
        pain_sd = values["pain_sd"][0] if "pain_sd" in values else self.spec.pain_sd
        n_rand = np.array([self.data.n_randomized[a] for a in self.data.arms], dtype=float)
        z = rng.standard_normal((draws, len(n_rand)))
        values["arm_pain_offset"] = (z * np.reshape(pain_sd, (-1, 1)) / np.sqrt(n_rand))[None]
        coords = {"chain": [0], "draw": np.arange(draws), "arm": list(self.data.arms)}
        ds = xr.Dataset(
            {
                n: (("chain", "draw", "arm") if v.ndim == 3 else ("chain", "draw"), v)
                for n, v in values.items()
            },
            coords=coords,
        )
        attrs = provenance("prior", seed, self.config())
        attrs["design"] = json.dumps(to_jsonable(trial_design(self.data)))
        ds.attrs.update(attrs)
        idata = az.InferenceData(prior=ds)
        idata.attrs.update(attrs)
        return idata

    def forecast(self, idata, protocols=None, **kwargs):
        """Forecast durability under posterior draws: :func:`prt_sim.forecasting.forecast`
        with this model's data and configuration."""
        from ..forecasting import forecast

        return forecast(idata, protocols, model=self, **kwargs)

    # -- posterior predictive with the full simulator --------------------------------------------
    def _replicates(self, idata, n_draws: int, seed: int, data, progress: bool, desc: str):
        """Yield (k, chain, draw, arm, SimulationResult) for trial replicates under posterior
        draws: each arm at its randomized size, on ``data``'s visits and response rates."""
        post = idata.posterior
        total = post.sizes["chain"] * post.sizes["draw"]
        flat = spaced_draws(total, n_draws)
        chains, draws = flat // post.sizes["draw"], flat % post.sizes["draw"]
        visits, responses = _ppc_visits(data)
        horizon = max(v.day for v in visits)
        it = range(len(flat))
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=desc, unit="draw")
        for k in it:
            params, specs, protocols = self.draw_inputs(idata, int(chains[k]), int(draws[k]))
            dseed = derive_key(seed, "ppc", int(flat[k])) % MAX_SEED
            for a, arm in enumerate(data.arms):
                n = int(data.n_randomized[arm])
                cohort = Cohort.from_trial_baseline(
                    n, seed=dseed, spec=specs[arm], params=params, id_offset=a * 10**6
                )
                arm_visits = tuple(
                    Visit(name=v.name, day=v.day, response=responses[arm][v.name]) for v in visits
                )
                res = simulate(
                    cohort,
                    protocols[arm],
                    horizon_days=horizon,
                    seed=dseed,
                    params=params,
                    visits=arm_visits,
                    record="instruments",
                )
                yield k, int(chains[k]), int(draws[k]), a, res

    def sample_posterior_predictive(
        self, idata, *, n_draws: int = 200, seed: int = 0, data=None, progress: bool = True
    ):
        """Replicate the trial with the full stochastic simulator under posterior draws.

        For ``n_draws`` posterior draws (evenly spaced over chains and draws), each arm is
        simulated with its randomized size, the trial's visit schedule and its observed
        response rate per visit (missing visits), and summarised like the published figures:
        mean pain and pain 0-1 share among observed patients, pain 0-1 count among all
        randomized (missing = not pain-free), TSK-11, PCS, Oswestry means and mind-brain share.

        Parameters
        ----------
        idata : arviz.InferenceData
            A fit of this model.
        n_draws : int
            Posterior draws to replicate, 1-100000.
        seed : int
            Seed of the replicates (same seed, same result).
        data : TrialData, optional
            Trial whose arms, visits and response rates the replicates follow (default: the
            fitted data; pass the full trial to predict visits held out of the fit).
        progress : bool
            Show a progress bar.

        Returns
        -------
        arviz.InferenceData
            ``idata`` with a ``posterior_predictive`` group over ``(chain, draw, arm, visit)``.
        """
        n_draws = check_int("n_draws", n_draws, 1, 100_000)
        seed = check_seed(seed)
        data = self.data if data is None else data
        comp = data.composite_visits or {}
        visits, _ = _ppc_visits(data)
        names = [v.name for v in visits] + [c for c in comp if c not in {v.name for v in visits}]
        stats = (
            "pain_mean",
            "pain_sd",
            "pain_free_share",
            "pain_free_itt",
            "tsk11_mean",
            "pcs_mean",
            "odi_mean",
            "mind_brain_share",
        )
        post = idata.posterior
        n_rep = min(n_draws, post.sizes["chain"] * post.sizes["draw"])
        out = {s: np.full((1, n_rep, len(data.arms), len(names)), np.nan) for s in stats}
        src = np.zeros((2, n_rep), dtype=int)
        for k, c, d, a, res in self._replicates(
            idata, n_draws, seed, data, progress, "posterior predictive (full simulator)"
        ):
            src[:, k] = c, d
            for j, name in enumerate(names):
                for st, val in _arm_stats(res.instruments, name, comp).items():
                    out[st][0, k, a, j] = val
        days = dict(data.visit_days) | {v.name: v.day for v in visits}
        coords = {"chain": [0], "draw": np.arange(n_rep), "arm": list(data.arms), "visit": names}
        ds = xr.Dataset(
            {s: (("chain", "draw", "arm", "visit"), v) for s, v in out.items()}, coords=coords
        )
        ds = ds.assign_coords(
            source_chain=("draw", src[0]),
            source_draw=("draw", src[1]),
            day=("visit", [int(days[n]) for n in names]),
        )
        ds.attrs.update(
            provenance("posterior_predictive", seed, {"n_draws": n_rep, "data_source": data.source})
        )
        if "posterior_predictive" in idata.groups():
            del idata.posterior_predictive
        idata.add_groups(posterior_predictive=ds)
        return idata

    def ppc_table(self, idata, *, data=None, level: float = 0.9) -> list[dict[str, Any]]:
        """Observed vs predicted per arm x visit: mean pain and pain 0-1 share (median and
        ``level`` interval of the posterior predictive), plus TSK-11, PCS and Oswestry where
        observed. ``data`` is the trial to compare with (default: the fitted data)."""
        data = self.data if data is None else data
        pp = idata.posterior_predictive
        s = data.summaries if data.level == "arm" else data.to_summaries()
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        rows = []
        for arm in data.arms:
            for visit in [str(v) for v in s["visit"].values]:
                if visit not in pp["visit"].values:
                    continue
                row: dict[str, Any] = {
                    "arm": arm,
                    "visit": visit,
                    "day": int(s["day"].sel(visit=visit)),
                }
                for pred, obs in (
                    ("pain_mean", "pain_avg_mean"),
                    ("tsk11_mean", "tsk11_mean"),
                    ("pcs_mean", "pcs_mean"),
                    ("odi_mean", "odi_mean"),
                ):
                    o = float(s[obs].sel(arm=arm, visit=visit)) if obs in s else np.nan
                    if np.isfinite(o):
                        row[pred] = _interval(pp[pred].sel(arm=arm, visit=visit), o, lo_q, hi_q)
                k = float(s["pain_free_k"].sel(arm=arm, visit=visit))
                if np.isfinite(k):
                    n_obs = float(s["pain_free_n_observed"].sel(arm=arm, visit=visit))
                    n_rand = float(s["pain_free_n_randomized"].sel(arm=arm, visit=visit))
                    row["pain_free_share"] = _interval(
                        pp["pain_free_share"].sel(arm=arm, visit=visit), k / n_obs, lo_q, hi_q
                    )
                    row["pain_free_itt"] = _interval(
                        pp["pain_free_itt"].sel(arm=arm, visit=visit), k / n_rand, lo_q, hi_q
                    )
                if len(row) > 3:
                    rows.append(row)
        return rows

    def mediation(
        self,
        idata,
        *,
        n_draws: int = 100,
        seed: int = 0,
        treated: str = "prt",
        control: str = "usual_care",
        visit: str = "post",
        data=None,
        progress: bool = True,
    ) -> dict[str, Any]:
        """How much of the treatment's effect on pain the posterior routes through fear and
        attributions, read off trial replicates as the paper analysed the real trial.

        For each posterior draw, the treated and control arms are simulated (full simulator)
        and a product-of-coefficients mediation is computed on the replicate's patients: the
        treatment's effect on the change in the mediator (T1 to ``visit``) times the mediator's
        effect on the change in pain adjusting for treatment, over the total effect. Mediators:
        TSK-11 change and the change in mind-brain attributions. Also the within-treated
        correlation of TSK-11 change with pain change (the trial: r = 0.44).

        Returns medians and 90% intervals over draws.
        """
        data = self.data if data is None else data
        arms = list(data.arms)
        if treated not in arms or control not in arms:
            raise ValidationError("mediation.arms", (treated, control), f"arms among {arms}")
        sub = data.subset(arms=[treated, control])
        recs: dict[int, dict[str, Any]] = {}
        for k, _, _, a, res in self._replicates(
            idata, n_draws, seed, sub, progress, "mediation (full simulator)"
        ):
            recs.setdefault(k, {})[sub.arms[a]] = res.instruments
        est = {
            "total_effect": [],
            "indirect_tsk": [],
            "indirect_mb": [],
            "proportion_tsk": [],
            "proportion_mb": [],
            "r_tsk_pain_treated": [],
        }
        for per_arm in recs.values():
            r = _mediation_one(per_arm[treated], per_arm[control], visit)
            for key in est:
                est[key].append(r[key])
        out = {}
        for key, vals in est.items():
            v = np.asarray(vals, float)
            v = v[np.isfinite(v)]
            out[key] = (
                {
                    "median": float(np.median(v)),
                    "lo90": float(np.quantile(v, 0.05)),
                    "hi90": float(np.quantile(v, 0.95)),
                }
                if v.size
                else None
            )
        out["n_draws"] = len(recs)
        return out

    # -- persistence ------------------------------------------------------------------------------
    @staticmethod
    def save(idata, path: str | os.PathLike) -> Path:
        """Save InferenceData to netCDF atomically (all groups, attrs with provenance)."""
        path = Path(path)
        with atomic_path(path, suffix=".nc") as tmp:
            idata.to_netcdf(str(tmp), engine=NETCDF_ENGINE)
        return path

    @staticmethod
    def load(path: str | os.PathLike):
        """Load InferenceData written by :meth:`save` (fully into memory)."""
        import arviz as az

        idata = az.from_netcdf(str(path), engine=NETCDF_ENGINE)
        idata.load()
        return idata


def spaced_draws(total: int, n: int) -> np.ndarray:
    """``min(n, total)`` flat draw indices evenly spaced over ``total`` (chains x draws)."""
    return np.linspace(0, total - 1, min(n, total)).round().astype(int)


def posterior_inputs(
    idata,
    flat: np.ndarray,
    *,
    priors: dict[str, Prior] | None = None,
    params: ModelParams | None = None,
    spec: CohortSpec | None = None,
    group: str = "posterior",
) -> list[tuple[ModelParams, dict[str, CohortSpec], float]]:
    """Simulator inputs of posterior draws: ``(ModelParams, {arm: CohortSpec}, self-guided
    scale)`` for each flat (chain-major) draw index in ``flat``.

    The fitted configuration (priors, fixed parameters, cohort spec) is read from
    ``idata.attrs["config"]`` unless given; ``group`` is "posterior" or "prior"
    (:meth:`TrialModel.sample_prior`).
    """
    if "config" not in idata.attrs and (priors is None or params is None or spec is None):
        raise ValidationError(
            "idata.attrs['config']", None, "InferenceData from TrialModel.fit or sample_prior"
        )
    config = json.loads(idata.attrs["config"]) if "config" in idata.attrs else {}
    if priors is None:
        priors = validate_priors({k: Prior(**v) for k, v in config["priors"].items()})
    if params is None:
        params = ModelParams.from_dict(config["params"])
    if spec is None:
        s = dict(config["spec"])
        if "correlation" in s:
            s["correlation"] = tuple(tuple(r) for r in s["correlation"])
        spec = CohortSpec.from_dict(s)
    post = idata[group]
    flat = np.asarray(flat, dtype=int)
    vals = {n: post[n].transpose("chain", "draw").values.reshape(-1)[flat] for n in priors}
    arms = (
        [str(a) for a in post["arm"].values]
        if "arm" in post.coords
        else list(json.loads(idata.attrs["design"])["arms"])
    )
    if "arm_pain_offset" in post:
        off = post["arm_pain_offset"].transpose("chain", "draw", "arm").values
        off = off.reshape(-1, len(arms))[flat]
    else:  # patient-level fits: the records carry each arm's baseline; replicates get none
        off = np.zeros((len(flat), len(arms)))
    out = []
    for k in range(len(flat)):
        pvals = {n: float(vals[n][k]) for n, pr in priors.items() if pr.target == "params"}
        svals = {n: float(vals[n][k]) for n, pr in priors.items() if pr.target == "spec"}
        scale = [float(vals[n][k]) for n, pr in priors.items() if pr.target == "protocol"]
        sp = spec.replace(**svals)
        specs = {
            a: sp.replace(pain_mean=float(sp.pain_mean + off[k, j])) for j, a in enumerate(arms)
        }
        out.append((params.replace(**pvals), specs, scale[0] if scale else 1.0))
    return out


def trial_design(data) -> dict[str, Any]:
    """What predictions need to know about a trial, as JSON: arms, protocols, randomized n,
    visit days and each visit's observed response rate per arm (stored in fit attrs)."""
    visits, responses = _ppc_visits(data)
    return {
        "arms": list(data.arms),
        "protocols": {a: p.to_dict() for a, p in data.protocols.items()},
        "n_randomized": {a: int(n) for a, n in data.n_randomized.items()},
        "visit_days": {v.name: int(v.day) for v in visits},
        "responses": responses,
        "source": data.source,
    }


def _interval(da: xr.DataArray, observed: float, lo_q: float, hi_q: float) -> dict[str, float]:
    v = np.asarray(da).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {
            "observed": observed,
            "median": np.nan,
            "lo90": np.nan,
            "hi90": np.nan,
            "inside": False,
        }
    lo, med, hi = np.quantile(v, [lo_q, 0.5, hi_q])
    return {
        "observed": float(observed),
        "median": float(med),
        "lo90": float(lo),
        "hi90": float(hi),
        "inside": bool(lo <= observed <= hi),
    }


def _scale_self_guided(p: Protocol, scale: float) -> Protocol:
    if not p.self_guided or scale == 1.0:
        return p
    sg = tuple(
        SelfGuided(
            start_day=s.start_day,
            daily_dose=min(1.0, s.daily_dose * scale),
            half_life=s.half_life,
            end_day=s.end_day,
        )
        for s in p.self_guided
    )
    return p.replace(self_guided=sg)


def _arm_stats(ins: xr.Dataset, visit: str, composite: dict) -> dict[str, float]:
    """Published-style summaries of one simulated arm at one (possibly composite) visit."""
    parts = composite.get(visit, (visit,))
    pain = np.mean([ins["pain_avg"].sel(visit=p).values for p in parts], axis=0)
    obs = np.isfinite(pain)
    n = len(pain)
    out = {
        "pain_mean": float(np.mean(pain[obs])) if obs.any() else np.nan,
        "pain_sd": float(np.std(pain[obs], ddof=1)) if obs.sum() > 1 else np.nan,
        "pain_free_share": float(np.mean(pain[obs] <= 1)) if obs.any() else np.nan,
        "pain_free_itt": float(np.sum(pain[obs] <= 1) / n),
    }
    for stat, var, scale in (
        ("tsk11_mean", "tsk11", 1.0),
        ("pcs_mean", "pcs", 1.0),
        ("odi_mean", "odi", 1.0),
        ("mind_brain_share", "attrib_mb", 1 / 3),
    ):
        vals = np.mean([ins[var].sel(visit=p).values for p in parts], axis=0)
        ok = np.isfinite(vals)
        out[stat] = float(np.mean(vals[ok]) * scale) if ok.any() else np.nan
    return out


def _ppc_visits(data):
    """The visits replicates must observe (composite parts included) and, per arm, each
    visit's observed response rate (n observed / n randomized)."""
    from ..timeline import trial_visits

    s = data.summaries if data.level == "arm" else data.to_summaries()
    comp = data.composite_visits or {}
    named = {v.name: v.day for v in trial_visits()}
    days = dict(data.visit_days)
    needed: dict[str, int] = {}
    for v in [str(x) for x in s["visit"].values]:
        for part in comp.get(v, (v,)):
            needed[part] = int(named[part] if part in named else days[part])
    visits = tuple(Visit(name=n, day=d) for n, d in sorted(needed.items(), key=lambda kv: kv[1]))
    responses = {}
    for arm in data.arms:
        n_rand = float(data.n_randomized[arm])
        r = {}
        for v in visits:
            src = next((c for c, parts in comp.items() if v.name in parts), v.name)
            n = (
                float(s["pain_avg_n"].sel(arm=arm, visit=src))
                if src in s["visit"].values
                else np.nan
            )
            r[v.name] = float(min(1.0, n / n_rand)) if np.isfinite(n) and n > 0 else 1.0
        responses[arm] = r
    return visits, responses


def _mediation_one(treated: xr.Dataset, control: xr.Dataset, visit: str) -> dict[str, float]:
    """Product-of-coefficients mediation on one replicate (T1 to ``visit`` changes)."""

    def changes(ins):
        d = {}
        for var in ("pain_avg", "tsk11", "attrib_mb"):
            d[var] = ins[var].sel(visit=visit).values - ins[var].sel(visit="t1").values
        return d

    ct, cc = changes(treated), changes(control)
    x = np.concatenate([np.ones(len(ct["pain_avg"])), np.zeros(len(cc["pain_avg"]))])
    y = np.concatenate([ct["pain_avg"], cc["pain_avg"]])
    out = {}
    ok_y = np.isfinite(y)
    total = np.nanmean(ct["pain_avg"]) - np.nanmean(cc["pain_avg"])
    out["total_effect"] = total
    for name, var in (("tsk", "tsk11"), ("mb", "attrib_mb")):
        m = np.concatenate([ct[var], cc[var]])
        ok = ok_y & np.isfinite(m)
        if ok.sum() < 10 or np.std(m[ok]) == 0:
            out[f"indirect_{name}"] = out[f"proportion_{name}"] = np.nan
            continue
        a = np.mean(m[ok & (x == 1)]) - np.mean(m[ok & (x == 0)])
        design = np.column_stack([np.ones(ok.sum()), x[ok], m[ok]])
        coef = np.linalg.lstsq(design, y[ok], rcond=None)[0]
        out[f"indirect_{name}"] = a * coef[2]
        out[f"proportion_{name}"] = a * coef[2] / total if total != 0 else np.nan
    ok = np.isfinite(ct["pain_avg"]) & np.isfinite(ct["tsk11"])
    out["r_tsk_pain_treated"] = (
        float(np.corrcoef(ct["tsk11"][ok], ct["pain_avg"][ok])[0, 1]) if ok.sum() > 2 else np.nan
    )
    return out
