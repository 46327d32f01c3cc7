"""The forecast itself: posterior draws x arms x scenarios simulated for years by the full stochastic simulator.

:func:`forecast` takes a fitted posterior (``arviz.InferenceData`` from
:meth:`prt_sim.TrialModel.fit`) and, for each arm (or user protocol) and each
:class:`~prt_sim.forecasting.scenarios.Scenario`, simulates patients day by day with flare-ups,
fading safety learning, reinstatement and everyday exposure. Chunks of posterior draws run
through the calendar runner (:mod:`prt_sim.runner`) in one parallel kernel; only monthly
assessments are kept, and they are reduced to per-draw summaries chunk by chunk
(:mod:`prt_sim.forecasting.summaries`), so memory is bounded by the summaries, not by the daily
history.

Scenarios share patients and random numbers (common random numbers): within a posterior draw
and arm, every scenario simulates the same patients with the same flare-ups and noise, so
differences between scenarios are the scenario's effect, not sampling noise. Treatment taken up
after the trial (:class:`~prt_sim.forecasting.uptake.Uptake`) is drawn per patient from the
draw's seed, so the same patients take it up in every scenario that has the same uptake.
"""

from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr

from ..errors import ValidationError, check_int, check_range
from ..io import load_dataset, save_dataset
from ..model.rng import MAX_SEED, check_seed, derive_key
from ..runner import make_draws, make_observations, run, stack_patients
from .design import Plan, make_plan
from .scenarios import DEFAULT_SCENARIOS, RelapseRule, resolve_scenarios
from .summaries import KIND, LATENT_ROWS, SUBGROUPS, allocate, reduce, to_dataset
from .uptake import uptake_key

__all__ = ["forecast", "save_forecast", "load_forecast"]


def forecast(
    idata,
    protocols=None,
    *,
    model=None,
    scenarios=DEFAULT_SCENARIOS,
    horizon_years: float = 5.0,
    n_patients: int | None = None,
    cohort=None,
    n_draws: int = 500,
    seed: int = 0,
    response: str | float = "trial",
    relapse: RelapseRule | None = None,
    group: str = "posterior",
    chunk_patients: int = 100_000,
    progress: bool | None = None,
) -> xr.Dataset:
    """Forecast pain, relief and relapse for years under posterior draws (full simulator).

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior from :meth:`prt_sim.TrialModel.fit`.
    protocols : None, sequence or mapping, optional
        What to forecast. None (default): the fitted trial's arms with their protocols (usual
        care gets its workbook and website after post, as in the trial). A sequence of arm names,
        built-in protocol names or :class:`~prt_sim.model.protocols.Protocol` objects, or a mapping
        label -> protocol. Protocols that are not a trial arm use the pooled cohort (no arm
        offset) and the arms' mean response rates.
    model : TrialModel, optional
        The model that produced ``idata`` (default: its configuration is read from
        ``idata.attrs``).
    scenarios : sequence of Scenario or names
        Applied to every arm (default ``("as_randomized", "boosters", "no_treatment")``;
        built-ins in :data:`SCENARIOS`).
    horizon_years : float
        Years after post to forecast, 1/12 to 50 (monthly assessments).
    n_patients : int, optional
        Patients per posterior draw and arm, 1-100000. Default: each arm's randomized size,
        so the bands are what a trial arm of the original size would observe (posterior
        uncertainty, sampling of patients, measurement noise).
    cohort : CohortSpec, dict, records or RecordsCohort, optional
        Who is forecast (default: each trial arm's fitted population). A
        :class:`~prt_sim.model.cohorts.CohortSpec`: the fields that differ from the fit's
        population are set for the forecast (say ``cat_mean=0.35``: a more catastrophizing
        population), the others follow each posterior draw; a dict of such fields does the same.
        Records (a mapping of columns or a DataFrame, as :meth:`prt_sim.Cohort.from_records`
        takes, or a :class:`~prt_sim.forecasting.RecordsCohort` with offsets): those patients,
        the same ones in every arm, rebuilt under each draw.
    n_draws : int
        Posterior draws used (evenly spaced over chains and draws), 1-100000; at most the
        draws the fit has (the Dataset's ``draw`` dimension says how many were used).
    seed : int
        Seed of cohorts, simulation and measurement; same seed, same forecast, whatever
        ``chunk_patients`` or the number of threads.
    response : "trial" or float
        Probability an assessment is observed: the trial's per-arm rate of the latest visit
        (carried forward after 12 months) or a fixed probability, 0-1.
    relapse : RelapseRule, optional
        The relapse definition (default :class:`RelapseRule()`).
    group : {"posterior", "prior"}
        Which draws of ``idata`` to use ("prior": :meth:`TrialModel.sample_prior`).
    chunk_patients : int
        Patients simulated per kernel call, 1000-10**8: memory is bounded by this (or by one
        draw's patients when those alone are more).
    progress : bool, optional
        Progress bar (default: when more than 5e7 patient-days).

    Returns
    -------
    xarray.Dataset
        Over ``(draw, arm, scenario, time)``: ``mean_pain``, ``pain_free``, ``pain_free_itt``,
        ``reduction30``, ``reduction50``, ``relapsed``, ``responders_pain_free``,
        ``pain_free_days_per_year``, ``latent_pain``, ``belief``, ``fear``, ``avoidance``,
        ``catastrophizing`` (definitions in each variable's attrs and ``docs/forecasting.md``);
        ``relapse_median_years``, ``n_at_risk`` and ``uptake_share`` (the share of the arm's
        patients who took up treatment after the trial, :class:`~prt_sim.forecasting.Uptake`)
        over ``(draw, arm, scenario)``;
        ``subgroup_mean_pain``, ``subgroup_pain_free``, ``subgroup_relapsed`` over
        ``(draw, arm, scenario, subgroup, time)`` and ``subgroup_share`` over
        ``(draw, arm, scenario, subgroup)``.
        Coordinates: ``time`` (years after post), ``day`` and ``visit`` on ``time``;
        ``source_chain``/``source_draw`` on ``draw``. Attrs: provenance (version, config JSON,
        seed). Bands: :func:`forecast_bands`.
    """
    seed = check_seed(seed)
    n_draws = check_int("n_draws", n_draws, 1, 100_000)
    horizon_years = check_range("horizon_years", horizon_years, 1 / 12, 50.0)
    chunk_patients = check_int("chunk_patients", chunk_patients, 1000, 10**8)
    relapse = relapse or RelapseRule()
    if not isinstance(relapse, RelapseRule):
        raise ValidationError("relapse", relapse, "a prt_sim.forecasting.RelapseRule")
    scens = resolve_scenarios(scenarios)
    plan = make_plan(
        idata,
        protocols,
        model=model,
        scenarios=scens,
        horizon_years=horizon_years,
        n_patients=n_patients,
        n_draws=n_draws,
        seed=seed,
        response=response,
        relapse=relapse,
        group=group,
        cohort=cohort,
    )
    n_d, n_a, n_s, n_k = len(plan.flat), len(plan.arms), plan.n_s, len(plan.visits)
    out = allocate(n_d, n_a, n_s, n_k)
    draws_per_chunk = max(1, chunk_patients // (n_a * n_s * max(plan.sizes)))
    n_days = plan.calendars.education.shape[1]
    total_days = sum(plan.sizes) * n_s * n_d * n_days
    show = progress if progress is not None else total_days > 5e7
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_d, desc="forecast (full simulator)", unit="draw")
    try:
        for lo in range(0, n_d, draws_per_chunk):
            hi = min(n_d, lo + draws_per_chunk)
            _run_chunk(plan, lo, hi, out)
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()

    fit_config = model.config() if model is not None else json.loads(idata.attrs["config"])
    config = {
        "fit_config": fit_config,
        "fit_config_hash": idata.attrs.get("config_hash"),
        "design_source": (
            model.data.source
            if model is not None
            else json.loads(idata.attrs["design"]).get("source")
        ),  # fmt: skip
        "arms": {label: p.to_dict() for label, p, _ in plan.arms},
        "trial_arm": {label: a for label, _, a in plan.arms},
        "scenarios": [s.to_dict() for s in scens],
        "horizon_years": horizon_years,
        "n_patients": dict(zip([a[0] for a in plan.arms], plan.sizes)),
        "cohort": {
            "spec_overrides": plan.spec_overrides,
            "records": None if plan.records is None else plan.records.name,
        },
        "n_draws": n_d,
        "group": group,
        "response": response,
        "relapse": relapse.to_dict(),
        "subgroups": [list(s) for s in SUBGROUPS],
    }
    post = idata[group]
    chains, draws = plan.flat // post.sizes["draw"], plan.flat % post.sizes["draw"]
    return to_dataset(out, plan.arms, scens, plan.visits, plan.years, chains, draws, seed, config)


def _run_chunk(plan: Plan, lo: int, hi: int, out: dict[str, np.ndarray]) -> None:
    """Simulate posterior draws ``lo:hi`` and reduce them into ``out``."""
    parts, bases = [], []
    params_rows, seeds, scales = [], [], []
    restart = []  # per patient: checkpoint after which a taker's course starts, or -1
    for r, k in enumerate(range(lo, hi)):
        params, specs, scale = plan.inputs[k]
        # The same derivation as the posterior predictive: draw k's simulation is exactly
        # ``simulate(cohort, protocol, seed=dseed, params=params)``.
        dseed = derive_key(plan.seed, "forecast", int(plan.flat[k])) % MAX_SEED
        params_rows.append(params)
        seeds.append(dseed)
        scales.append(scale)
        for a in range(len(plan.arms)):
            c = plan.cohort(a, params, specs, dseed)
            c_traits, c_state = c.trait_table(), c.state_table()
            for s in range(plan.n_s):  # every scenario simulates these same patients
                # takers of treatment after the trial run on their month's calendar
                group, after = _takers(plan, k, a, s, c.patient_id, dseed, a * plan.n_s + s)
                parts.append((c_traits, c_state, c.patient_id, r, group))
                restart.append(after)
                out["uptake_share"][k, a, s] = np.mean(after >= 0)
            bases.append(c.baseline)
    batch = stack_patients(parts, count_pain_free=True)
    restart = np.concatenate(restart)
    starts = {int(j): np.flatnonzero(restart == j) for j in np.unique(restart[restart >= 0])}
    n = len(batch.pid)
    obs = make_observations(n, len(plan.visits), questionnaires=False, latent=LATENT_ROWS)
    pf_at = np.zeros((len(plan.visits), n), dtype=np.int64)

    def snapshot(j: int) -> None:
        pf_at[j] = batch.pain_free_days
        if j in starts:
            # Takers whose course starts tomorrow are in treatment from then on, whatever they
            # did in the trial (declined, dropped out): seeking help later is a new decision.
            batch.treating[starts[j]] = True

    run(
        batch,
        plan.calendars,
        make_draws(params_rows, seeds, scales),
        plan.visits,
        plan.response,
        obs,
        on_visit=snapshot,
    )
    reduce(plan, obs, pf_at, lo, hi, bases, out)


def _takers(plan: Plan, k: int, a: int, s: int, pids, dseed: int, g: int):
    """Calendar row of each patient of draw ``k``, arm ``a`` and scenario ``s`` (``g``, or the
    calendar of the month in which they take up treatment after the trial), and the checkpoint
    after which their course starts (-1: none)."""
    n = len(pids)
    if (a, s) not in plan.uptake_rows:
        return np.full(n, g, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    up, first = plan.uptake_rows[(a, s)]
    month = up.start_months(plan.arms[a][0], pids, uptake_key(dseed), protocol=plan.arms[a][1].name)
    take = month >= 0
    group = np.where(take, first + (month - up.start_month), g)
    # month m's course starts the day after the m-month checkpoint (post is month 0)
    return group.astype(np.int64), np.where(take, plan.k_post + month, -1).astype(np.int64)


def save_forecast(ds: xr.Dataset, path: str | os.PathLike):
    """Write a forecast Dataset to netCDF atomically (lossless; attrs keep provenance)."""
    return save_dataset(ds, path)


def load_forecast(path: str | os.PathLike) -> xr.Dataset:
    """Load a forecast written by :func:`save_forecast` (fully into memory).

    Raises
    ------
    DataFormatError
        The file is missing, damaged, not netCDF or not a forecast; the message names the
        file. Warns (:class:`~prt_sim.errors.VersionWarning`) when another version wrote it.
    """
    return load_dataset(path, KIND)
