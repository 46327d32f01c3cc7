"""Personalized forecasts: one patient's random effects inferred from their records under a patient-level posterior, then their future under each protocol.

:func:`forecast_patient` takes a patient-level fit (:class:`~prt_sim.TrialModel` with
``level="patient"``) and one patient's records (a row of the public file, or any patient-level
:class:`~prt_sim.data.TrialData` with that patient), up to a chosen visit. For each of
``n_draws`` posterior draws of the population parameters it weighs ``n_effects`` candidate
patients (standard-normal random effects for steady pain, education efficacy, placebo
response and, in fits of ``floor_mean``, the pain floor; and population draws of the traits
the records cannot show: initial safety, adherence, and the floor in fits without it) by the
likelihood of the patient's records, computed by the fit's own PyMC likelihood
(:func:`~prt_sim.inference.patient_model.build_patient_model`, one agent per candidate). Resampling by those weights gives the patient's posterior; each resampled
candidate's future is then simulated by the full stochastic simulator under each protocol.
The importance weights' effective sample size is reported per draw: a small one means the
records pin the patient down more finely than ``n_effects`` candidates can show.

The future is conditioned on the patient's random effects, not on the day-to-day noise their
records happened to show: the simulated course starts again at T1.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from scipy import stats

from ..errors import ValidationError, check_int, check_range
from ..io import provenance
from ..model.calendar import POST_DAY, month_day
from ..model.rng import MAX_SEED, check_seed, derive_key, uniform_matrix

__all__ = ["forecast_patient"]


def _one_patient_data(data, patient: int, upto: str | None, copies: int):
    """The patient's records (visits after ``upto`` blanked) as a TrialData of ``copies``
    identical patients in their own arm."""
    from ..data import TrialData

    rec = data.records
    ids = [int(p) for p in rec["patient"].values]
    if int(patient) not in ids:
        raise ValidationError("patient", patient, f"a patient id of {data.source!r}")
    one = rec.isel(patient=[ids.index(int(patient))]).copy(deep=True)
    visits = [str(v) for v in one["visit"].values]
    if upto is not None:
        if upto not in visits:
            raise ValidationError("upto", upto, f"one of the data's visits {visits}")
        later = visits[visits.index(upto) + 1 :]
        for var in one.data_vars:
            if "visit" in one[var].dims and later:
                one[var].loc[{"visit": later}] = np.nan
    t1 = float(one["pain_avg"].sel(visit="t1").values[0])
    if not np.isfinite(t1):
        raise ValidationError(
            "record.pain_avg[t1]", t1, "a recorded weekly pain at T1 (0-10 points)"
        )
    arm = str(one["arm"].values[0])
    many = xr.concat([one] * copies, dim="patient").assign_coords(patient=np.arange(copies))
    sub = TrialData(
        arms=(arm,),
        protocols={arm: data.protocols[arm]},
        visits=data.visits,
        records=many,
        composite_visits=data.composite_visits,
        source=f"{data.source}: patient {patient}" + (f" up to {upto}" if upto else ""),
    )
    return sub, arm, [v for v in visits if upto is None or visits.index(v) <= visits.index(upto)]


def forecast_patient(
    idata,
    data,
    patient: int,
    *,
    upto: str | None = None,
    protocols=None,
    n_draws: int = 100,
    n_effects: int = 256,
    n_futures: int = 20,
    horizon_years: float = 5.0,
    seed: int = 0,
    progress: bool = False,
    group: str = "posterior",
) -> xr.Dataset:
    """One patient's posterior and 5-year future under each protocol.

    Parameters
    ----------
    idata : arviz.InferenceData
        A patient-level fit (``TrialModel(data, level="patient").fit()``), or its prior
        (``.sample_prior()``, with ``group="prior"``).
    data : TrialData
        Patient-level records holding the patient (e.g. the public data).
    patient : int
        The patient's id in ``data``.
    upto : str, optional
        Use the records up to and including this visit (e.g. ``"t1"``: the baseline only);
        default: every recorded visit.
    protocols : sequence of str or Protocol, optional
        Protocols to forecast (default: the fitted trial's arms, each as delivered in the trial).
    n_draws : int
        Posterior draws of the population (evenly spaced), 1-4000.
    n_effects : int
        Candidate patients weighed per draw, 16-4096.
    n_futures : int
        Simulated futures per draw and protocol, 1-1000.
    horizon_years : float
        Years after post, 1/12 to 20 (monthly assessments).
    seed : int
        Seed of the candidates, the resampling and the futures.
    progress : bool
        Progress bar over draws.
    group : {"posterior", "prior"}
        Population draws from the fit's posterior, or from a patient-level model's prior
        (the model before it has seen any trial data: how much one patient's own records say
        on their own).

    Returns
    -------
    xarray.Dataset
        ``mean_pain`` (expected reported weekly pain, points) and ``pain_free`` (probability of
        a report <= 1) over ``(draw, protocol, time)``; ``relapse`` (probability of two
        consecutive monthly reports >= 4 after being pain-free at post, among futures
        pain-free at post; NaN if none was) and ``pain_free_post`` over ``(draw,
        protocol)``; the patient's resampled random effects ``pain_z``, ``edu_z``,
        ``placebo_z`` (and ``floor_z``, ``var_z``, ``drift_z`` where the fit has them) and the
        importance ``ess`` over ``draw``. Attrs: provenance.

    Raises
    ------
    ValidationError
        A fit that is not patient-level, an unknown patient or visit, a patient with no
        recorded pain at T1, or an out-of-range setting.
    """
    from ..data.uptake import start_probabilities
    from ..inference.patient_model import (
        build_patient_model,
        has_surveys,
        likelihood_function,
        patient_records,
        random_effects,
    )
    from ..inference.posterior import (
        fit_configuration,
        posterior_inputs,
        scale_self_guided,
        spaced_draws,
    )
    from ..model.baseline import build_record_patients
    from ..model.cohorts import Cohort
    from ..model.instruments import PAIN_FREE_MAX
    from ..model.protocols import get as get_protocol
    from ..model.timeline import Visit, build_timeline
    from ..simulation import simulate

    n_draws = check_int("n_draws", n_draws, 1, 4000)
    n_effects = check_int("n_effects", n_effects, 16, 4096)
    n_futures = check_int("n_futures", n_futures, 1, 1000)
    horizon_years = check_range("horizon_years", horizon_years, 1 / 12, 20.0)
    seed = check_seed(seed)
    if group not in ("posterior", "prior"):
        raise ValidationError("group", group, "'posterior' or 'prior'")
    if group not in idata.groups():
        raise ValidationError(
            "idata", f"no {group!r} group", f"InferenceData with a {group!r} group"
        )
    post = idata[group]
    level = json.loads(idata.attrs.get("config", "{}")).get("level")
    if "pain_z" not in post and not (group == "prior" and level == "patient"):
        raise ValidationError(
            "idata", "an arm-level fit", "a patient-level fit (TrialModel(level='patient'))"
        )
    if data.level != "patient":
        raise ValidationError("data.level", data.level, "'patient' (records)")
    priors, params0, spec0 = fit_configuration(idata)
    agent_seed = derive_key(seed, "personal-agents") % MAX_SEED
    sub, arm, used = _one_patient_data(data, patient, upto, n_effects)
    if not has_surveys(sub):  # no survey among the records used: their offset plays no part
        priors = {k: v for k, v in priors.items() if k != "survey_offset"}
    # Whether the patient started their arm's treatment, from their records up to `upto`
    # among the whole data's (the control arms show how often anyone leaves no record).
    row = data.records.indexes["patient"].get_loc(int(patient))  # checked by _one_patient_data
    started = start_probabilities(data, upto)[row]
    parts = build_patient_model(sub, priors=priors, params=params0, spec=spec0,
                                agent_seed=agent_seed,
                                start_prob=np.full(n_effects, started))  # fmt: skip
    names = list(priors)
    loglik = likelihood_function(parts.model, names)
    effect_names = random_effects([v.name for v in parts.model.free_RVs])
    recs = patient_records(sub, spec0, agent_seed)
    design = json.loads(idata.attrs["design"])
    if protocols is None:
        protocols = {a: data.protocols[a] for a in design["arms"] if a in data.protocols}
    else:
        protocols = {
            (p if isinstance(p, str) else p.name): (data.protocols[p] if isinstance(p, str)
                                                   and p in data.protocols else get_protocol(p))
            for p in protocols
        }  # fmt: skip
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, n_draws)
    inputs = posterior_inputs(idata, flat, group=group)
    theta = {n: post[n].transpose("chain", "draw").values.reshape(-1)[flat] for n in names}
    months = np.arange(0, int(round(horizon_years * 12)) + 1)
    visits = tuple(Visit(name=f"m{m}", day=month_day(m)) for m in months)
    horizon = visits[-1].day
    tl = build_timeline(next(iter(protocols.values())), horizon_days=horizon, visits=visits)
    t1_steps = 0 - tl.start_day + 1
    n_t, n_p = len(months), len(protocols)
    mean_pain = np.full((len(flat), n_p, n_t), np.nan)
    pain_free = np.full((len(flat), n_p, n_t), np.nan)
    relapse = np.full((len(flat), n_p), np.nan)
    free_post = np.full((len(flat), n_p), np.nan)
    eff_out = {e: np.full(len(flat), np.nan) for e in effect_names}
    ess = np.zeros(len(flat))
    pids = np.arange(n_effects, dtype=np.uint64)
    fut_ids = np.arange(n_futures, dtype=np.uint64)
    it = range(len(flat))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"patient {patient}", unit="draw")
    for k in it:
        params, specs, scale = inputs[k]
        key = derive_key(seed, "personal", int(flat[k]))
        u = uniform_matrix(np.uint64(key % 2**64), pids, np.arange(len(effect_names)))
        z = stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        ll = np.asarray(loglik(*[theta[n][k] for n in names], *z), float)
        w = np.exp(ll - ll.max())
        w /= w.sum()
        ess[k] = 1.0 / np.sum(w**2)
        # Each future gets its own candidate, drawn by weight (systematic resampling).
        r = uniform_matrix(np.uint64(derive_key(key % MAX_SEED, "pick")), fut_ids[:1], [0])[0, 0]
        pick = np.searchsorted(np.cumsum(w), (r + np.arange(n_futures)) / n_futures)
        pick = np.minimum(pick, n_effects - 1)
        for j, e in enumerate(effect_names):
            eff_out[e][k] = float(np.mean(z[j, pick]))
        uf = uniform_matrix(np.uint64(derive_key(key % MAX_SEED, "fluct")), fut_ids, [0])[0]
        effects = {e: z[j, pick] for j, e in enumerate(effect_names)}
        effects["fluct_z"] = stats.norm.ppf(np.clip(uf, 1e-12, 1 - 1e-12))
        base = {c: v[pick] for c, v in recs.baseline.items()}
        std = {c: np.asarray(v)[pick] if np.ndim(v) else v for c, v in recs.std.items()}
        sv = specs.get(arm, next(iter(specs.values())))
        traits, init = build_record_patients(base, std, effects, sv, params.to_tuple(), t1_steps)
        # Cohort broadcasts scalar fields (e.g. the initial expectancy) to every future.
        cohort = Cohort(traits, init, fut_ids, meta={"source": f"patient {patient}", "seed": seed})
        for j, proto in enumerate(protocols.values()):
            res = simulate(cohort, scale_self_guided(proto, scale), horizon_days=horizon,
                           seed=key % MAX_SEED, params=params, visits=visits,
                           record="instruments")  # fmt: skip
            pain = res.instruments["pain_avg"].values.astype(float)  # (futures, months)
            mean_pain[k, j] = pain.mean(0)
            free = pain <= PAIN_FREE_MAX
            pain_free[k, j] = free.mean(0)
            free_post[k, j] = free[:, 0].mean()
            high = pain >= 4.0
            returned = (
                (high[:, 1:-1] & high[:, 2:]).any(1) if n_t > 2 else np.zeros(n_futures, bool)
            )
            if free[:, 0].any():
                relapse[k, j] = float(returned[free[:, 0]].mean())
    coords = {
        "draw": np.arange(len(flat)),
        "protocol": list(protocols),
        "time": months / 12.0,
    }
    ds = xr.Dataset(
        {
            "mean_pain": (("draw", "protocol", "time"), mean_pain),
            "pain_free": (("draw", "protocol", "time"), pain_free),
            "relapse": (("draw", "protocol"), relapse),
            "pain_free_post": (("draw", "protocol"), free_post),
            "ess": (("draw",), ess),
            **{e: (("draw",), v) for e, v in eff_out.items()},
        },
        coords=coords,
    )
    ds["time"].attrs["units"] = f"years after post (study day {POST_DAY})"
    ds["mean_pain"].attrs["units"] = "points (reported weekly pain, 0-10)"
    ds["ess"].attrs["description"] = (
        f"effective sample size of the importance weights over {n_effects} candidates"
    )
    config = {
        "patient": int(patient),
        "arm": arm,
        "visits_used": used,
        "n_draws": len(flat),
        "n_effects": n_effects,
        "n_futures": n_futures,
        "horizon_years": horizon_years,
        "fit_config_hash": idata.attrs.get("config_hash"),
        "group": group,
        "design_source": design.get("source"),
        "protocols": {k: v.to_dict() for k, v in protocols.items()},
    }
    ds.attrs.update(provenance("patient_forecast", seed, config))
    return ds
