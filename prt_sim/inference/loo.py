"""Leave one patient out with the patient's own random effects integrated out.

PSIS-LOO on a patient-level fit's ``patient_loglik`` scores each patient's records given that
patient's fitted random effects. Those are estimated from the very records being left out, so
the importance weights are heavy-tailed (Pareto k above 0.7 for most patients of the public
data) and the estimate is unreliable. :func:`integrated_log_likelihood` instead computes, for
each posterior draw of the population parameters, the probability of a patient's whole record
with that patient's random effects (steady pain, education efficacy, placebo response)
integrated out, the other trait draws held at the fit's values as the fitted model holds
them: importance sampling over candidate patients, each scored by the fit's own PyMC
likelihood (:func:`~prt_sim.inference.patient_model.likelihood_function`), the random effects
drawn around the patient's fitted values and weighted back to the population. PSIS-LOO on
that (``arviz.loo``) leaves out only the population parameters' dependence on one patient,
which is weak; its Pareto k diagnostics are reported with it.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from scipy import stats
from scipy.special import logsumexp

from ..errors import check_int
from ..io import provenance
from ..model.rng import check_seed, derive_key, uniform_matrix

__all__ = ["integrated_log_likelihood"]


def _replicated(data, copies: int):
    """``data`` with every patient's records repeated ``copies`` times (copy-major order)."""
    from ..data import TrialData

    rec = data.records
    n = rec.sizes["patient"]
    many = xr.concat([rec] * copies, dim="patient").assign_coords(patient=np.arange(n * copies))
    return TrialData(
        arms=tuple(data.arms),
        protocols=dict(data.protocols),
        visits=data.visits,
        records=many,
        composite_visits=data.composite_visits,
        source=f"{data.source}: {copies} candidates per patient",
    )


def integrated_log_likelihood(
    idata,
    data,
    *,
    n_draws: int = 400,
    n_effects: int = 128,
    seed: int = 0,
    progress: bool = False,
):
    """Each patient's log probability of their whole record under each posterior draw of the
    population, with their random effects integrated out.

    Parameters
    ----------
    idata : arviz.InferenceData
        A patient-level fit (:class:`~prt_sim.inference.trial_model.TrialModel`,
        ``level="patient"``).
    data : TrialData
        The patient-level data it was fitted to (the same patients).
    n_draws : int
        Posterior draws (evenly spaced over chains and draws), 2-100000.
    n_effects : int
        Candidate patients per patient and draw over which the random effects are
        integrated, 8-4096. The Monte Carlo estimate of a log probability is biased
        down by about half the relative variance of the candidates' likelihoods; the
        ``candidate_ess`` returned says how many candidates carried each estimate.
    seed : int
        Seed of the candidates (same seed, same result).
    progress : bool
        Show a progress bar over draws.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (the selected draws of the population parameters),
        ``log_likelihood["patient_loglik"]`` over ``(chain, draw, patient)`` (one chain: the
        selected draws), for ``arviz.loo`` and ``arviz.compare``; ``sample_stats
        ["candidate_ess"]``, the effective number of candidates behind each value. Attrs:
        provenance (seed, settings, the fit's configuration hash).
    """
    import arviz as az

    from ..data.uptake import start_probabilities
    from .patient_checks import check_patient_fit
    from .patient_model import (
        build_patient_model,
        likelihood_function,
        patient_records,
        random_effects,
    )
    from .posterior import fit_configuration, spaced_draws

    n_draws = check_int("n_draws", n_draws, 2, 100_000)
    n_effects = check_int("n_effects", n_effects, 8, 4096)
    seed = check_seed(seed)
    check_patient_fit(idata, data)
    post = idata.posterior
    patients = data.records["patient"].values
    priors, params, spec = fit_configuration(idata)
    cfg = json.loads(idata.attrs["config"])
    n_pat = len(patients)
    # Every candidate keeps its patient's own draws of the traits that are not random effects:
    # the fitted model holds them fixed, so only the random effects are integrated out.
    own = patient_records(data, spec, int(cfg.get("agent_seed", 0))).std
    tiled = {k: np.tile(np.asarray(v), n_effects) if np.ndim(v) else v for k, v in own.items()}
    # ... and its own probability of having started treatment (from the whole data's counts).
    started = np.tile(start_probabilities(data), n_effects)
    model = build_patient_model(_replicated(data, n_effects), priors=priors, params=params,
                                spec=spec, max_dt=int(cfg.get("max_dt", 7)),
                                trait_draws=tiled, start_prob=started).model  # fmt: skip
    names = list(priors)
    loglik = likelihood_function(model, names)
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, n_draws)
    theta = {n: post[n].transpose("chain", "draw").values.reshape(-1)[flat] for n in names}
    # Importance sampling of the random effects: candidates around each patient's posterior
    # (mean, 1.5 x SD within 0.05-1, the population's SD), weighted back to the population's
    # standard normal. Plain draws from the population leave one or two candidates carrying
    # a patient with sixteen visits.
    effects = random_effects(idata)
    loc = np.stack([post[e].mean(("chain", "draw")).values for e in effects])  # [effect, patient]
    scale = np.stack([np.clip(1.5 * post[e].std(("chain", "draw")).values, 0.05, 1.0)
                      for e in effects])  # fmt: skip
    loc_c, scale_c = np.tile(loc, n_effects), np.tile(scale, n_effects)  # copy-major
    ids = np.arange(n_pat * n_effects, dtype=np.uint64)
    out = np.empty((len(flat), n_pat))
    ess = np.empty((len(flat), n_pat))
    it = range(len(flat))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="integrated log likelihood", unit="draw")
    for k in it:
        key = np.uint64(derive_key(seed, "loo", int(flat[k])) % 2**64)
        e = stats.norm.ppf(
            np.clip(uniform_matrix(key, ids, np.arange(len(effects))), 1e-12, 1 - 1e-12)
        )
        z = loc_c + scale_c * e
        log_w = (stats.norm.logpdf(z) - stats.norm.logpdf(e) + np.log(scale_c)).sum(0)
        ll = np.asarray(loglik(*[theta[n][k] for n in names], *z), float) + log_w
        ll = ll.reshape(n_effects, n_pat)  # copy-major
        out[k] = logsumexp(ll, axis=0) - np.log(n_effects)
        w = np.exp(ll - ll.max(axis=0))
        ess[k] = w.sum(0) ** 2 / (w**2).sum(0)
    coords = {"chain": [0], "draw": np.arange(len(flat)), "patient": patients}
    dims = ("chain", "draw", "patient")
    config = {"n_draws": len(flat), "n_effects": n_effects,
              "fit_config_hash": idata.attrs.get("config_hash"), "data_source": data.source}  # fmt: skip
    attrs = provenance("integrated_log_likelihood", seed, config)
    return az.InferenceData(
        posterior=xr.Dataset({n: (("chain", "draw"), v[None]) for n, v in theta.items()},
                             coords={"chain": [0], "draw": np.arange(len(flat))}, attrs=attrs),
        log_likelihood=xr.Dataset({"patient_loglik": (dims, out[None])}, coords=coords,
                                  attrs=attrs),
        sample_stats=xr.Dataset({"candidate_ess": (dims, ess[None])}, coords=coords,
                                attrs=attrs),
    )  # fmt: skip
