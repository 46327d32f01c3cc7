"""Checks of a fit against a trial, as functions of its InferenceData: posterior predictive replicates, the PPC table, mediation.

Every fit the library offers gets the same checks: :func:`posterior_predictive` replicates the
trial with the full stochastic simulator under posterior draws (each arm at its randomized size,
the trial's visits and missing visits, measurement noise) and summarises each replicate like the
published figures; :func:`ppc_table` sets them beside the observed figures; :func:`mediation`
reads the treatment's effect through fear and attributions off such replicates. The report and
:class:`~prt_sim.inference.trial_model.TrialModel` call these; nothing re-implements them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import ValidationError, check_int, check_range
from ..io import provenance
from ..model.instruments import INSTRUMENTS, PAIN_FREE_MAX
from ..model.rng import check_seed
from .posterior import design_visits, replicates

__all__ = [
    "PPC_STATS",
    "PPC_MEASURES",
    "arm_stats",
    "posterior_predictive",
    "ppc_table",
    "ppc_rows",
    "ppc_coverage",
    "interval",
    "mediation",
    "mediation_one",
]

#: What each replicate records per arm and visit (the published figures' statistics).
PPC_STATS = (
    "pain_mean",
    "pain_sd",
    "pain_free_share",
    "pain_free_itt",
    "tsk11_mean",
    "pcs_mean",
    "odi_mean",
    "mind_brain_share",
)
#: Rows of :func:`ppc_table`: predicted statistic -> observed summary variable (None: the pain
#: 0-1 shares, computed from the responder counts).
PPC_MEASURES = {
    "pain_mean": "pain_avg_mean",
    "pain_free_share": None,
    "pain_free_itt": None,
    "tsk11_mean": "tsk11_mean",
    "pcs_mean": "pcs_mean",
    "odi_mean": "odi_mean",
}


def arm_stats(ins: xr.Dataset, visit: str, composite: dict) -> dict[str, float]:
    """Published-style summaries of one simulated arm at one (possibly composite) visit: mean
    and SD of observed pain, the pain 0-1 share among the observed and among all (missing = not
    pain-free), TSK-11, PCS, Oswestry means and the mind-brain share of causes."""
    parts = composite.get(visit, (visit,))
    pain = np.mean([ins["pain_avg"].sel(visit=p).values for p in parts], axis=0)
    obs = np.isfinite(pain)
    n = len(pain)
    out = {
        "pain_mean": float(np.mean(pain[obs])) if obs.any() else np.nan,
        "pain_sd": float(np.std(pain[obs], ddof=1)) if obs.sum() > 1 else np.nan,
        "pain_free_share": float(np.mean(pain[obs] <= PAIN_FREE_MAX)) if obs.any() else np.nan,
        "pain_free_itt": float(np.sum(pain[obs] <= PAIN_FREE_MAX) / n),
    }
    for stat, var in (
        ("tsk11_mean", "tsk11"),
        ("pcs_mean", "pcs"),
        ("odi_mean", "odi"),
        ("mind_brain_share", "attrib_mb"),
    ):
        vals = np.mean([ins[var].sel(visit=p).values for p in parts], axis=0)
        ok = np.isfinite(vals)
        scale = 1.0 / INSTRUMENTS["attrib_mb"].hi if var == "attrib_mb" else 1.0
        out[stat] = float(np.mean(vals[ok]) * scale) if ok.any() else np.nan
    return out


def posterior_predictive(
    idata, data, *, n_draws: int = 200, seed: int = 0, progress: bool = False
) -> xr.Dataset:
    """Trial replicates with the full stochastic simulator under posterior draws, summarised
    like the published figures (:data:`PPC_STATS`).

    Parameters
    ----------
    idata : arviz.InferenceData
        A fit (its attrs carry the configuration).
    data : TrialData
        The trial whose arms, visits and response rates the replicates follow.
    n_draws : int
        Posterior draws to replicate (evenly spaced over chains and draws), 1-100000.
    seed : int
        Seed of the replicates (same seed, same result).
    progress : bool
        Show a progress bar.

    Returns
    -------
    xarray.Dataset
        Over ``(chain, draw, arm, visit)`` (one chain); coordinates ``day`` and the source
        ``source_chain`` / ``source_draw`` of each replicate.
    """
    n_draws = check_int("n_draws", n_draws, 1, 100_000)
    seed = check_seed(seed)
    comp = data.composite_visits or {}
    visits, _ = design_visits(data)
    names = [v.name for v in visits] + [c for c in comp if c not in {v.name for v in visits}]
    post = idata.posterior
    n_rep = min(n_draws, post.sizes["chain"] * post.sizes["draw"])
    out = {s: np.full((1, n_rep, len(data.arms), len(names)), np.nan) for s in PPC_STATS}
    src = np.zeros((2, n_rep), dtype=int)
    for k, c, d, a, res in replicates(
        idata,
        data,
        n_draws=n_draws,
        seed=seed,
        progress=progress,
        desc="posterior predictive (full simulator)",
    ):
        src[:, k] = c, d
        for j, name in enumerate(names):
            for st, val in arm_stats(res.instruments, name, comp).items():
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
    return ds


def interval(values, observed: float, level: float = 0.9) -> dict[str, Any]:
    """The observed value beside the median and central ``level`` interval of ``values`` (finite
    ones), and whether it falls inside."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"observed": observed, "median": np.nan, "lo90": np.nan, "hi90": np.nan,
                "inside": False}  # fmt: skip
    lo, med, hi = np.quantile(v, [(1 - level) / 2, 0.5, 1 - (1 - level) / 2])
    return {
        "observed": float(observed),
        "median": float(med),
        "lo90": float(lo),
        "hi90": float(hi),
        "inside": bool(lo <= observed <= hi),
    }


def ppc_table(idata, data, *, level: float = 0.9) -> list[dict[str, Any]]:
    """Observed against predicted, per arm and visit of ``data`` that the replicates cover.

    Each row holds ``arm``, ``visit``, ``day`` and, for each of :data:`PPC_MEASURES` observed
    there, ``{observed, median, lo90, hi90, inside}`` from :func:`interval` over the
    ``posterior_predictive`` group of ``idata``: mean pain, the pain 0-1 share among the
    observed (``pain_free_share``) and among all randomized (``pain_free_itt``, missing = not
    pain-free, the paper's convention), and TSK-11, PCS and Oswestry means.
    """
    if "posterior_predictive" not in idata.groups():
        raise ValidationError(
            "idata", "no posterior_predictive group", "a fit after sample_posterior_predictive"
        )
    return ppc_rows(idata.posterior_predictive, data, level=level)


def ppc_rows(pp: xr.Dataset, data, *, level: float = 0.9) -> list[dict[str, Any]]:
    """The rows of :func:`ppc_table` from replicate summaries ``pp`` over ``(chain, draw, arm,
    visit)`` (:func:`posterior_predictive`, or the replay of a patient-level fit's own patients,
    :func:`~prt_sim.inference.patient_checks.replay_summaries`)."""
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    s = data.summaries if data.level == "arm" else data.to_summaries()
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
            cell = s.sel(arm=arm, visit=visit)
            pred = pp.sel(arm=arm, visit=visit)
            for stat, obs_var in PPC_MEASURES.items():
                if stat not in pred:
                    continue
                if obs_var is None:
                    k = float(cell["pain_free_k"]) if "pain_free_k" in cell else np.nan
                    den = "pain_free_n_observed" if stat == "pain_free_share" else (
                        "pain_free_n_randomized")  # fmt: skip
                    o = k / float(cell[den]) if np.isfinite(k) else np.nan
                else:
                    o = float(cell[obs_var]) if obs_var in cell else np.nan
                if np.isfinite(o):
                    row[stat] = interval(pred[stat].values, o, level)
            if len(row) > 3:
                rows.append(row)
    return rows


def ppc_coverage(rows, measures=None) -> dict[str, Any]:
    """How many observed figures fall inside their predictive intervals.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`ppc_table` / :func:`ppc_rows`.
    measures : sequence of str, optional
        The measures counted (keys of :data:`PPC_MEASURES`); default: every measure a row has.

    Returns
    -------
    dict
        ``inside`` and ``checked`` (counts of figures with a finite prediction), ``share``
        (inside / checked; NaN if nothing was checked) and ``misses``: one dict per figure
        outside its interval, with ``arm``, ``visit``, ``measure``, ``observed``, ``lo`` and
        ``hi``.

    Raises
    ------
    ValidationError
        A measure that is not one of :data:`PPC_MEASURES`.
    """
    if measures is not None:
        measures = [measures] if isinstance(measures, str) else list(measures)
        bad = [m for m in measures if m not in PPC_MEASURES]
        if bad:
            raise ValidationError("measures", bad[0], f"one of {list(PPC_MEASURES)}")
    cells = [
        (r, k, v)
        for r in rows
        for k, v in r.items()
        if isinstance(v, dict) and (measures is None or k in measures) and np.isfinite(v["median"])
    ]
    misses = [
        {"arm": r["arm"], "visit": r["visit"], "measure": k, "observed": v["observed"],
         "lo": v["lo90"], "hi": v["hi90"]}
        for r, k, v in cells
        if not v["inside"]
    ]  # fmt: skip
    n = len(cells)
    return {
        "inside": n - len(misses),
        "checked": n,
        "share": (n - len(misses)) / n if n else float("nan"),
        "misses": misses,
    }


def mediation(
    idata,
    data,
    *,
    n_draws: int = 100,
    seed: int = 0,
    treated: str = "prt",
    control: str = "usual_care",
    visit: str = "post",
    progress: bool = False,
) -> dict[str, Any]:
    """How much of the treatment's effect on pain the posterior routes through fear and
    attributions, read off trial replicates as the paper analysed the real trial.

    For each posterior draw, the treated and control arms are simulated (full simulator) and a
    product-of-coefficients mediation is computed on the replicate's patients
    (:func:`mediation_one`). Returns medians and 90% intervals over draws of ``total_effect``,
    ``indirect_tsk``, ``indirect_mb``, ``proportion_tsk``, ``proportion_mb`` and
    ``r_tsk_pain_treated``, and ``n_draws``.
    """
    arms = list(data.arms)
    if treated not in arms or control not in arms or treated == control:
        raise ValidationError(
            "mediation.arms", (treated, control), f"two different arms among {arms}"
        )
    sub = data.subset(arms=[treated, control])
    recs: dict[int, dict[str, Any]] = {}
    for k, _, _, a, res in replicates(
        idata, sub, n_draws=n_draws, seed=seed, progress=progress, desc="mediation"
    ):
        recs.setdefault(k, {})[sub.arms[a]] = res.instruments
    keys = ("total_effect", "indirect_tsk", "indirect_mb", "proportion_tsk", "proportion_mb",
            "r_tsk_pain_treated")  # fmt: skip
    est: dict[str, list[float]] = {k: [] for k in keys}
    for per_arm in recs.values():
        r = mediation_one(per_arm[treated], per_arm[control], visit)
        for key in keys:
            est[key].append(r[key])
    out: dict[str, Any] = {}
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


def mediation_one(treated: xr.Dataset, control: xr.Dataset, visit: str) -> dict[str, float]:
    """Product-of-coefficients mediation on one trial (T1 to ``visit`` changes).

    ``a`` is the treatment's effect on the change in the mediator (difference of arm means);
    ``b`` the mediator change's coefficient in a regression of the pain change on treatment and
    mediator change; the indirect effect is ``a * b`` and its proportion ``a * b`` over the total
    effect (difference of the arms' mean pain changes). Mediators: TSK-11 and mind-brain
    attributions. Also the within-treated correlation of TSK-11 change with pain change.
    """

    def changes(ins):
        return {
            var: ins[var].sel(visit=visit).values - ins[var].sel(visit="t1").values
            for var in ("pain_avg", "tsk11", "attrib_mb")
        }

    ct, cc = changes(treated), changes(control)
    x = np.concatenate([np.ones(len(ct["pain_avg"])), np.zeros(len(cc["pain_avg"]))])
    y = np.concatenate([ct["pain_avg"], cc["pain_avg"]])
    out: dict[str, float] = {}
    ok_y = np.isfinite(y)
    total = np.nanmean(ct["pain_avg"]) - np.nanmean(cc["pain_avg"])
    out["total_effect"] = float(total)
    for name, var in (("tsk", "tsk11"), ("mb", "attrib_mb")):
        m = np.concatenate([ct[var], cc[var]])
        ok = ok_y & np.isfinite(m)
        if ok.sum() < 10 or np.std(m[ok]) == 0:
            out[f"indirect_{name}"] = out[f"proportion_{name}"] = np.nan
            continue
        a = np.mean(m[ok & (x == 1)]) - np.mean(m[ok & (x == 0)])
        design = np.column_stack([np.ones(ok.sum()), x[ok], m[ok]])
        coef = np.linalg.lstsq(design, y[ok], rcond=None)[0]
        out[f"indirect_{name}"] = float(a * coef[2])
        out[f"proportion_{name}"] = float(a * coef[2] / total) if total != 0 else np.nan
    ok = np.isfinite(ct["pain_avg"]) & np.isfinite(ct["tsk11"])
    out["r_tsk_pain_treated"] = (
        float(np.corrcoef(ct["tsk11"][ok], ct["pain_avg"][ok])[0, 1]) if ok.sum() > 2 else np.nan
    )
    return out
