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
from .priors import DEFAULT_PRIORS, Prior, validate_priors

__all__ = ["TrialModel", "SAMPLERS"]

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
    ) -> None:
        from ..data import TrialData

        if not isinstance(data, TrialData):
            raise ValidationError("data", type(data).__name__, "a prt_sim.data.TrialData")
        self.data = data
        self.priors = validate_priors(DEFAULT_PRIORS if priors is None else priors)
        self.params = params or ModelParams()
        self.spec = spec or CohortSpec()
        self.n_agents = check_int("n_agents", n_agents, 4, 4096)
        self.max_dt = check_int("max_dt", max_dt, 1, 60)
        self.agent_seed = check_seed(agent_seed, "agent_seed")
        self._parts = None

    # -- model ---------------------------------------------------------------------------------
    @property
    def parts(self):
        """The built model and its metadata (built on first use)."""
        if self._parts is None:
            from .model import build_arm_model

            self._parts = build_arm_model(
                self.data,
                priors=self.priors,
                params=self.params,
                spec=self.spec,
                n_agents=self.n_agents,
                max_dt=self.max_dt,
                agent_seed=self.agent_seed,
            )
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
            "spec": {k: v for k, v in self.spec.to_dict().items() if k != "correlation"},
            "n_agents": self.n_agents,
            "max_dt": self.max_dt,
            "agent_seed": self.agent_seed,
        }

    # -- fitting --------------------------------------------------------------------------------
    def fit(
        self,
        *,
        draws: int = 1000,
        tune: int = 500,
        chains: int = 4,
        cores: int = 2,
        sampler: str = "nutpie",
        seed: int = 0,
        target_accept: float = 0.8,
        mass_matrix: str = "low_rank",
        progress: bool = True,
    ):
        """Sample the posterior with NUTS.

        Parameters
        ----------
        draws, tune : int
            Draws kept and tuning draws per chain (1-100000, 0-100000).
        chains, cores : int
            Chains (1-64) and parallel workers (1-64).
        sampler : {"nutpie", "pymc"}
            nutpie (Rust NUTS, default) or PyMC's NUTS.
        seed : int
            Sampler seed.
        target_accept : float
            NUTS target acceptance, 0.5-0.999.
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
        tune = check_int("tune", tune, 0, 100_000)
        chains = check_int("chains", chains, 1, 64)
        cores = check_int("cores", cores, 1, 64)
        seed = check_seed(seed)
        if sampler not in SAMPLERS:
            raise ValidationError("sampler", sampler, f"one of {SAMPLERS}")
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
        """Convergence figures over the fitted parameters: max R-hat, min bulk and tail ESS,
        divergences, and whether R-hat <= 1.01, bulk ESS >= 400 and no divergences all hold."""
        import arviz as az

        names = [n for n in [*self.priors, "arm_offset_z"] if n in idata.posterior]
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
        post = idata.posterior.sel(chain=chain, draw=draw)
        pvals, svals, scale = {}, {}, 1.0
        for name, pr in self.priors.items():
            v = float(post[name])
            if pr.target == "params":
                pvals[name] = v
            elif pr.target == "spec":
                svals[name] = v
            else:
                scale = v
        params = self.params.replace(**pvals)
        spec = self.spec.replace(**svals)
        offsets = post["arm_pain_offset"]
        specs = {
            a: spec.replace(pain_mean=float(spec.pain_mean + offsets.sel(arm=a)))
            for a in self.data.arms
        }
        protocols = {a: _scale_self_guided(p, scale) for a, p in self.data.protocols.items()}
        return params, specs, protocols

    # -- posterior predictive with the full simulator --------------------------------------------
    def sample_posterior_predictive(
        self, idata, *, n_draws: int = 200, seed: int = 0, progress: bool = True
    ):
        """Replicate the trial with the full stochastic simulator under posterior draws.

        For ``n_draws`` posterior draws (evenly spaced over chains and draws), each arm is
        simulated with its randomized size, the trial's visit schedule and its observed
        response rate per visit (missing visits), and summarised like the published figures:
        mean pain and pain 0-1 share among observed patients, pain 0-1 count among all
        randomized (missing = not pain-free), TSK-11, PCS, Oswestry means and mind-brain share.

        Returns ``idata`` with a ``posterior_predictive`` group over
        ``(chain, draw, arm, visit)``.
        """
        n_draws = check_int("n_draws", n_draws, 1, 100_000)
        seed = check_seed(seed)
        post = idata.posterior
        total = post.sizes["chain"] * post.sizes["draw"]
        flat = np.linspace(0, total - 1, min(n_draws, total)).round().astype(int)
        chains = flat // post.sizes["draw"]
        draws = flat % post.sizes["draw"]
        visits, responses = self._ppc_visits()
        names = [v.name for v in visits] + list(self.data.composite_visits or {})
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
        out = {s: np.full((1, len(flat), len(self.data.arms), len(names)), np.nan) for s in stats}
        horizon = max(v.day for v in visits)
        it = range(len(flat))
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="posterior predictive (full simulator)", unit="draw")
        for k in it:
            params, specs, protocols = self.draw_inputs(idata, int(chains[k]), int(draws[k]))
            dseed = derive_key(seed, "ppc", int(flat[k])) % MAX_SEED
            for a, arm in enumerate(self.data.arms):
                n = int(self.data.n_randomized[arm])
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
                for j, name in enumerate(names):
                    for s, val in _arm_stats(
                        res.instruments, name, self.data.composite_visits or {}
                    ).items():
                        out[s][0, k, a, j] = val
        coords = {
            "chain": [0],
            "draw": np.arange(len(flat)),
            "arm": list(self.data.arms),
            "visit": names,
        }
        ds = xr.Dataset(
            {s: (("chain", "draw", "arm", "visit"), v) for s, v in out.items()}, coords=coords
        )
        ds = ds.assign_coords(
            source_chain=("draw", chains),
            source_draw=("draw", draws),
            day=("visit", [self._day(n) for n in names]),
        )
        ds.attrs.update(provenance("posterior_predictive", seed, {"n_draws": len(flat)}))
        if "posterior_predictive" in idata.groups():
            del idata.posterior_predictive
        idata.add_groups(posterior_predictive=ds)
        return idata

    def _day(self, name: str) -> int:
        return int(
            dict(self.data.visit_days).get(
                name, {v.name: v.day for v in self.parts.visits}.get(name, 0)
            )
        )

    def _ppc_visits(self):
        """The model's visits and, per arm, each visit's observed response rate."""
        s = self.data.summaries if self.data.level == "arm" else self.data.to_summaries()
        visits = self.parts.visits
        comp = self.data.composite_visits or {}
        responses = {}
        for arm in self.data.arms:
            n_rand = float(self.data.n_randomized[arm])
            r = {}
            for v in visits:
                name = v.name
                src = next((c for c, parts in comp.items() if name in parts), name)
                n = (
                    float(s["pain_avg_n"].sel(arm=arm, visit=src))
                    if src in s["visit"].values
                    else np.nan
                )
                r[name] = float(min(1.0, n / n_rand)) if np.isfinite(n) and n > 0 else 1.0
            responses[arm] = r
        return visits, responses

    def ppc_table(self, idata, *, level: float = 0.9) -> list[dict[str, Any]]:
        """Observed vs predicted per arm x visit: mean pain and pain 0-1 share (median and
        ``level`` interval of the posterior predictive), plus TSK-11 and PCS where observed."""
        pp = idata.posterior_predictive
        s = self.data.summaries if self.data.level == "arm" else self.data.to_summaries()
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        rows = []
        for arm in self.data.arms:
            for visit in [str(v) for v in s["visit"].values]:
                if visit not in pp["visit"].values:
                    continue
                row: dict[str, Any] = {
                    "arm": arm,
                    "visit": visit,
                    "day": int(s["day"].sel(visit=visit)),
                }
                pairs = [
                    ("pain_mean", "pain_avg_mean", 1.0),
                    ("tsk11_mean", "tsk11_mean", 1.0),
                    ("pcs_mean", "pcs_mean", 1.0),
                    ("odi_mean", "odi_mean", 1.0),
                ]
                for pred, obs, _ in pairs:
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
