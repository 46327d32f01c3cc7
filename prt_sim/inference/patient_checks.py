"""Checks of a patient-level fit on its own patients: the fitted patients replayed by the full simulator, the within-patient tables, and how far the data moved each prior.

:func:`replay_patients` runs every recorded patient, with their own T1 baseline and each
posterior draw's random effects (built by the same
:func:`~prt_sim.model.baseline.build_record_patients` as the PyMC model), through their arm's
protocol with the full stochastic simulator, and masks the visits the patient missed.
:func:`replay_summaries` reduces each replay to the published figures (the same
:func:`~prt_sim.inference.checks.arm_stats` as the population check), so that
:func:`~prt_sim.inference.checks.ppc_rows` sets them beside the trial. :func:`responder_table`,
:func:`follow_up_correlation`, :func:`follow_up_spread` and :func:`split_means` are the
within-patient statistics, computed the same way on
the trial's records and on each replay; :func:`contraction` is posterior SD / prior SD, and
:func:`side_by_side` sets two fits' posteriors (say arm-level and patient-level) beside each
other, flagging parameters whose intervals do not overlap. :func:`mediation_check` runs the
trial's mediation analysis as the paper did (averaged baseline, PRT against each control) on
the records and on each replay.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats

from ..errors import ValidationError, check_int, check_range
from ..io import provenance
from ..model.baseline import build_record_patients
from ..model.cohorts import Cohort
from ..model.instruments import PAIN_FREE_MAX
from ..model.rng import MAX_SEED, check_seed, derive_key, uniform_matrix
from ..model.timeline import build_timeline
from .checks import PPC_STATS, arm_stats, interval
from .posterior import fit_configuration, posterior_inputs, simulate_arm, spaced_draws

__all__ = [
    "RESPONDER_CLASSES",
    "check_patient_fit",
    "replay_patients",
    "uptake_probabilities",
    "replay_summaries",
    "responder_table",
    "responder_check",
    "follow_up_correlation",
    "correlation_check",
    "follow_up_spread",
    "spread_check",
    "SPREAD_STATS",
    "split_means",
    "split_check",
    "SPLIT_GROUPS",
    "contraction",
    "prior_spreads",
    "with_log_likelihood",
    "side_by_side",
    "mediation_readout",
    "mediation_check",
]

#: Columns of :func:`responder_table`: pain 0-1 at post and at 12 months, among the patients
#: observed at both visits.
RESPONDER_CLASSES = ("both", "post_only", "m12_only", "neither")
_READINGS = ("pain_avg", "tsk11", "pcs", "odi", "attrib_mb")


def check_patient_fit(idata, data) -> None:
    """Refuse what a patient-level check cannot use: data that are not patient records, a fit
    without per-patient random effects, or records of other patients than the fit's (each
    error names the field and what is allowed)."""
    if data.level != "patient":
        raise ValidationError("data.level", data.level, "'patient' (the fitted records)")
    post = idata.posterior
    if "pain_z" not in post:
        raise ValidationError(
            "idata.posterior", "no pain_z", "a patient-level fit (per-patient random effects)"
        )
    if [int(p) for p in post["patient"].values] != [int(p) for p in data.records["patient"].values]:
        raise ValidationError(
            "data", data.source, "the patient-level data the fit was made with (same patients)"
        )


def replay_patients(
    idata,
    data,
    *,
    n_draws: int = 100,
    seed: int = 0,
    progress: bool = False,
    overrides: dict[str, float] | None = None,
) -> xr.Dataset:
    """The fitted patients themselves, replayed by the full stochastic simulator.

    For each of ``n_draws`` posterior draws (evenly spaced), every recorded patient is built
    from their recorded T1 questionnaires, chronicity and the draw's random effects
    (``pain_z``, ``edu_z``, ``placebo_z``, and ``floor_z``, ``var_z``, ``drift_z`` where the
    fit has them), with the fit's fixed trait draws and a fresh
    initial fluctuation. Whether the patient started treatment is drawn from their posterior
    probability given their records (:func:`uptake_probabilities`), not from the arm's uptake:
    a patient who recovered under PRT did start it. Their arm's protocol is then simulated
    with the draw's parameters (attendance, adherence, flare-ups, day-to-day fluctuation and
    measurement noise all drawn); each reading is kept only where the trial recorded it.

    Parameters
    ----------
    idata : arviz.InferenceData
        A patient-level fit (:class:`~prt_sim.inference.trial_model.TrialModel` with
        ``level="patient"``).
    data : TrialData
        The patient-level data it was fitted to.
    n_draws : int
        Posterior draws to replay, 1-100000.
    seed : int
        Seed of the replays (same seed, same result).
    progress : bool
        Show a progress bar.
    overrides : dict of str to float, optional
        :class:`~prt_sim.model.params.ModelParams` fields set to these values in every
        replayed draw, each within its range: a counterfactual replay of the same patients
        and random numbers, e.g. ``{"pain_report_sd": 0.0}`` without report noise,
        ``{"flare_rate": 0.0}`` without flare-ups. A fitted parameter named here replaces its
        posterior draws. Default: none (the replay of the fit).

    Returns
    -------
    xarray.Dataset
        ``pain_avg``, ``tsk11``, ``pcs``, ``odi``, ``attrib_mb`` over ``(draw, patient,
        visit)`` (NaN where the trial has no record), coordinates ``arm`` (per patient),
        ``day`` (per visit) and the ``source_chain`` / ``source_draw`` of each replay; the
        overrides, if any, in ``attrs["overrides"]`` (JSON).

    Raises
    ------
    ValidationError
        ``overrides`` names a field ModelParams does not have, or a value outside its range.
    """
    from .patient_model import patient_records, random_effects

    n_draws = check_int("n_draws", n_draws, 1, 100_000)
    seed = check_seed(seed)
    overrides = _check_overrides(overrides)
    check_patient_fit(idata, data)
    post = idata.posterior
    _, _, spec = fit_configuration(idata)
    agent_seed = int(_config(idata).get("agent_seed", 0))
    pr = patient_records(data, spec, agent_seed)
    rec, visits = pr.records, pr.visits
    fitted = [int(p) for p in post["patient"].values]
    arms = list(data.arms)
    pat_arm = np.array([str(a) for a in rec["arm"].values])
    start = min(
        build_timeline(p, horizon_days=visits[-1].day, visits=visits).start_day
        for p in data.protocols.values()
    )
    t1_steps = next(v.day for v in visits if v.name == "t1") - start + 1
    horizon = max(v.day for v in visits)
    n_pat = len(fitted)
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, n_draws)
    inputs = [(p.replace(**overrides), sp, sc) for p, sp, sc in posterior_inputs(idata, flat)]
    effects_all = {
        k: post[k].transpose("chain", "draw", "patient").values.reshape(total, n_pat)[flat]
        for k in random_effects(idata)
    }
    took_up = uptake_probabilities(idata, data, flat)
    recorded = {k: np.isfinite(rec[k].values) for k in _READINGS if k in rec}
    out = {k: np.full((len(flat), n_pat, len(visits)), np.nan) for k in _READINGS}
    pids = np.arange(n_pat, dtype=np.uint64)
    it = range(len(flat))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="replay of the fitted patients", unit="draw")
    for k in it:
        params, specs, scale = inputs[k]
        dseed = derive_key(seed, "replay", int(flat[k])) % MAX_SEED
        u = uniform_matrix(np.uint64(derive_key(dseed, "fluct")), pids, np.arange(1))[0]
        effects = {n: v[k] for n, v in effects_all.items()}
        effects["fluct_z"] = stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        sv = specs[arms[0]]  # patient-level fits carry no arm offsets
        traits, init = build_record_patients(
            pr.baseline, pr.std, effects, sv, params.to_tuple(), t1_steps
        )
        # Cohort broadcasts scalar fields to every patient; each arm is a selection of it.
        everyone = Cohort(traits, init, pids, meta={"source": "replay", "seed": dseed})
        # Who started treatment, drawn from each patient's posterior probability given their
        # records (a patient who recovered under PRT did start it).
        u_up = uniform_matrix(np.uint64(derive_key(dseed, "uptake")), pids, np.arange(1))[0]
        starts = u_up < took_up[k]
        for arm in arms:
            for started in (True, False):
                idx = np.flatnonzero((pat_arm == arm) & (starts == started))
                if idx.size == 0:
                    continue
                protocol = dataclasses.replace(data.protocols[arm], uptake=float(started))
                res = simulate_arm(everyone[idx], protocol, scale, horizon, dseed, params,
                                   visits)  # fmt: skip
                ins = res.instruments
                for var in _READINGS:
                    if var in recorded:
                        vals = ins[var].values.astype(float)
                        out[var][k, idx] = np.where(recorded[var][idx], vals, np.nan)
    coords = {
        "draw": np.arange(len(flat)),
        "patient": np.asarray(fitted),
        "visit": [v.name for v in visits],
    }
    ds = xr.Dataset(
        {v: (("draw", "patient", "visit"), a) for v, a in out.items() if v in recorded},
        coords=coords,
    )
    ds = ds.assign_coords(
        arm=("patient", pat_arm.astype(object)),
        day=("visit", [v.day for v in visits]),
        source_chain=("draw", flat // post.sizes["draw"]),
        source_draw=("draw", flat % post.sizes["draw"]),
    )
    config = {"n_draws": len(flat), "data_source": data.source}
    if overrides:
        config["overrides"] = overrides
    ds.attrs.update(provenance("replay_patients", seed, config))
    if overrides:
        ds.attrs["overrides"] = json.dumps(overrides, sort_keys=True)
    return ds


def _check_overrides(overrides) -> dict[str, float]:
    """``overrides`` of :func:`replay_patients` as a dict of ModelParams fields to floats, each
    checked against its field's range (a clear error naming the field otherwise)."""
    from ..model.params import ModelParams

    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ValidationError("overrides", overrides, "a dict of ModelParams fields to numbers")
    fields = [f.name for f in dataclasses.fields(ModelParams)]
    for name in overrides:
        if name not in fields:
            raise ValidationError("overrides", name, f"a field of ModelParams: {', '.join(fields)}")
    ModelParams().replace(**overrides)  # each value within its field's range, or a clear error
    return {k: float(v) for k, v in overrides.items()}


def uptake_probabilities(idata, data, flat) -> np.ndarray:
    """Each fitted patient's posterior probability of having started their arm's treatment,
    given their records, per posterior draw: float64[len(flat), patient].

    Read from the fit's ``uptake_prob``; fits made before it was recorded get it from the same
    expression of their rebuilt model. 1 in arms whose uptake is 1.

    Parameters
    ----------
    idata : arviz.InferenceData
        A patient-level fit.
    data : TrialData
        The patient-level data it was fitted to.
    flat : array of int
        Flat (chain-major) draw indices.
    """
    post = idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = np.asarray(flat, dtype=int)
    n_pat = post.sizes["patient"]
    check_patient_fit(idata, data)
    if "uptake_prob" in post:
        vals = post["uptake_prob"].transpose("chain", "draw", "patient").values
        return vals.reshape(total, n_pat)[flat]
    if all(p.uptake >= 1.0 for p in data.protocols.values()):
        return np.ones((len(flat), n_pat))
    from .patient_model import build_patient_model, likelihood_function, random_effects

    priors, params, spec = fit_configuration(idata)
    cfg = _config(idata)
    model = build_patient_model(data, priors=priors, params=params, spec=spec,
                                max_dt=int(cfg.get("max_dt", 7)),
                                agent_seed=int(cfg.get("agent_seed", 0))).model  # fmt: skip
    fn = likelihood_function(model, list(priors), var="uptake_prob")
    names = [*priors, *random_effects(idata)]
    chain, draw = flat // post.sizes["draw"], flat % post.sizes["draw"]
    values = {n: post[n].values for n in names}
    return np.stack([fn(*[values[n][c, d] for n in names]) for c, d in zip(chain, draw)])


def _config(idata) -> dict[str, Any]:
    import json

    return json.loads(idata.attrs.get("config", "{}"))


def replay_summaries(replay: xr.Dataset, data) -> xr.Dataset:
    """Each replay reduced to the published figures per arm and visit (:data:`PPC_STATS`, by
    :func:`~prt_sim.inference.checks.arm_stats`), over ``(chain, draw, arm, visit)`` with one
    chain: the layout of a ``posterior_predictive`` group, for
    :func:`~prt_sim.inference.checks.ppc_rows`."""
    comp = dict(data.composite_visits or {})
    names = [str(v) for v in replay["visit"].values]
    names += [c for c in comp if c not in names and all(p in names for p in comp[c])]
    arms = list(data.arms)
    n = replay.sizes["draw"]
    out = {s: np.full((1, n, len(arms), len(names)), np.nan) for s in PPC_STATS}
    for a, arm in enumerate(arms):
        sub = replay.isel(patient=np.flatnonzero(replay["arm"].values == arm))
        for k in range(n):
            one = sub.isel(draw=k)
            for j, name in enumerate(names):
                for st, val in arm_stats(one, name, comp).items():
                    out[st][0, k, a, j] = val
    coords = {"chain": [0], "draw": np.arange(n), "arm": arms, "visit": names}
    ds = xr.Dataset(
        {s: (("chain", "draw", "arm", "visit"), v) for s, v in out.items()}, coords=coords
    )
    ds.attrs.update(replay.attrs)
    return ds


def responder_table(pain: np.ndarray, arm: np.ndarray, arms, *, post: int, m12: int):
    """Counts of patients pain 0-1 (weekly pain <= 1) at both post and 12 months, at post only,
    at 12 months only, or at neither, among those observed at both visits, per arm.

    ``pain`` is ``(patient, visit)`` (NaN = missing); ``post`` and ``m12`` are visit indices.
    Returns ``{arm: {class: count}}`` over :data:`RESPONDER_CLASSES`.
    """
    p0, p1 = pain[:, post], pain[:, m12]
    ok = np.isfinite(p0) & np.isfinite(p1)
    r0, r1 = p0 <= PAIN_FREE_MAX, p1 <= PAIN_FREE_MAX
    cls = {
        "both": r0 & r1,
        "post_only": r0 & ~r1,
        "m12_only": ~r0 & r1,
        "neither": ~r0 & ~r1,
    }
    return {a: {c: int(np.sum(m & ok & (arm == a))) for c, m in cls.items()} for a in arms}


def responder_check(replay: xr.Dataset, data, *, level: float = 0.9) -> dict[str, Any]:
    """The trial's post x 12-month responder table beside the replays' (median and central
    ``level`` interval of each count, and whether the trial's count falls inside), per arm.
    Also the share of post non-responders who respond at 12 months."""
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    visits = [str(v) for v in replay["visit"].values]
    post, m12 = visits.index("post"), visits.index("m12")
    arms = list(data.arms)
    rec = data.records.sel(visit=visits)
    obs = responder_table(
        rec["pain_avg"].values, rec["arm"].values.astype(str), arms, post=post, m12=m12
    )
    arm = replay["arm"].values.astype(str)
    sims = [
        responder_table(replay["pain_avg"].values[k], arm, arms, post=post, m12=m12)
        for k in range(replay.sizes["draw"])
    ]
    out: dict[str, Any] = {}
    for a in arms:
        row = {c: interval([s[a][c] for s in sims], obs[a][c], level) for c in RESPONDER_CLASSES}

        def late(t):
            n = t["m12_only"] + t["neither"]
            return t["m12_only"] / n if n else np.nan

        row["late_response_share"] = interval([late(s[a]) for s in sims], late(obs[a]), level)
        out[a] = row
    return out


def follow_up_correlation(pain: np.ndarray, arm: np.ndarray, arms, idx: list[int]):
    """Within-patient stability of pain: the Pearson correlation of weekly pain between each
    pair of the visits ``idx`` (patients observed at both), averaged over pairs, per arm."""
    out = {}
    for a in arms:
        rs = []
        for i, j in zip(idx[:-1], idx[1:]):
            x, y = pain[arm == a, i], pain[arm == a, j]
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() > 3 and np.std(x[ok]) > 0 and np.std(y[ok]) > 0:
                rs.append(np.corrcoef(x[ok], y[ok])[0, 1])
        out[a] = float(np.mean(rs)) if rs else np.nan
    return out


def correlation_check(
    replay: xr.Dataset,
    data,
    *,
    visits: tuple[str, ...] = ("post", "m1", "m2", "m3", "m6", "m12"),
    level: float = 0.9,
) -> dict[str, Any]:
    """The trial's mean correlation of pain between consecutive follow-up ``visits``
    (:func:`follow_up_correlation`) beside the replays', per arm."""
    obs, sims = _trial_and_replays(follow_up_correlation, replay, data, visits)
    return {a: interval([s[a] for s in sims], obs[a], level) for a in data.arms}


def _trial_and_replays(statistic, replay: xr.Dataset, data, visits):
    """``statistic(pain, arm, arms, idx)`` over the ``visits`` of the trial's records, and of
    each replay draw."""
    names = [str(v) for v in replay["visit"].values]
    bad = [v for v in visits if v not in names]
    if bad:
        raise ValidationError("visits", bad, f"visits of the replay {names}")
    idx = [names.index(v) for v in visits]
    arms = list(data.arms)
    rec = data.records.sel(visit=names)
    obs = statistic(rec["pain_avg"].values, rec["arm"].values.astype(str), arms, idx)
    arm = replay["arm"].values.astype(str)
    sims = [
        statistic(replay["pain_avg"].values[k], arm, arms, idx) for k in range(replay.sizes["draw"])
    ]
    return obs, sims


#: What :func:`follow_up_spread` reports per arm.
SPREAD_STATS = ("median_sd", "sd_of_sd", "share_steady")


def follow_up_spread(pain: np.ndarray, arm: np.ndarray, arms, idx: list[int]):
    """How much each patient's reported pain scatters over the visits ``idx``: per arm, among
    the patients observed at all of them, the median of their own SDs (``median_sd``, points),
    the SD of those SDs across patients (``sd_of_sd``: how unlike each other the patients are)
    and the share who reported the same pain at every one (``share_steady``)."""
    x = pain[:, idx]
    full = np.isfinite(x).all(axis=1)
    sd = np.where(full, np.nanstd(np.where(full[:, None], x, 0.0), axis=1, ddof=1), np.nan)
    out = {}
    for a in arms:
        v = sd[(arm == a) & full]
        out[a] = (
            {
                "median_sd": float(np.median(v)),
                "sd_of_sd": float(np.std(v)),
                "share_steady": float(np.mean(v == 0)),
            }
            if v.size > 3
            else dict.fromkeys(SPREAD_STATS, np.nan)
        )
    return out


def spread_check(
    replay: xr.Dataset,
    data,
    *,
    visits: tuple[str, ...] = ("m1", "m2", "m3", "m6", "m12"),
    level: float = 0.9,
) -> dict[str, Any]:
    """The trial's within-patient scatter of pain over the follow-up ``visits``
    (:func:`follow_up_spread`) beside the replays', per arm: a model whose patients all
    scatter alike misses ``sd_of_sd`` (the trial's patients differ in how much their reports
    vary, Pagé et al. 2022) even when it gets the median right."""
    obs, sims = _trial_and_replays(follow_up_spread, replay, data, visits)
    return {
        a: {c: interval([s[a][c] for s in sims], obs[a][c], level) for c in SPREAD_STATS}
        for a in data.arms
    }


#: The two groups of :func:`split_means`: pain 0-1 at the visit that selects, or not.
SPLIT_GROUPS = ("pain_free", "in_pain")


def split_means(select: np.ndarray, at: np.ndarray, arm: np.ndarray, arms):
    """Mean reported pain ``at`` one visit of the patients pain 0-1 (``<= 1``, ``pain_free``) or
    not (``in_pain``) at another, per arm.

    ``select`` and ``at`` are each patient's readings (points 0-10, NaN = missing) at the
    visit that selects and at the visit compared (they may be the same visit); patients
    observed at both count. Returns ``{arm: {group: (n, mean)}}`` over :data:`SPLIT_GROUPS`
    (mean NaN for an empty group).
    """
    ok = np.isfinite(select) & np.isfinite(at)
    free = select <= PAIN_FREE_MAX
    out = {}
    for a in arms:
        out[a] = {}
        for g, m in zip(SPLIT_GROUPS, (free, ~free)):
            v = at[ok & m & (arm == a)]
            out[a][g] = (int(v.size), float(v.mean()) if v.size else np.nan)
    return out


def split_check(
    replay: xr.Dataset, data, *, select: str = "post", at: str = "post", level: float = 0.9
) -> dict[str, Any]:
    """The trial's patients split by their pain at ``select`` (0-1 or not), their mean pain at
    ``at``, beside the replays' two ways, per arm.

    ``same_patients`` replays the very patients the trial's records put in each group. Where
    ``select`` and ``at`` are the same visit this comparison is biased even for a correct
    model: choosing patients by a reading also chooses its noise (regression to the mean), so
    the replays of the trial's pain-free group read higher than they reported and those of the
    others lower. ``own_selection`` groups each replay's patients by the replay's own reading
    at ``select``: the like-for-like comparison. ``n`` is the group's size, the trial's beside
    the replays' own.

    Parameters
    ----------
    replay : xarray.Dataset
        A replay of the fitted patients (:func:`replay_patients`): ``pain_avg`` over
        ``(draw, patient, visit)``, points 0-10, NaN where the trial has no record.
    data : TrialData
        The patient-level data the fit was made on (its ``records`` and ``arms``).
    select, at : str
        Visits of the replay: the one whose report (0-1 or not) groups the patients, and the
        one whose mean pain is compared (the same visit by default).
    level : float
        Central interval of the replays, in (0, 1).

    Returns
    -------
    dict
        ``{arm: {group: {"n", "own_selection", "same_patients"}}}``, each an
        :func:`~prt_sim.inference.checks.interval` (observed, median, lo90, hi90, inside).
    """
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    names = [str(v) for v in replay["visit"].values]
    for field, v in (("select", select), ("at", at)):
        if v not in names:
            raise ValidationError(field, v, f"a visit of the replay {names}")
    s, t = names.index(select), names.index(at)
    arms = list(data.arms)
    rec = data.records
    if "patient" in replay.coords and "patient" in rec.coords:  # the replay's patients, in order
        rec = rec.sel(patient=replay["patient"].values)
    y = rec["pain_avg"].sel(visit=names).values.astype(float)
    arm = rec["arm"].values.astype(str)
    sims = replay["pain_avg"].values
    obs = split_means(y[:, s], y[:, t], arm, arms)
    own = [split_means(r[:, s], r[:, t], arm, arms) for r in sims]
    same = [split_means(y[:, s], r[:, t], arm, arms) for r in sims]
    return {
        a: {
            g: {
                "n": interval([o[a][g][0] for o in own], obs[a][g][0], level),
                "own_selection": interval([o[a][g][1] for o in own], obs[a][g][1], level),
                "same_patients": interval([o[a][g][1] for o in same], obs[a][g][1], level),
            }
            for g in SPLIT_GROUPS
        }
        for a in arms
    }


def contraction(idata, *, n_prior: int = 200_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Posterior SD / prior SD of every fitted population parameter of a fit, in the
    parameter's own units and on the scale the sampler moves on.

    A ratio near 1 means the data did not move the prior (the parameter is not identified by
    this fit); below 0.7 the data carry most of the information. In the parameter's units a
    right-skewed prior (log-normal, beta) can mislead both ways: a posterior pushed toward 0
    has a small SD without being narrow relative to its size, and one pushed into the long
    tail can be wider than the prior (ratio above 1) while far more certain. On the sampler's
    scale (:meth:`~prt_sim.inference.priors.Prior.unconstrained`: log, log-odds) the ratio
    compares relative spreads. Prior SDs come from ``n_prior`` draws of each prior within
    its bounds (seeded).

    Returns
    -------
    dict
        ``{name: {"prior_sd", "posterior_sd", "ratio", "prior_median", "posterior_median",
        "ratio_unconstrained"}}``.
    """
    priors, _, _ = fit_configuration(idata)
    fitted = {name: pr for name, pr in priors.items() if name in idata.posterior}
    n_prior = check_int("n_prior", n_prior, 1000, 10**8)
    draws = _prior_draws(fitted, n_prior, seed)
    out = {}
    for name, pr in fitted.items():
        post = idata.posterior[name].values.ravel()
        prior = draws[name]
        psd, qsd = float(np.std(prior)), float(np.std(post))
        pt, qt = pr.unconstrained(prior), pr.unconstrained(post)
        pt, qt = pt[np.isfinite(pt)], qt[np.isfinite(qt)]
        usd = float(np.std(pt))
        out[name] = {
            "prior_median": float(np.median(prior)),
            "posterior_median": float(np.median(post)),
            "prior_sd": psd,
            "posterior_sd": qsd,
            "ratio": qsd / psd if psd > 0 else np.nan,
            "ratio_unconstrained": float(np.std(qt)) / usd if usd > 0 else np.nan,
        }
    return out


def _prior_draws(priors, n_prior: int, seed: int) -> dict[str, np.ndarray]:
    """``n_prior`` seeded draws of each prior within its bounds, in the order of ``priors``."""
    rng = np.random.default_rng(derive_key(check_seed(seed), "contraction"))
    return {name: pr.draw(rng, n_prior) for name, pr in priors.items()}


def prior_spreads(priors, *, n_prior: int = 200_000, seed: int = 0) -> dict[str, tuple]:
    """Median and SD of each prior within its bounds, from ``n_prior`` seeded draws (in the
    order of ``priors``): the prior side of :func:`contraction`."""
    n_prior = check_int("n_prior", n_prior, 1000, 10**8)
    return {
        name: (float(np.median(d)), float(np.std(d)))
        for name, d in _prior_draws(priors, n_prior, seed).items()
    }


def with_log_likelihood(idata):
    """``idata`` with a ``log_likelihood`` group holding each patient's whole-record log
    likelihood (the fit's ``patient_loglik``, uptake mixture included), over ``(chain, draw,
    patient)``: what ``arviz.loo`` and ``arviz.compare`` read (leave one patient out)."""
    if "patient_loglik" not in idata.posterior:
        raise ValidationError(
            "idata.posterior",
            "no patient_loglik",
            "a patient-level fit (TrialModel, level='patient')",
        )
    out = idata.copy()
    ll = idata.posterior["patient_loglik"]
    if "log_likelihood" in out.groups():
        del out["log_likelihood"]
    out.add_groups(log_likelihood=xr.Dataset({"patient_loglik": ll}))
    return out


def side_by_side(fits: dict, *, level: float = 0.9) -> dict[str, dict[str, Any]]:
    """Posterior median and central ``level`` interval of every population parameter that two
    fits both estimate, and whether the intervals overlap.

    Parameters
    ----------
    fits : dict of label -> InferenceData
        Exactly two fits (e.g. ``{"arm": ..., "patient": ...}``).

    Returns
    -------
    dict
        ``{name: {label: {"median", "lo", "hi"}, "overlap": bool}}``.
    """
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    if len(fits) != 2:
        raise ValidationError("fits", list(fits), "exactly two fits to set side by side")
    (la, a), (lb, b) = fits.items()
    pa, _, _ = fit_configuration(a)
    pb, _, _ = fit_configuration(b)
    q = [(1 - level) / 2, 0.5, 1 - (1 - level) / 2]
    out = {}
    for name in [n for n in pa if n in pb and n in a.posterior and n in b.posterior]:
        row: dict[str, Any] = {}
        for label, idata in ((la, a), (lb, b)):
            lo, med, hi = np.quantile(idata.posterior[name].values.ravel(), q)
            row[label] = {"median": float(med), "lo": float(lo), "hi": float(hi)}
        row["overlap"] = bool(row[la]["lo"] <= row[lb]["hi"] and row[lb]["lo"] <= row[la]["hi"])
        out[name] = row
    return out


def _shares(ds: xr.Dataset, visit: str) -> np.ndarray:
    """Mind-brain share of a patient's coded causes at ``visit`` (records: of the coded ones;
    replays: of the three the simulator codes)."""
    k = ds["attrib_mb"].sel(visit=visit).values.astype(float)
    if "attrib_coded" in ds:
        n = ds["attrib_coded"].sel(visit=visit).values.astype(float)
        return np.where(n > 0, k / np.where(n > 0, n, 1.0), np.nan)
    return k / 3.0


def mediation_readout(ds: xr.Dataset, treated: str = "prt", controls=("placebo", "usual_care")):
    """The trial's mediation analysis as the paper ran it, on one set of patient records.

    Baseline is the mean of the eligibility and T1 visits (pain, TSK-11; attributions were
    coded at T1 only). For each control arm, product-of-coefficients mediation of the
    treatment's effect on the pain change: through the TSK-11 change and through the change in
    the mind-brain share of attributed causes, both to post, on the pain change to post; and
    the 12-month attribution mediation (attribution change to post, pain change to 12 months).
    Also the correlation of TSK-11 change with pain change to post within the treated arm.

    Parameters
    ----------
    ds : xarray.Dataset
        ``pain_avg``, ``tsk11``, ``attrib_mb`` (and for records ``attrib_coded``) over
        ``(patient, visit)`` with an ``arm`` coordinate: the trial's records or one replay.

    Returns
    -------
    dict
        ``{control: {"total_post", "indirect_tsk_post", "proportion_tsk_post",
        "indirect_mb_post", "proportion_mb_post", "total_m12", "indirect_mb_m12",
        "proportion_mb_m12"}, "r_tsk_pain_treated": float}``.
    """
    arm = ds["arm"].values.astype(str)

    def base(var):
        return np.nanmean(
            [ds[var].sel(visit=v).values.astype(float) for v in ("eligibility", "t1")], axis=0
        )

    d_pain = {v: ds["pain_avg"].sel(visit=v).values.astype(float) - base("pain_avg")
              for v in ("post", "m12")}  # fmt: skip
    d_tsk = ds["tsk11"].sel(visit="post").values.astype(float) - base("tsk11")
    d_mb = _shares(ds, "post") - _shares(ds, "t1")
    out: dict[str, Any] = {}

    def mediate(y, m, x, keep):
        ok = keep & np.isfinite(y) & np.isfinite(m)
        t, c = ok & (x == 1), ok & (x == 0)
        if t.sum() < 5 or c.sum() < 5 or np.std(m[ok]) == 0:
            return np.nan, np.nan, np.nan
        total = np.mean(y[t]) - np.mean(y[c])
        a = np.mean(m[t]) - np.mean(m[c])
        design = np.column_stack([np.ones(ok.sum()), x[ok], m[ok]])
        b = np.linalg.lstsq(design, y[ok], rcond=None)[0][2]
        return total, a * b, (a * b / total) if total != 0 else np.nan

    for ctl in controls:
        keep = (arm == treated) | (arm == ctl)
        x = (arm == treated).astype(float)
        row = {}
        total, ind, prop = mediate(d_pain["post"], d_tsk, x, keep)
        row.update(total_post=total, indirect_tsk_post=ind, proportion_tsk_post=prop)
        _, ind, prop = mediate(d_pain["post"], d_mb, x, keep)
        row.update(indirect_mb_post=ind, proportion_mb_post=prop)
        total, ind, prop = mediate(d_pain["m12"], d_mb, x, keep)
        row.update(total_m12=total, indirect_mb_m12=ind, proportion_mb_m12=prop)
        out[ctl] = {k: float(v) for k, v in row.items()}
    t = (arm == treated) & np.isfinite(d_tsk) & np.isfinite(d_pain["post"])
    out["r_tsk_pain_treated"] = (
        float(np.corrcoef(d_tsk[t], d_pain["post"][t])[0, 1]) if t.sum() > 3 else np.nan
    )
    return out


def mediation_check(replay: xr.Dataset, data, *, level: float = 0.9) -> dict[str, Any]:
    """:func:`mediation_readout` on the trial's records beside its median and central
    ``level`` interval over the replays of the fitted patients (:func:`replay_patients`)."""
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    visits = [str(v) for v in replay["visit"].values]
    obs = mediation_readout(data.records.sel(visit=visits))
    sims = [mediation_readout(replay.isel(draw=k)) for k in range(replay.sizes["draw"])]
    out: dict[str, Any] = {}
    for key, val in obs.items():
        if isinstance(val, dict):
            out[key] = {s: interval([m[key][s] for m in sims], val[s], level) for s in val}
        else:
            out[key] = interval([m[key] for m in sims], val, level)
    return out
