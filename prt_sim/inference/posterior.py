"""From posterior draws to simulator inputs: parameters, cohorts and protocols of each draw.

A fit (``arviz.InferenceData`` from :meth:`prt_sim.TrialModel.fit`) carries its configuration
(priors, fixed parameters, cohort spec) and the trial design in its attrs, so everything that
simulates under a posterior (posterior predictive checks, mediation, forecasts) starts here:
:func:`posterior_inputs` turns draws into :class:`~prt_sim.model.params.ModelParams`, a
:class:`~prt_sim.model.cohorts.CohortSpec` per arm and the self-guided scale;
:func:`replicates` simulates trial replicates with them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..model.cohorts import Cohort, CohortSpec
from ..model.params import ModelParams
from ..model.protocols import Protocol, SelfGuided
from ..model.rng import MAX_SEED, derive_key
from ..model.timeline import Visit
from .priors import Prior, validate_priors

__all__ = [
    "spaced_draws",
    "fit_configuration",
    "posterior_inputs",
    "trial_design",
    "design_visits",
    "scale_self_guided",
    "replicates",
    "simulate_arm",
    "ARM_ID_STRIDE",
]

#: Patient ids of arm ``a`` of a replicate start at ``a * ARM_ID_STRIDE``: arms never share
#: patients, and an arm's patients do not depend on which other arms are simulated.
ARM_ID_STRIDE = 10**6


def spaced_draws(total: int, n: int) -> np.ndarray:
    """``min(n, total)`` flat draw indices evenly spaced over ``total`` (chains x draws)."""
    return np.linspace(0, total - 1, min(n, total)).round().astype(int)


def fit_configuration(idata) -> tuple[dict[str, Prior], ModelParams, CohortSpec]:
    """The priors, fixed parameters and cohort spec a fit was made with (from its attrs)."""
    if "config" not in idata.attrs:
        raise ValidationError(
            "idata.attrs['config']", None, "InferenceData from TrialModel.fit or sample_prior"
        )
    config = json.loads(idata.attrs["config"])
    priors = validate_priors({k: Prior(**v) for k, v in config["priors"].items()})
    params = ModelParams.from_dict(config["params"])
    s = dict(config["spec"])
    if "correlation" in s:
        s["correlation"] = tuple(tuple(r) for r in s["correlation"])
    return priors, params, CohortSpec.from_dict(s)


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
    if priors is None or params is None or spec is None:
        cfg = fit_configuration(idata)
        priors = cfg[0] if priors is None else priors
        params = cfg[1] if params is None else params
        spec = cfg[2] if spec is None else spec
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
        # An arm's baseline offset (a few tenths of a point) can take a draw of pain_mean near
        # the bottom of its range below 0 (a prior draw, in practice): the arm's mean is then
        # held at the range's bottom, the nearest steady pain a cohort can have.
        lo, hi = CohortSpec.field_range("pain_mean")
        specs = {
            a: sp.replace(pain_mean=float(min(hi, max(lo, sp.pain_mean + off[k, j]))))
            for j, a in enumerate(arms)
        }
        out.append((params.replace(**pvals), specs, scale[0] if scale else 1.0))
    return out


def design_visits(data) -> tuple[tuple[Visit, ...], dict[str, dict[str, float]]]:
    """The visits a replicate of ``data`` observes (composite parts included) and, per arm, each
    visit's observed response rate (n observed / n randomized; 1 where not reported)."""
    s = data.summaries if data.level == "arm" else data.to_summaries()
    comp = data.composite_visits or {}
    visits = data.simulated_visits()
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


def trial_design(data) -> dict[str, Any]:
    """What predictions need to know about a trial, as JSON: arms, protocols, randomized n,
    visit days and each visit's observed response rate per arm (stored in fit attrs)."""
    visits, responses = design_visits(data)
    return {
        "arms": list(data.arms),
        "protocols": {a: p.to_dict() for a, p in data.protocols.items()},
        "n_randomized": {a: int(n) for a, n in data.n_randomized.items()},
        "visit_days": {v.name: int(v.day) for v in visits},
        "responses": responses,
        "source": data.source,
    }


def scale_self_guided(p: Protocol, scale: float) -> Protocol:
    """A protocol whose self-guided doses are multiplied by ``scale`` (the fitted engagement),
    each capped at the allowed 1 session/day."""
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


def simulate_arm(cohort, protocol: Protocol, scale: float, horizon: int, seed: int, params,
                 visits):  # fmt: skip
    """One arm of a trial replicate: ``cohort`` under ``protocol`` (self-guided doses scaled by
    the fitted engagement ``scale``) to study day ``horizon``, instruments at ``visits``."""
    from ..simulation import simulate

    return simulate(cohort, scale_self_guided(protocol, scale), horizon_days=horizon, seed=seed,
                    params=params, visits=visits, record="instruments")  # fmt: skip


def replicates(
    idata,
    data,
    *,
    n_draws: int,
    seed: int,
    progress: bool = False,
    desc: str = "replicates",
) -> Iterator[tuple[int, int, int, int, Any]]:
    """Trial replicates under posterior draws, with the full stochastic simulator.

    For ``n_draws`` draws evenly spaced over chains and draws, each arm of ``data`` is simulated
    at its randomized size, on ``data``'s visits with their observed response rates.

    Yields
    ------
    (k, chain, draw, arm index, SimulationResult)
    """

    post = idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, n_draws)
    chains, draws = flat // post.sizes["draw"], flat % post.sizes["draw"]
    visits, responses = design_visits(data)
    horizon = max(v.day for v in visits)
    inputs = posterior_inputs(idata, flat)
    it = range(len(flat))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=desc, unit="draw")
    for k in it:
        params, specs, scale = inputs[k]
        dseed = derive_key(seed, "ppc", int(flat[k])) % MAX_SEED
        for a, arm in enumerate(data.arms):
            cohort = Cohort.from_trial_baseline(
                int(data.n_randomized[arm]),
                seed=dseed,
                spec=specs[arm],
                params=params,
                id_offset=a * ARM_ID_STRIDE,
            )
            arm_visits = tuple(
                dataclasses.replace(v, response=responses[arm][v.name]) for v in visits
            )
            res = simulate_arm(
                cohort, data.protocols[arm], scale, horizon, dseed, params, arm_visits
            )
            yield k, int(chains[k]), int(draws[k]), a, res
