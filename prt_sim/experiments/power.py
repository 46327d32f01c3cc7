"""In-silico trials: power and assurance of a two-arm design from at least 1,000 trials simulated by the full stochastic simulator, each with its Monte Carlo standard error, and the n per arm that reaches a target.

The design's generating model and its analysis are kept apart. :func:`simulate_trials` draws each
trial's patients (both arms) with the simulator and returns the end point's baseline and
follow-up values as plain arrays; :func:`rates_from_outcomes` runs the analysis
(:mod:`prt_sim.experiments.analysis`, plain arrays in, p-values out) at every n per arm and
labels the result; :func:`solve_n` fits a monotone curve through the rejection rates and finds
the n reaching a target, with a bootstrap over trials for its Monte Carlo uncertainty.
:func:`run_power` does all of it for a :class:`~prt_sim.experiments.power_spec.PowerSpec`.

Seeds are keyed: trial ``t`` draws its cohort and simulation seeds from
``SeedSequence(seed, spawn_key=(t, 0))`` and its patients' random numbers are keyed by patient
id, so a trial gives the same numbers in any batch, on any number of workers. The n sizes share
their trials (common random numbers): a trial of n patients per arm is the first n patients of
each arm of the largest size, exactly as a trial of n alone would be.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import optimize, stats

from ..errors import ValidationError, check_int
from ..io import check_output_file, load_dataset, provenance, save_dataset
from ..model.calendar import ELIGIBILITY_DAY
from ..model.cohorts import Cohort, CohortSpec
from ..model.instruments import INSTRUMENTS, QUESTIONNAIRES
from ..model.params import ModelParams
from ..model.timeline import Visit, build_timeline
from ..runner import make_calendars, make_draws, make_observations, run, stack_patients
from .analysis import analyse
from .executors import Executor, make_executor
from .power_spec import PowerSpec, Solve, load_power_spec
from .seeds import task_seeds

__all__ = [
    "KIND",
    "PowerRun",
    "SampleSize",
    "run_power",
    "simulate_trials",
    "rates_from_outcomes",
    "solve_n",
    "save_power",
    "load_power",
    "BOOTSTRAP_KEY",
]

#: The ``kind`` attribute of a power result file.
KIND = "power"
#: Patient ids of a trial's arm ``a`` start at ``a * ARM_ID_STRIDE`` (arms never share patients).
ARM_ID_STRIDE = 10**6
#: First spawn key of the bootstrap's generator: ``SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY,
#: 0))``, apart from every trial's ``(t, 0)`` (trials are fewer than 10**6).
BOOTSTRAP_KEY = 2**31 + 7
#: Patients simulated together (both arms of several trials): bounds working memory.
BATCH_PATIENTS = 200_000


# -- the generating model ---------------------------------------------------------------------
@dataclass
class _Plan:
    """What every trial of a spec shares: protocols, calendars, visits, parameter sources."""

    spec: PowerSpec
    visits: tuple[Visit, ...]
    calendars: Any
    response: np.ndarray
    k_base: int
    k_end: int
    inputs: list[tuple[ModelParams, CohortSpec, float]]
    draw_of_trial: np.ndarray  # index into inputs, per trial
    source_draw: np.ndarray | None  # flat draw index of the fit / prior, per trial


@lru_cache(maxsize=4)
def _plan(spec_json: str) -> _Plan:
    spec = PowerSpec.from_json(spec_json)
    protocols = [spec.arm(spec.treatment).build(), spec.arm(spec.control).build()]
    visits = (
        Visit(name="eligibility", day=ELIGIBILITY_DAY),
        Visit(name="baseline", day=0),
        *(Visit(name=f"day{d}", day=d, response=1.0 - spec.missing) for d in spec.visits),
    )
    tls = []
    for p in protocols:
        try:
            tls.append(build_timeline(p, horizon_days=spec.horizon_days, visits=visits))
        except ValidationError as e:
            raise ValidationError(
                "visits", list(spec.visits), f"a schedule covering arm {p.name!r}", str(e)
            ) from None
    calendars = make_calendars(tls, protocols)
    response = np.array([[v.response for v in visits]] * 2, dtype=np.float64)
    k_base = 1
    k_end = 2 + spec.visits.index(spec.endpoint.day)
    inputs, draw_of_trial, source = _parameter_inputs(spec)
    return _Plan(spec, visits, calendars, response, k_base, k_end, inputs, draw_of_trial, source)


def _pooled(specs: dict[str, CohortSpec]) -> CohortSpec:
    """One population from a fit's per-arm specs: they differ only in the baseline pain offset
    of each arm, and a new trial randomizes one population: take their mean."""
    sp = list(specs.values())
    return sp[0].replace(pain_mean=float(np.mean([s.pain_mean for s in sp])))


def _draws_idata(spec: PowerSpec):
    par = spec.parameters
    if par.source == "prior":
        from ..data import published_ashar2022
        from ..inference.trial_model import TrialModel

        tm = TrialModel(published_ashar2022())
        return tm.sample_prior(draws=spec.trials, seed=spec.seed), "prior"
    from ..inference.trial_model import TrialModel

    try:
        idata = TrialModel.load(par.fit)
    except Exception as e:
        raise ValidationError(
            "parameters.fit", par.fit, "a fit saved by prt-sim fit / TrialModel.save", str(e)
        ) from None
    if par.group not in idata.groups():
        raise ValidationError(
            "parameters.group", par.group, f"one of the fit's groups {list(idata.groups())}"
        )
    return idata, par.group


def _parameter_inputs(spec: PowerSpec):
    """The simulator inputs ``(params, population, self-guided scale)`` and which one each trial
    uses."""
    par = spec.parameters
    if par.source == "defaults":
        inputs = [(spec.model_params, spec.cohort_spec, par.self_guided_scale)]
        return inputs, np.zeros(spec.trials, dtype=np.int64), None
    from ..inference.posterior import fit_configuration, posterior_inputs, spaced_draws

    idata, group = _draws_idata(spec)
    priors, fit_params, fit_spec = fit_configuration(idata)
    params = fit_params.replace(**dict(spec.params))
    cspec = fit_spec.replace(**dict(spec.population))
    post = idata[group]
    total = post.sizes["chain"] * post.sizes["draw"]
    if par.at == "mean":
        vals = {n: float(post[n].mean()) for n in priors}
        pv = {n: v for n, v in vals.items() if priors[n].target == "params"}
        sv = {n: v for n, v in vals.items() if priors[n].target == "spec"}
        scale = [v for n, v in vals.items() if priors[n].target == "protocol"]
        sp = cspec.replace(**sv)
        if "arm_pain_offset" in post:
            sp = sp.replace(pain_mean=float(sp.pain_mean + post["arm_pain_offset"].mean()))
        inputs = [(params.replace(**pv), sp, scale[0] if scale else 1.0)]
        return inputs, np.zeros(spec.trials, dtype=np.int64), None
    if spec.trials <= total:
        flat = spaced_draws(total, spec.trials)
    else:  # more trials than draws: cycle through them
        flat = np.arange(spec.trials) % total
    uniq, which = np.unique(flat, return_inverse=True)
    raw = posterior_inputs(idata, uniq, priors=priors, params=params, spec=cspec, group=group)
    inputs = [(p, _pooled(s), sc) for p, s, sc in raw]
    return inputs, which.astype(np.int64), flat.astype(np.int64)


def _values(spec: PowerSpec, obs) -> np.ndarray:
    """The end point's instrument over (patient, visit), NaN where not observed."""
    m = spec.endpoint.measure
    if m == "pain_avg":
        v = obs.pain.astype(np.float64)
    else:
        v = obs.questionnaires[:, QUESTIONNAIRES.index(m), :].astype(np.float64)
    v[~obs.observed] = np.nan
    return v


def simulate_trials(spec: PowerSpec, lo: int, hi: int, n: int | None = None):
    """Simulate trials ``lo .. hi - 1`` of ``spec`` with ``n`` patients per arm (default: the
    largest of ``spec.n_per_arm``).

    Parameters
    ----------
    spec : PowerSpec
    lo, hi : int
        Trial indices, 0 <= lo < hi <= spec.trials.
    n : int, optional
        Patients per arm, 2 to 100,000.

    Returns
    -------
    baseline, follow : numpy.ndarray
        float64[hi - lo, 2, n]: the end point's instrument at baseline (study day 0) and on the
        end point's day, for the treatment (index 0) and control arm (index 1); NaN where a
        follow-up assessment is missing. The first k patients of an arm are the trial's arm
        of k patients.
    """
    plan = _plan(spec.to_json())
    n = max(spec.n_per_arm) if n is None else check_int("n", n, 2, 100_000)
    lo = check_int("lo", lo, 0, spec.trials - 1)
    hi = check_int("hi", hi, lo + 1, spec.trials)
    parts = []
    params_rows, seeds, scales = [], [], []
    for r, t in enumerate(range(lo, hi)):
        params, cspec, scale = plan.inputs[plan.draw_of_trial[t]]
        cseed, sseed = task_seeds(spec.seed, t, 0)
        params_rows.append(params)
        seeds.append(sseed)
        scales.append(scale)
        for a in range(2):
            c = Cohort.from_trial_baseline(
                n, seed=cseed, spec=cspec, params=params, id_offset=a * ARM_ID_STRIDE
            )
            parts.append((c.trait_table(), c.state_table(), c.patient_id, r, a))
    batch = stack_patients(parts)
    obs = make_observations(
        len(batch.pid), len(plan.visits), questionnaires=spec.endpoint.measure != "pain_avg"
    )
    run(batch, plan.calendars, make_draws(params_rows, seeds, scales), plan.visits,
        plan.response, obs)  # fmt: skip
    v = _values(spec, obs).reshape(hi - lo, 2, n, len(plan.visits))
    return v[..., plan.k_base], v[..., plan.k_end]


# -- the analysis, on plain arrays ------------------------------------------------------------
_PER_TRIAL = ("success", "estimate", "pvalue")


def _analyse_sizes(spec: PowerSpec, base: np.ndarray, follow: np.ndarray) -> dict:
    """Analyse every size's prefix of trials' arrays: dict of arrays over (size, trial[, arm])."""
    a = spec.analysis
    k, t = len(spec.n_per_arm), base.shape[0]
    out = {name: np.empty((k, t)) for name in _PER_TRIAL}
    out["success"] = np.zeros((k, t), dtype=np.int8)
    out["n_analysed"] = np.zeros((k, t, 2), dtype=np.int64)
    out["arm_mean"] = np.empty((k, t, 2))
    for i, n in enumerate(spec.n_per_arm):
        res = analyse(
            a.kind,
            base[:, 0, :n],
            follow[:, 0, :n],
            base[:, 1, :n],
            follow[:, 1, :n],
            alternative=a.alternative,
            responder_max=a.responder_max,
        )
        out["success"][i] = res.rejects(a.alpha)
        out["estimate"][i] = res.estimate
        out["pvalue"][i] = res.pvalue
        out["n_analysed"][i] = np.stack([res.n_treatment, res.n_control], axis=-1)
        out["arm_mean"][i] = np.stack([res.mean_treatment, res.mean_control], axis=-1)
    return out


def trial_batch(spec_json: str, lo: int, hi: int) -> dict:
    """Simulate and analyse trials ``lo .. hi - 1`` (what executors send to workers: plain data
    in, arrays out)."""
    spec = PowerSpec.from_json(spec_json)
    base, follow = simulate_trials(spec, lo, hi)
    out = _analyse_sizes(spec, base, follow)
    out["lo"], out["hi"] = lo, hi
    return out


def rates_from_outcomes(
    spec: PowerSpec, baseline: np.ndarray, follow: np.ndarray, *, source_draw=None
) -> xr.Dataset:
    """Analyse trials given as plain arrays and label the rejection rates.

    Parameters
    ----------
    spec : PowerSpec
        Its analysis, sizes (``n_per_arm``), arms' names and quantity are used.
    baseline, follow : array_like
        float[trials, 2, n_max] (treatment, control; NaN = missing), n_max >= max(n_per_arm):
        from :func:`simulate_trials` or any other generating model.
    source_draw : array_like, optional
        The draw each trial used (labelled on ``trial``).

    Returns
    -------
    xarray.Dataset
        See :func:`run_power`.
    """
    base = np.asarray(baseline, dtype=np.float64)
    fol = np.asarray(follow, dtype=np.float64)
    if base.ndim != 3 or base.shape[1] != 2 or base.shape != fol.shape:
        raise ValidationError("baseline", base.shape, "arrays shaped (trials, 2, n), both alike")
    if base.shape[2] < max(spec.n_per_arm):
        raise ValidationError(
            "baseline", base.shape, f"at least max(n_per_arm) = {max(spec.n_per_arm)} patients"
        )
    return _dataset(spec, _analyse_sizes(spec, base, fol), source_draw)


def _dataset(spec: PowerSpec, arrays: dict, source_draw=None) -> xr.Dataset:
    q = spec.quantity
    t = arrays["success"].shape[1]
    arms = [spec.treatment, spec.control]
    rate = arrays["success"].mean(axis=1)
    se = np.sqrt(rate * (1 - rate) / t)
    units = INSTRUMENTS[spec.endpoint.measure].unit
    resp = spec.analysis.kind in ("proportions", "fisher")
    coords: dict[str, Any] = {"n_per_arm": list(spec.n_per_arm), "trial": np.arange(t),
                              "arm": arms}  # fmt: skip
    if source_draw is not None:
        coords["source_draw"] = ("trial", np.asarray(source_draw, dtype=np.int64))
    est = np.where(np.isfinite(arrays["estimate"]), arrays["estimate"], np.nan)
    with warnings.catch_warnings():  # a size where no trial has an estimate gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_est = np.nanmean(est, axis=1)
    data = {
        q: (("n_per_arm",), rate, {"long_name": f"{q}: share of trials that reject", "units": "1"}),
        f"{q}_se": (("n_per_arm",), se, {"long_name": f"Monte Carlo SE of {q}", "units": "1"}),
        "mean_estimate": (("n_per_arm",), mean_est, {"long_name": "mean estimate over trials"}),
        "success": (("n_per_arm", "trial"), arrays["success"], {"meaning": "1: p < alpha"}),
        "estimate": (
            ("n_per_arm", "trial"),
            arrays["estimate"],
            {"long_name": "treatment minus control", "units": "share (0-1)" if resp else units},
        ),
        "pvalue": (("n_per_arm", "trial"), arrays["pvalue"]),
        "n_analysed": (
            ("n_per_arm", "trial", "arm"),
            arrays["n_analysed"],
            {"long_name": "patients analysed (complete cases)"},
        ),  # fmt: skip
        "arm_mean": (
            ("n_per_arm", "trial", "arm"),
            arrays["arm_mean"],
            {
                "long_name": "share of responders"
                if resp
                else (
                    "mean follow-up"
                    if spec.analysis.kind == "ancova"
                    else "mean change from baseline"
                )
            },
        ),  # fmt: skip
    }
    attrs = provenance(KIND, spec.seed, spec.to_dict())
    attrs.update(
        quantity=q,
        analysis=spec.analysis.kind,
        alpha=spec.analysis.alpha,
        endpoint=f"{spec.endpoint.measure} on study day {spec.endpoint.day}",
        spec_hash=spec.hash,
        trials=t,
    )
    return xr.Dataset(data, coords=coords, attrs=attrs)


# -- sample size --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleSize:
    """The n per arm reaching a target power or assurance.

    Attributes
    ----------
    quantity : str
        "power" or "assurance".
    target : float
        The target, in (0, 1).
    curve : str
        "probit" or "isotonic" (see :class:`~prt_sim.experiments.power_spec.Solve`).
    n : float
        Where the fitted curve crosses the target (patients per arm, continuous); NaN when it
        does not within the searched sizes.
    n_required : int or None
        ``ceil(n)``: the design's n per arm (None when not reached).
    low, high : float
        2.5% and 97.5% percentiles of ``n`` over bootstrap resamples of the trials (inf: a
        resample did not reach the target); NaN without a bootstrap.
    se : float
        Monte Carlo SE of ``n``: SD over the bootstrap resamples that reached the target.
    reached_share : float
        Share of bootstrap resamples whose curve reached the target.
    coef : tuple of float
        Probit curve ``(a, b)`` of ``Phi^-1(rate) = a + b sqrt(n)``; empty for isotonic.
    achieved, achieved_se : float
        The rate estimated directly at ``n_required`` (same trials) and its Monte Carlo SE.
    note : str
        What to do when the target is not reached, or the crossing lies outside the sizes.
    """

    quantity: str
    target: float
    curve: str
    n: float
    n_required: int | None
    low: float
    high: float
    se: float
    reached_share: float
    coef: tuple[float, ...] = ()
    achieved: float = math.nan
    achieved_se: float = math.nan
    note: str = ""

    @property
    def reached(self) -> bool:
        """Whether the fitted curve reaches the target within the searched sizes."""
        return self.n_required is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["coef"] = list(self.coef)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _probit_fit(sizes: np.ndarray, succ: np.ndarray, trials: int) -> tuple[float, float]:
    """Binomial maximum likelihood of ``Phi^-1(p) = a + b sqrt(n)``."""
    x = np.sqrt(sizes)
    z = stats.norm.ppf((succ + 0.5) / (trials + 1.0))
    b0, a0 = np.polyfit(x, z, 1)

    def nll(theta):
        eta = theta[0] + theta[1] * x
        return -(succ * stats.norm.logcdf(eta) + (trials - succ) * stats.norm.logsf(eta)).sum()

    res = optimize.minimize(nll, [a0, b0], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})  # fmt: skip
    return float(res.x[0]), float(res.x[1])


def _pav(y: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing fit of ``y`` (equal weights)."""
    vals, counts = [], []
    for v in y:
        vals.append(float(v))
        counts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            c = counts[-2] + counts[-1]
            vals[-2] = (vals[-2] * counts[-2] + vals[-1] * counts[-1]) / c
            counts[-2] = c
            vals.pop()
            counts.pop()
    return np.repeat(vals, counts)


def _crossing(sizes, succ, trials, target, curve) -> tuple[float, tuple[float, ...]]:
    """Where the fitted curve reaches ``target`` (NaN if it does not) and its coefficients."""
    if curve == "probit":
        a, b = _probit_fit(sizes, succ, trials)
        zt = stats.norm.ppf(target)
        if not b > 0:
            return math.nan, (a, b)
        root = (zt - a) / b
        return (root * root if root > 0 else 0.0), (a, b)
    fit = _pav(succ / trials)
    above = np.flatnonzero(fit >= target)
    if not len(above):
        return math.nan, ()
    k = int(above[0])
    if k == 0:
        return float(sizes[0]), ()
    eps = 0.5 / trials
    z0, z1 = stats.norm.ppf(np.clip(fit[[k - 1, k]], eps, 1 - eps))
    zt = stats.norm.ppf(np.clip(target, eps, 1 - eps))
    x0, x1 = np.sqrt(sizes[k - 1]), np.sqrt(sizes[k])
    x = x0 + (x1 - x0) * (zt - z0) / (z1 - z0) if z1 > z0 else x1
    return float(x * x), ()


def solve_n(ds: xr.Dataset, solve: Solve, *, seed: int | None = None) -> SampleSize:
    """The n per arm at which the rejection rate reaches ``solve.target`` (stochastic root
    finding over the sizes of ``ds``, which share their trials).

    A curve is fitted through the rates at every n (``solve.curve``; "auto": a probit curve in
    sqrt(n) for power, an isotonic fit for assurance) and solved for the target; resampling the
    trials with replacement ``solve.bootstrap`` times (each trial keeps its results at every n,
    so the sizes' common random numbers are respected) and solving again gives the Monte Carlo
    uncertainty of n.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`run_power` or :func:`rates_from_outcomes`, with at least 3 sizes.
    solve : Solve
        Target, curve and bootstrap resamples.
    seed : int, optional
        Root seed of the bootstrap (default: the result's seed); its generator is
        ``SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY, 0))``.

    Returns
    -------
    SampleSize
    """
    if not isinstance(solve, Solve):
        raise ValidationError("solve", solve, "a prt_sim.experiments.Solve")
    q = ds.attrs.get("quantity", "power")
    sizes = np.asarray(ds["n_per_arm"].values, dtype=np.float64)
    if len(sizes) < 3:
        raise ValidationError("n_per_arm", sizes.tolist(), "at least 3 sizes to fit a curve")
    curve = solve.curve if solve.curve != "auto" else ("probit" if q == "power" else "isotonic")
    success = ds["success"].values.astype(np.int64)
    trials = success.shape[1]
    n, coef = _crossing(sizes, success.sum(axis=1), trials, solve.target, curve)
    lo_n, hi_n = sizes[0], sizes[-1]
    note = ""
    if math.isnan(n) or n > hi_n:
        note = f"the {q} curve does not reach {solve.target:g} up to n = {hi_n:g} per arm"
        if not math.isnan(n):
            note += f" (the fitted curve extrapolates to n = {n:.0f}): raise solve.n_range"
        elif curve == "isotonic":
            note += f" (the {q} may level off below the target): raise solve.n_range to check"
        else:
            note += ": the fitted curve does not rise with n"
        n_req = None
        n = math.nan
    else:
        if n < lo_n:
            note = f"already reached at the smallest size searched (n = {lo_n:g})"
        n_req = max(2, int(math.ceil(n - 1e-9)))
    b = solve.bootstrap
    if b:
        root = int(ds.attrs.get("seed", 0)) if seed is None else int(seed)
        rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(BOOTSTRAP_KEY, 0)))
        boots = np.empty(b)
        for i in range(b):
            idx = rng.integers(0, trials, trials)
            v, _ = _crossing(sizes, success[:, idx].sum(axis=1), trials, solve.target, curve)
            boots[i] = v if v <= hi_n else math.nan
        reached = np.isfinite(boots)
        full = np.where(reached, boots, np.inf)
        low, high = (float(v) for v in np.percentile(full, [2.5, 97.5], method="inverted_cdf"))
        se = float(np.std(boots[reached], ddof=1)) if reached.sum() > 1 else math.nan
        share = float(reached.mean())
    else:
        low = high = se = share = math.nan
    return SampleSize(q, solve.target, curve, float(n), n_req, low, high, se, share,
                      tuple(coef), note=note)  # fmt: skip


# -- running ------------------------------------------------------------------------------------
@dataclass
class PowerRun:
    """What :func:`run_power` gives back.

    Attributes
    ----------
    data : xarray.Dataset
        Rates and per-trial results (see :func:`run_power`).
    sample_size : SampleSize or None
        The solved n per arm (with a :class:`~prt_sim.experiments.power_spec.Solve`).
    summary : dict
        ``trials``, ``sizes``, ``quantity``, ``wall_s``, ``executor``, ``workers``,
        ``patients_simulated``.
    path : Path or None
        Where the Dataset was saved.
    """

    data: xr.Dataset
    sample_size: SampleSize | None = None
    summary: dict[str, Any] | None = None
    path: Path | None = None


def _run_trials(spec: PowerSpec, ex: Executor, batch_size: int | None, progress) -> dict:
    n_max = max(spec.n_per_arm)
    if batch_size is None:
        by_memory = max(1, BATCH_PATIENTS // (2 * n_max))
        batch_size = max(1, min(by_memory, math.ceil(spec.trials / (4 * ex.workers))))
    batch_size = check_int("batch_size", batch_size, 1, 10**6)
    text = spec.to_json()
    args = [(text, lo, min(spec.trials, lo + batch_size))
            for lo in range(0, spec.trials, batch_size)]  # fmt: skip
    k, t = len(spec.n_per_arm), spec.trials
    out = {name: np.empty((k, t)) for name in _PER_TRIAL}
    out["success"] = np.zeros((k, t), dtype=np.int8)
    out["n_analysed"] = np.zeros((k, t, 2), dtype=np.int64)
    out["arm_mean"] = np.empty((k, t, 2))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=t, unit="trial", desc=f"{spec.quantity} ({spec.name})")
    try:
        for res in ex.imap(trial_batch, args):
            lo, hi = int(res["lo"]), int(res["hi"])
            for name in out:
                out[name][:, lo:hi] = res[name]
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    return out


def run_power(
    spec: PowerSpec | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    executor: str | Executor = "sequential",
    workers: int | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> PowerRun:
    """Estimate power (fixed parameters) or assurance (one draw per trial) at every n per arm of
    ``spec``, and solve for the n reaching its target.

    Parameters
    ----------
    spec : PowerSpec or path
        The design, or a TOML file of one.
    out : path, optional
        netCDF file to save the result to (atomically); checked before any work.
    executor : {"sequential", "pool", "dask"} or Executor
        Where batches of trials run (default: this process, the kernels on every core). The
        numbers do not depend on it, on ``workers`` or on ``batch_size``.
    workers : int, optional
        Pool processes.
    batch_size : int, optional
        Trials per batch (default: about 4 batches per worker, at most 200,000 patients each).
    progress : bool, optional
        Progress bar over trials (default: off).

    Returns
    -------
    PowerRun
        ``data``: an xarray Dataset over ``(n_per_arm, trial, arm)``: ``power`` (or
        ``assurance``) and ``power_se`` over ``n_per_arm`` (share of trials with p < alpha and
        its Monte Carlo SE ``sqrt(p (1 - p) / trials)``); per trial ``success``, ``estimate``
        (treatment minus control), ``pvalue``, ``n_analysed`` and ``arm_mean`` per arm;
        ``source_draw`` on ``trial`` for draws; provenance attrs (version, spec JSON and hash,
        seed) and, with a target, ``sample_size`` (JSON of :class:`SampleSize`). With a target
        reached, the size ``n_required`` is evaluated directly on the same trials and added.

    Raises
    ------
    ValidationError
        A bad spec, an unreadable fit, an output path that cannot be written: before any trial
        runs.
    """
    if not isinstance(spec, PowerSpec):
        spec = load_power_spec(spec)
    path = check_output_file(out, "out") if out is not None else None
    plan = _plan(spec.to_json())  # the fit is opened, the calendars are built: before any work
    ex = make_executor(executor, workers)
    own = not isinstance(executor, Executor)
    t0 = time.perf_counter()
    simulated = 0
    try:
        arrays = _run_trials(spec, ex, batch_size, progress)
        simulated += 2 * spec.trials * max(spec.n_per_arm)
        ds = _dataset(spec, arrays, plan.source_draw)
        size = None
        if spec.solve is not None:
            size = solve_n(ds, spec.solve)
            if size.reached:
                if size.n_required not in spec.n_per_arm:
                    check = spec.replace(n_per_arm=(size.n_required,), solve=None)
                    extra = _dataset(check, _run_trials(check, ex, batch_size, progress),
                                     plan.source_draw)  # fmt: skip
                    simulated += 2 * spec.trials * size.n_required
                    attrs = ds.attrs
                    ds = xr.concat([ds, extra], dim="n_per_arm", data_vars="minimal",
                                   coords="minimal", compat="override").sortby("n_per_arm")  # fmt: skip
                    ds.attrs = attrs
                q = spec.quantity
                r = ds.sel(n_per_arm=size.n_required)
                size = SampleSize(**{**asdict(size), "achieved": float(r[q]),
                                     "achieved_se": float(r[f"{q}_se"])})  # fmt: skip
            ds.attrs["sample_size"] = json.dumps(size.to_dict())
    finally:
        if own:
            ex.close()
    wall = time.perf_counter() - t0
    summary = {
        "trials": spec.trials,
        "sizes": [int(n) for n in ds["n_per_arm"].values],
        "quantity": spec.quantity,
        "wall_s": round(wall, 3),
        "executor": ex.name,
        "workers": ex.workers,
        "patients_simulated": simulated,
    }
    if path is not None:
        save_power(ds, path)
    return PowerRun(ds, size, summary, path)


def save_power(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a power result to netCDF atomically (attrs keep its provenance)."""
    return save_dataset(ds, path)


def load_power(path: str | os.PathLike) -> xr.Dataset:
    """Read a power result written by :func:`save_power`.

    Raises
    ------
    DataFormatError
        The file is missing, damaged or not a power result (names the file).
    """
    return load_dataset(path, KIND)
