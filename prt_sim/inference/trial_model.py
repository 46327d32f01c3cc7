"""``TrialModel``: fit the patient model to a trial, check it, predict with it, save and load it.

The constructor stores configuration only (its arguments, validated; :meth:`TrialModel.config`
is derived from its signature). ``fit`` builds the PyMC model (the arm-level model of
:mod:`prt_sim.inference.arm_model` or the patient-level one of
:mod:`prt_sim.inference.patient_model`) and samples it; ``sample_posterior_predictive``,
``ppc_table`` and ``mediation`` run the checks of :mod:`prt_sim.inference.checks`; ``forecast``
runs :func:`prt_sim.forecasting.forecast`; ``save``/``load`` write and read netCDF with
provenance, and ``load`` refuses a fit made by another version or configuration.

>>> import prt_sim as ps                                          # doctest: +SKIP
>>> tm = ps.TrialModel(ps.data.published_ashar2022())
>>> idata = tm.fit(draws=1000, seed=1)
>>> tm.diagnostics(idata)
>>> idata = tm.sample_posterior_predictive(idata, n_draws=200, seed=1)
>>> tm.ppc_table(idata)
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._version import current_fingerprint
from ..errors import DataFormatError, DifferentModelError, ValidationError, check_int
from ..io import (
    NETCDF_ENGINE,
    atomic_path,
    config_hash,
    open_result,
    provenance,
    same_model,
    to_jsonable,
)
from ..model.cohorts import CohortSpec
from ..model.params import ModelParams
from ..model.rng import check_seed, derive_key
from ..model.spec import Validated
from . import checks
from .posterior import posterior_inputs, scale_self_guided, spaced_draws, trial_design
from .priors import Prior, mechanism_priors, validate_priors

__all__ = ["TrialModel", "SAMPLERS"]

#: Samplers accepted by :meth:`TrialModel.fit`.
SAMPLERS = ("nutpie", "pymc")
_KIND = "fit"


class TrialModel:
    """Bayesian calibration of the patient model to a trial's data.

    Parameters
    ----------
    data : prt_sim.data.TrialData
        The trial: arm-level summaries or patient-level records.
    priors : dict of name -> Prior, optional
        Fitted parameters (default :data:`~prt_sim.inference.priors.DEFAULT_PRIORS`, plus
        ``pain_sd`` at patient level).
    params, spec : ModelParams, CohortSpec, optional
        Values of everything not fitted.
    n_agents : int
        Surrogate agents per arm at arm level, 4-4096 (default 32: quadrature error about 0.04
        points in arm means and 0.02 in pain 0-1 shares against 2048 agents).
    max_dt : int
        Longest skeleton step in days where nothing happens, 1-60.
    agent_seed : int
        Scrambling seed of the surrogate agents' Sobol points.
    level : {"arm", "patient"}, optional
        Fit arm-level summaries (surrogate agents) or patient-level records (one agent per
        patient, per-patient random effects). Default: the data's level.
    mechanism : str
        The memory mechanism (:mod:`prt_sim.model.mechanisms`): "inhibition" (default),
        "consolidation", "schema_update", "fear_mediated", or a combination joined by "+". It
        sets ``params`` (:meth:`~prt_sim.model.mechanisms.Mechanism.params`) and the default
        priors (:func:`~prt_sim.inference.priors.mechanism_priors`); forecasts and checks of
        the fit follow it.
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
        mechanism: str = "inhibition",
    ) -> None:
        from ..data import TrialData
        from ..model.mechanisms import mechanism as _mechanism

        if not isinstance(data, TrialData):
            raise ValidationError("data", type(data).__name__, "a prt_sim.data.TrialData")
        level = data.level if level is None else level
        if level not in ("arm", "patient"):
            raise ValidationError("level", level, "'arm' or 'patient'")
        if level == "patient" and data.level != "patient":
            raise ValidationError("level", level, "'arm' for arm-level data (no records)")
        mech = _mechanism(mechanism)
        self.data = data
        if priors is None and level == "patient":
            from .patient_model import patient_priors

            self.priors = validate_priors(patient_priors(data, mech))
        else:
            self.priors = validate_priors(mechanism_priors(mech, priors, level=level))
        self.params = params or ModelParams()
        self.spec = spec or CohortSpec()
        for name, value, cls in (
            ("params", self.params, ModelParams),
            ("spec", self.spec, CohortSpec),
        ):
            if not isinstance(value, cls):
                raise ValidationError(name, type(value).__name__, f"a prt_sim.{cls.__name__}")
        default = ModelParams()
        for name, value in mech.fixed.items():
            given = getattr(self.params, name)
            if given not in (value, getattr(default, name)):
                raise ValidationError(
                    f"params.{name}", given, f"{value:g} under the {mech.name!r} mechanism"
                )
        if level == "arm":  # refused before any work, as build_arm_model would
            from .arm_model import check_no_variability_spread

            check_no_variability_spread(self.spec, self.priors)
        self.params = mech.params(self.params)
        self.mechanism = mech.name
        self.n_agents = check_int("n_agents", n_agents, 4, 4096)
        self.max_dt = check_int("max_dt", max_dt, 1, 60)
        self.agent_seed = check_seed(agent_seed, "agent_seed")
        self.level = level
        self._parts = None

    def __repr__(self) -> str:
        return (
            f"TrialModel(level={self.level!r}, mechanism={self.mechanism!r}, "
            f"arms={list(self.data.arms)}, "
            f"fitted={list(self.priors)}, data={self.data.source!r})"
        )

    # -- configuration ---------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-serialisable configuration: every constructor argument, as stored (stored in
        every result's attrs; :meth:`load` compares its hash)."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        cfg = to_jsonable({name: _config_value(getattr(self, name)) for name in names})
        # The visits' modes matter only to a model with a survey offset: recorded then, so a
        # fit made before modes existed (no offset) still matches its data.
        if "survey_offset" in self.priors or self.params.survey_offset != 0.0:
            cfg["data"]["survey_visits"] = [v.name for v in self.data.visits if v.mode == "survey"]
        return cfg

    def config_hash(self) -> str:
        """Hash of :meth:`config` (16 hex digits)."""
        return config_hash(self.config())

    # -- model ---------------------------------------------------------------------------------
    @property
    def parts(self):
        """The built model and its metadata (built on first use)."""
        if self._parts is None:
            common = dict(
                priors=self.priors,
                params=self.params,
                spec=self.spec,
                max_dt=self.max_dt,
                agent_seed=self.agent_seed,
            )
            if self.level == "patient":  # one agent per patient
                from .patient_model import build_patient_model

                self._parts = build_patient_model(self.data, **common)
            else:
                from .arm_model import build_arm_model

                self._parts = build_arm_model(self.data, n_agents=self.n_agents, **common)
        return self._parts

    @property
    def model(self):
        """The PyMC model."""
        return self.parts.model

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
        progress: bool | str = True,
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
            Sampler seed: the same seed gives the same draws, whatever the state of the compile
            caches.
        target_accept : float, optional
            NUTS target acceptance, 0.5-0.999 (default 0.8 at arm level; 0.85 at patient level,
            measured on the public data: no divergences, R-hat 1.01, 33 leapfrog steps per draw
            and 468 s, against 62 steps and 884 s at 0.95).
        mass_matrix : {"low_rank", "diag"}
            nutpie's low-rank-modified mass matrix (default: it follows the correlation between
            education and exposure efficacy; 9 leapfrog steps per draw instead of 16 on the
            published data) or a diagonal one. PyMC's sampler always adapts a diagonal one.
        progress : bool or {"bar", "lines", "none"}
            Progress: True shows nutpie's bar on a terminal and writes a line every few seconds
            (draws done, divergences, time left) when the output is not a terminal, as in logs.

        Returns
        -------
        arviz.InferenceData
            ``posterior`` (parameters and arm-level predictions ``pred_*`` over ``arm`` x
            ``visit``), ``sample_stats``, ``observed_data``; attrs hold provenance (version,
            configuration and its hash, seed), the trial design, the sampler, the wall time and
            the convergence diagnostics.
        """
        from .sampler import sample

        draws = check_int("draws", draws, 1, 100_000)
        tune = check_int("tune", 500 if tune is None else tune, 0, 100_000)
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
        idata = sample(
            self.model,
            sampler=sampler,
            progress=progress,
            nuts_sampler_kwargs={"low_rank_modified_mass_matrix": mass_matrix == "low_rank"},
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            random_seed=seed,
            target_accept=target_accept,
            compute_convergence_checks=False,
        )
        wall = time.perf_counter() - t0
        diag = self.diagnostics(idata)
        attrs = provenance(_KIND, seed, self.config())
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
        bulk ESS >= 400 and no divergences all hold. R-hat and ESS are not rounded (ArviZ's
        summary shows R-hat to two decimals, which would pass 1.0149 as 1.01)."""
        import arviz as az

        names = [v.name for v in self.model.free_RVs if v.name in idata.posterior]
        summ = az.summary(idata, var_names=names, kind="diagnostics", round_to="none")
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
        protocols = {a: scale_self_guided(p, scale) for a, p in self.data.protocols.items()}
        return params, specs, protocols

    def sample_prior(self, *, draws: int = 500, seed: int = 0):
        """Draws from the prior, as InferenceData with a ``prior`` group over ``(chain, draw)``
        (one chain) and ``arm``: the fitted parameters and, at arm level, the arms' baseline
        pain offsets (patient records carry their own baseline).

        For prior predictive checks and forecasts before fitting
        (``forecast(..., group="prior")``, ``forecast_patient(..., group="prior")``). Attrs carry the configuration and trial design
        like a fit's.
        """
        import arviz as az

        draws = check_int("draws", draws, 1, 1_000_000)
        seed = check_seed(seed)
        rng = np.random.default_rng(derive_key(seed, "prior"))
        values = {n: pr.draw(rng, draws)[None, :] for n, pr in self.priors.items()}
        if self.level == "arm":  # at patient level the records carry each arm's baseline
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

    # -- checks (prt_sim.inference.checks) and forecasts ------------------------------------------
    def sample_posterior_predictive(
        self, idata, *, n_draws: int = 200, seed: int = 0, data=None, progress: bool = True
    ):
        """Replicate the trial with the full stochastic simulator under posterior draws
        (:func:`prt_sim.inference.checks.posterior_predictive`) and store the replicates' arm
        summaries as ``idata``'s ``posterior_predictive`` group, over ``(chain, draw, arm,
        visit)``. ``data`` is the trial whose arms, visits and response rates the replicates
        follow (default: the fitted data; pass the full trial to predict visits held out of the
        fit)."""
        ds = checks.posterior_predictive(
            idata, self.data if data is None else data, n_draws=n_draws, seed=seed,
            progress=progress,
        )  # fmt: skip
        if "posterior_predictive" in idata.groups():
            del idata.posterior_predictive
        idata.add_groups(posterior_predictive=ds)
        return idata

    def ppc_table(self, idata, *, data=None, level: float = 0.9) -> list[dict[str, Any]]:
        """Observed against predicted per arm and visit
        (:func:`prt_sim.inference.checks.ppc_table`; default data: the fitted data)."""
        return checks.ppc_table(idata, self.data if data is None else data, level=level)

    def mediation(self, idata, *, data=None, **kwargs) -> dict[str, Any]:
        """The treatment's effect through fear and attributions in trial replicates
        (:func:`prt_sim.inference.checks.mediation`; default data: the fitted data)."""
        return checks.mediation(idata, self.data if data is None else data, **kwargs)

    def forecast(self, idata, protocols=None, **kwargs):
        """Forecast durability under posterior draws: :func:`prt_sim.forecasting.forecast`
        with this model's data and configuration."""
        from ..forecasting import forecast

        return forecast(idata, protocols, model=self, **kwargs)

    # -- persistence ------------------------------------------------------------------------------
    @staticmethod
    def save(idata, path: str | os.PathLike) -> Path:
        """Save InferenceData to netCDF atomically (all groups, attrs with provenance)."""
        path = Path(path)
        with atomic_path(path, suffix=".nc") as tmp:
            idata.to_netcdf(str(tmp), engine=NETCDF_ENGINE)
        return path

    @staticmethod
    def load(path: str | os.PathLike, *, strict: bool = True):
        """Load InferenceData written by :meth:`save` (fully into memory), checked.

        Parameters
        ----------
        path : path-like
        strict : bool
            Refuse a fit made by another prt_sim version (another set of equations). With
            ``strict=False`` it loads with a :class:`~prt_sim.errors.VersionWarning`.

        Raises
        ------
        DataFormatError
            The file is missing, damaged, not netCDF, or not a fit (a simulation or a forecast,
            say); the message names the file.
        DifferentModelError
            The fit was made by another prt_sim version (with ``strict``), or its stored
            configuration does not match its configuration hash.
        """
        import arviz as az

        from .. import __version__

        path = Path(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the version is checked below, as an error
            attrs = open_result(path, (_KIND, "prior"))
        written = attrs.get("prt_sim_version")
        if not same_model(attrs):
            if written == __version__:
                msg = (
                    f"{path}: fitted with prt_sim {written} from other model sources "
                    f"(fingerprint {attrs.get('model_fingerprint')}, these are "
                    f"{current_fingerprint()}); refit, or load with strict=False to inspect it"
                )
            else:
                msg = (
                    f"{path}: fitted with prt_sim {written}, this is prt_sim {__version__} "
                    "(the equations may differ); refit, or load with strict=False to inspect it"
                )
            if strict:
                raise DifferentModelError(msg)
            from ..errors import VersionWarning

            warnings.warn(msg, VersionWarning, stacklevel=2)
        stored = json.loads(attrs["config"])
        if attrs.get("config_hash") != config_hash(stored):
            raise DifferentModelError(
                f"{path}: its configuration does not match its configuration hash "
                f"({attrs.get('config_hash')}): the file was altered or written by another tool"
            )
        try:
            idata = az.from_netcdf(str(path), engine=NETCDF_ENGINE)
            idata.load()
        except Exception as e:
            raise DataFormatError(
                f"cannot read the fit's groups ({type(e).__name__}); the file may be damaged",
                file=str(path),
            ) from None
        return idata

    def load_fit(self, path: str | os.PathLike, *, n_check: int = 8, upgrade: bool = False):
        """:meth:`load` a fit, refusing one whose configuration differs from this model's.

        A fit made by another prt_sim version is accepted only if this version's equations
        give it back: the log posterior density of this model, evaluated at ``n_check``
        of the fit's draws (spread over chains), must equal the density the sampler recorded
        there to within 1e-8 relative (:meth:`reproduces`). A version that added a term
        switched off in this fit passes; one that changed what this fit computes does not.
        The returned fit then carries this version, this model's configuration, and in
        ``attrs["verified_from"]`` the version it was made by and the largest difference.

        Parameters
        ----------
        path : path-like
        n_check : int
            Draws to re-evaluate when the fit was made by another version, 1-1000.
        upgrade : bool
            Write a fit verified this way back to ``path`` (atomically) with this version's
            stamp and ``verified_from``, so that plain :meth:`load` accepts it.

        Raises
        ------
        DifferentModelError
            The fit was made with another configuration (other data, priors, fixed parameters,
            level...), or by another prt_sim version whose density this version does not
            reproduce; the message names the settings that differ or the largest difference.
        """
        from .. import __version__

        n_check = check_int("n_check", n_check, 1, 1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # another version is checked below
            idata = self.load(path, strict=False)
        stored = _with_new_defaults(json.loads(idata.attrs["config"]))
        mine = self.config()
        if stored != mine:
            diff = sorted(k for k in set(stored) | set(mine) if stored.get(k) != mine.get(k))
            raise DifferentModelError(
                f"{path}: fitted with another configuration than this TrialModel's "
                f"(different: {', '.join(diff)})"
            )
        written = idata.attrs.get("prt_sim_version")
        if not same_model(idata.attrs):
            check = self.reproduces(idata, n_check=n_check)
            if not check["reproduced"]:
                raise DifferentModelError(
                    f"{path}: fitted with prt_sim {written}; this version's log density differs "
                    f"at the fit's draws by up to {check['max_abs_diff']:.3g} (allowed "
                    f"{check['tolerance']:.3g}): the equations changed, refit"
                )
            check["version"] = written
            check["model_fingerprint"] = idata.attrs.get("model_fingerprint")
            idata.attrs.update(
                prt_sim_version=__version__,
                model_fingerprint=current_fingerprint(),
                config=json.dumps(mine),
                config_hash=config_hash(mine),
                verified_from=json.dumps(check),
            )
            if upgrade:
                self.save(idata, path)
        return idata

    def reproduces(self, idata, *, n_check: int = 8, rtol: float = 1e-8) -> dict[str, Any]:
        """Whether this model's log posterior density equals the one the sampler recorded at
        ``n_check`` of the fit's draws (spread over chains and draws).

        Returns
        -------
        dict
            ``reproduced`` (bool), ``draws`` checked, ``max_abs_diff`` and the ``tolerance``
            (``rtol`` x max(1, the largest |log density|)). A fit without its sampler's
            recorded density (``logp`` or ``lp`` in ``sample_stats``) or without a value of
            every free variable is not reproduced (``max_abs_diff`` inf).
        """
        post = idata.posterior
        stats = idata.get("sample_stats")
        rec = None
        for name in ("logp", "lp"):
            if stats is not None and name in stats:
                rec = stats[name].transpose("chain", "draw").values
                break
        names = [v.name for v in self.model.value_vars]
        if rec is None or any(n not in post for n in names):
            return {"reproduced": False, "draws": 0, "max_abs_diff": float("inf"),
                    "tolerance": 0.0}  # fmt: skip
        n_chain, n_draw = rec.shape
        flat = spaced_draws(n_chain * n_draw, n_check)  # chain-major: spread over the chains
        logp = self.model.compile_logp()
        diffs, scale = [], 1.0
        for k in flat:
            c, d = divmod(int(k), n_draw)
            point = {n: post[n].values[c, d] for n in names}
            got = float(logp(point))
            diffs.append(abs(got - float(rec[c, d])))
            scale = max(scale, abs(float(rec[c, d])))
        worst = float(np.max(diffs)) if np.all(np.isfinite(diffs)) else float("inf")
        tol = rtol * scale
        return {"reproduced": bool(worst <= tol), "draws": len(flat), "max_abs_diff": worst,
                "tolerance": tol}  # fmt: skip


#: Parameter fields removed since a release, each with the value at which its term was off: a
#: stored configuration with the field at that value is the same model without it.
_REMOVED_FIELDS = {"params": {"drift_sd": 0.0}}  # 0.6.0: the natural course's course_sd


def _with_new_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored configuration with the parameter fields added since it was written set to
    their defaults (a new field's default switches its term off), and the fields removed since
    dropped where they were off (:data:`_REMOVED_FIELDS`; switched on, they stay and the
    configuration differs)."""
    out = dict(stored)
    for key, cls in (("params", ModelParams), ("spec", CohortSpec)):
        if isinstance(out.get(key), dict):
            gone = _REMOVED_FIELDS.get(key, {})
            kept = {k: v for k, v in out[key].items() if not (k in gone and v == gone[k])}
            defaults = _config_value(cls())
            out[key] = {**{k: v for k, v in defaults.items() if k not in kept}, **kept}
    return out


def _config_value(value: Any) -> Any:
    """A constructor argument as JSON: parameter objects as dicts, priors as dicts, the trial
    data as its design and a hash of its content."""
    from ..data import TrialData

    if isinstance(value, TrialData):
        return {
            "source": value.source,
            "level": value.level,
            "arms": list(value.arms),
            "content_sha256": _data_hash(value),
        }
    if isinstance(value, Validated):
        return value.to_dict()
    if isinstance(value, Prior):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _config_value(v) for k, v in value.items()}
    return to_jsonable(value)


def _data_hash(data) -> str:
    """Hash of a TrialData's values and design (16 hex digits). The visits' modes are left
    out (:meth:`TrialModel.config` records them where a model reads them)."""
    design = data._config()
    design["visits"] = [{k: v for k, v in d.items() if k != "mode"} for d in design["visits"]]
    h = hashlib.sha256(json.dumps(to_jsonable(design), sort_keys=True).encode())
    ds = data.data
    for name in sorted(ds.variables):
        v = np.ascontiguousarray(ds[name].values)
        h.update(name.encode())
        h.update(v.astype(str).tobytes() if v.dtype == object else v.tobytes())
    return h.hexdigest()[:16]
