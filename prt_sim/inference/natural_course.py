"""The natural-course check: an untreated cohort simulated for years under posterior draws, its trajectories classified as the cohort studies did.

External cohorts of chronic back pain followed for years without an effective treatment
(``../shared/notes/natural_course.md``) found a mix of trajectories: most people's pain stable
(mild, moderate or severe), a large group fluctuating across the moderate-pain line, a minority
improving gradually. :func:`natural_course` simulates trial-like patients with no treatment at
all for ``years`` years under posterior draws, assessed every 6 months (as the HUNT pain
study's 8 waves over 4 years), and :func:`classify_trajectories` sorts each patient's series
into :data:`TRAJECTORY_CLASSES` by the rules documented there. The published shares come from
latent-class growth models, not these rules: read the comparison as a range check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import check_int, check_range
from ..model.rng import MAX_SEED, check_seed, derive_key
from .posterior import posterior_inputs, spaced_draws

__all__ = [
    "TRAJECTORY_CLASSES",
    "GLETTE_2020_SHARES",
    "classify_trajectories",
    "natural_course",
]

#: Trajectory classes, in the order the rules are applied.
TRAJECTORY_CLASSES = (
    "gradual_improvement",
    "worsening",
    "fluctuating",
    "persistent_mild",
    "persistent_moderate",
    "persistent_severe",
)

#: Glette et al., J Pain 2020;21:689 (HUNT, 1,905 adults with pain >= 6 months, 8 waves over
#: 4 years): shares of their five latent classes (no worsening class was found).
GLETTE_2020_SHARES = {
    "fluctuating": 0.31,
    "persistent_mild": 0.24,
    "persistent_moderate": 0.22,
    "persistent_severe": 0.13,
    "gradual_improvement": 0.11,
    "worsening": 0.0,
}


def classify_trajectories(pain: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The class of each patient's series of weekly-recall pain (0-10 points).

    Rules, applied in order: a least-squares slope of at most -0.4 points/year with the last
    two assessments' mean at least 1.5 points below the first two's is **gradual
    improvement**; the mirror image is **worsening**; a series that crosses the moderate-pain
    line (at least one assessment <= 3 and one >= 5) at least twice is **fluctuating**; the
    rest is **persistent** mild (mean < 4), moderate (4 to < 6.5) or severe (>= 6.5).

    Parameters
    ----------
    pain : float[n, W]
        Pain at ``W`` >= 4 assessments per patient (NaN: missing; a patient needs 4 or more).
    years : float[W]
        Time of each assessment, years.

    Returns
    -------
    numpy.ndarray of str
        One of :data:`TRAJECTORY_CLASSES` per patient ("" for too few assessments).
    """
    pain = np.asarray(pain, float)
    years = np.asarray(years, float)
    out = np.full(pain.shape[0], "", dtype=object)
    for i, y in enumerate(pain):
        ok = np.isfinite(y)
        if ok.sum() < 4:
            continue
        t, v = years[ok], y[ok]
        slope = np.polyfit(t, v, 1)[0]
        change = v[-2:].mean() - v[:2].mean()
        low, high = v <= 3, v >= 5
        # a crossing: a move between the low and the high zone (skipping the middle)
        zone = np.where(low, -1, np.where(high, 1, 0))
        zone = zone[zone != 0]
        crossings = int(np.sum(zone[1:] != zone[:-1]))
        if slope <= -0.4 and change <= -1.5:
            out[i] = "gradual_improvement"
        elif slope >= 0.4 and change >= 1.5:
            out[i] = "worsening"
        elif crossings >= 2:
            out[i] = "fluctuating"
        elif v.mean() < 4:
            out[i] = "persistent_mild"
        elif v.mean() < 6.5:
            out[i] = "persistent_moderate"
        else:
            out[i] = "persistent_severe"
    return out


def natural_course(
    idata,
    *,
    years: float = 4.0,
    n_patients: int = 500,
    n_draws: int = 50,
    seed: int = 0,
    level: float = 0.9,
) -> dict[str, Any]:
    """Untreated trial-like patients followed for ``years`` years under posterior draws.

    Each draw's fitted population (:func:`~prt_sim.inference.posterior.posterior_inputs`, the
    first arm's) gives ``n_patients`` patients who get no treatment at all; the full simulator
    records their weekly-recall pain every 6 months from post, and
    :func:`classify_trajectories` sorts them.

    Parameters
    ----------
    idata : arviz.InferenceData
        A fit (:meth:`prt_sim.TrialModel.fit`).
    years : float
        Follow-up, 2-20 years.
    n_patients, n_draws : int
        Patients per draw (10-100000) and posterior draws (1-10000).
    seed : int
        Seed of the cohorts and simulations.
    level : float
        Central interval over draws, in (0, 1).

    Returns
    -------
    dict
        ``shares``: per class, median and interval over draws of the share of patients;
        ``published``: :data:`GLETTE_2020_SHARES`; ``mean_pain_change``: median and interval
        of the cohort's mean change from the first to the last assessment; settings.
    """
    from ..model.cohorts import Cohort
    from ..model.protocols import NoTreatment
    from ..model.timeline import Visit
    from ..simulation import simulate

    years = check_range("years", years, 2.0, 20.0)
    n_patients = check_int("n_patients", n_patients, 10, 100_000)
    n_draws = check_int("n_draws", n_draws, 1, 10_000)
    seed = check_seed(seed)
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    post = idata.posterior
    flat = spaced_draws(post.sizes["chain"] * post.sizes["draw"], n_draws)
    waves = np.arange(0.0, years + 1e-9, 0.5)
    visits = tuple(Visit(name=f"y{w:g}", day=30 + int(round(w * 365.25))) for w in waves)
    shares = {c: [] for c in TRAJECTORY_CLASSES}
    change = []
    for k, (params, specs, _) in enumerate(posterior_inputs(idata, flat)):
        spec = next(iter(specs.values()))
        dseed = derive_key(seed, "natural_course", int(flat[k])) % MAX_SEED
        cohort = Cohort.from_trial_baseline(n_patients, seed=dseed, spec=spec, params=params)
        res = simulate(cohort, NoTreatment(), horizon_days=visits[-1].day, seed=dseed,
                       params=params, visits=visits, record="instruments")  # fmt: skip
        pain = res.instruments["pain_avg"].values.astype(float)
        cls = classify_trajectories(pain, waves)
        for c in TRAJECTORY_CLASSES:
            shares[c].append(float(np.mean(cls == c)))
        change.append(float(np.nanmean(pain[:, -1]) - np.nanmean(pain[:, 0])))
    q = [(1 - level) / 2, 0.5, 1 - (1 - level) / 2]

    def band(v):
        lo, med, hi = np.quantile(np.asarray(v, float), q)
        return {"median": float(med), "lo": float(lo), "hi": float(hi)}

    return {
        "shares": {c: band(v) for c, v in shares.items()},
        "published": dict(GLETTE_2020_SHARES),
        "mean_pain_change": band(change),
        "years": years,
        "waves": len(waves),
        "n_patients": n_patients,
        "n_draws": len(flat),
        "level": level,
    }
