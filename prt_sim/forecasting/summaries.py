"""Forecast summaries: per-draw reductions of the simulated assessments, relapse, subgroups, the labeled Dataset and its bands.

Definitions (also in ``docs/forecasting.md``): pain-free is reported pain at or below
:data:`~prt_sim.model.instruments.PAIN_FREE_MAX` among the patients observed at that time
(``pain_free_itt`` divides by everyone); relapse follows the
:class:`~prt_sim.forecasting.scenarios.RelapseRule`; subgroups split on baseline at the trial's
medians (:data:`SUBGROUPS`).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..errors import check_range
from ..io import provenance
from ..model.calendar import POST_DAY
from ..model.instruments import INSTRUMENTS, PAIN_FREE_MAX

__all__ = [
    "SUBGROUPS",
    "SUMMARY_VARS",
    "LATENT_ROWS",
    "allocate",
    "reduce",
    "to_dataset",
    "forecast_bands",
    "KIND",
]

KIND = "forecast"

#: Baseline subgroups: (name, baseline variable, cut-off, unit). "high" means above the cut-off,
#: the median of the trial's 151 patients (public data). Questionnaires are split on each
#: patient's reading at entry (``Cohort.baseline``), so their cut-offs are the medians at the
#: eligibility visit (TSK-11 24, PCS 12; PCS at T1 is lower, 9: regression to the mean).
SUBGROUPS = (
    ("fear", "tsk11", 24.0, "TSK-11"),
    ("catastrophizing", "pcs", 12.0, "PCS"),
    ("chronicity", "chronicity", 7.0, "years"),
    ("pain", "pain", 4.0, "points (mean of eligibility and T1 reports)"),
)

SUMMARY_VARS = {
    "mean_pain": ("points (0-10)", "mean reported weekly pain among observed patients"),
    "pain_free": ("share", "share reporting pain 0-1 among observed patients"),
    "pain_free_itt": ("share", "patients reporting pain 0-1 over all patients (missing = not)"),
    "reduction30": ("share", "share of observed patients with >= 30% less pain than baseline"),
    "reduction50": ("share", "share of observed patients with >= 50% less pain than baseline"),
    "relapsed": ("share", "cumulative share of post responders who relapsed (RelapseRule)"),
    "responders_pain_free": ("share", "share of post responders reporting pain 0-1"),
    "pain_free_days_per_year": (
        "days/year",
        "days with 7-day mean pain < 1.5 per patient-year since post",
    ),
    "latent_pain": ("points (0-10)", "mean latent 7-day pain (no report noise)"),
    "belief": ("fraction", "mean belief that pain signals damage"),
    "fear": ("fraction", "mean fear of movement, (TSK-11 - 11) / 33"),
    "avoidance": ("fraction", "mean avoidance (Oswestry / 100)"),
    "catastrophizing": ("fraction", "mean catastrophizing (PCS / 52)"),
}


#: The latent states recorded at each checkpoint (:data:`prt_sim.engine.LATENT_VARS` names),
#: and the summary variable each becomes.
LATENT_ROWS = ("pain_week", "belief", "fear", "avoidance", "catastrophizing")
SUMMARY_LATENT = {
    "latent_pain": "pain_week",
    "belief": "belief",
    "fear": "fear",
    "avoidance": "avoidance",
    "catastrophizing": "catastrophizing",
}


def allocate(n_d, n_a, n_s, n_k) -> dict[str, np.ndarray]:
    """Empty (NaN) summary arrays for ``n_d`` draws, ``n_a`` arms, ``n_s`` scenarios and
    ``n_k`` checkpoints."""
    shape = (n_d, n_a, n_s, n_k)
    out = {v: np.full(shape, np.nan, dtype=np.float32) for v in SUMMARY_VARS}
    n_sub = 2 * len(SUBGROUPS)
    for v in ("mean_pain", "pain_free", "relapsed"):
        out[f"subgroup_{v}"] = np.full((n_d, n_a, n_s, n_sub, n_k), np.nan, dtype=np.float32)
    out["subgroup_share"] = np.full((n_d, n_a, n_s, n_sub), np.nan, dtype=np.float32)
    out["n_at_risk"] = np.zeros((n_d, n_a, n_s), dtype=np.int32)
    out["relapse_median_years"] = np.full((n_d, n_a, n_s), np.nan, dtype=np.float32)
    out["uptake_share"] = np.zeros((n_d, n_a, n_s), dtype=np.float32)
    return out


def reduce(plan, obs, pf_at, lo, hi, bases, out) -> None:
    """Per-draw summaries of the patients of draws ``lo:hi`` into ``out``.

    Patients are ordered draw, arm, scenario, patient; ``obs`` are their
    :class:`~prt_sim.engine.Observations` at the checkpoints (latent rows
    :data:`LATENT_ROWS`), ``pf_at`` (checkpoint, patient) their pain-free days so far and
    ``bases`` each (draw, arm) cohort's baseline.
    """
    days = np.array([v.day for v in plan.visits])
    off = 0
    b = 0
    for r in range(lo, hi):
        for a, n in enumerate(plan.sizes):
            base = bases[b]
            b += 1
            for s in range(plan.n_s):
                sl = slice(off, off + n)
                off += n
                rep = obs.pain[sl].T.astype(np.float64)  # (K, n)
                latent = {v: obs.latent[sl, k].T for k, v in enumerate(LATENT_ROWS)}
                _summaries(plan, rep, obs.observed[sl].T, latent, pf_at[:, sl], days, base, out,
                           (r, a, s))  # fmt: skip


def _summaries(plan, rep, seen, latent, pf, days, base, out, idx) -> None:
    r, a, s = idx
    k_post, relapse, years = plan.k_post, plan.relapse, plan.years
    n_k, n = rep.shape
    nobs = seen.sum(axis=1)
    ok = nobs > 0
    free = rep <= PAIN_FREE_MAX
    baseline = 0.5 * (rep[0] + rep[1])
    red = (baseline[None, :] - rep) / np.maximum(baseline[None, :], 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_pain"][r, a, s] = np.where(ok, (rep * seen).sum(1) / nobs, np.nan)
        out["pain_free"][r, a, s] = np.where(ok, (free & seen).sum(1) / nobs, np.nan)
        out["pain_free_itt"][r, a, s] = (free & seen).sum(1) / n
        has_base = baseline > 0
        den = (seen & has_base[None, :]).sum(1)
        out["reduction30"][r, a, s] = np.where(
            den > 0, ((red >= 0.3) & seen & has_base[None, :]).sum(1) / den, np.nan
        )
        out["reduction50"][r, a, s] = np.where(
            den > 0, ((red >= 0.5) & seen & has_base[None, :]).sum(1) / den, np.nan
        )
    for v, src in SUMMARY_LATENT.items():
        out[v][r, a, s] = latent[src].mean(axis=1, dtype=np.float64)
    # Time pain-free since post, per patient-year.
    elapsed = days - days[k_post]
    pf_since = pf - pf[k_post][None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pain_free_days_per_year"][r, a, s] = np.where(
            elapsed > 0, 365.25 * pf_since.mean(axis=1) / np.maximum(elapsed, 1), np.nan
        )
    # Relapse among post responders.
    risk = rep[k_post] <= relapse.responder_max
    event = _relapse_index(rep, k_post, relapse)  # (n,) checkpoint index or -1
    out["n_at_risk"][r, a, s] = int(risk.sum())
    rel, still = _relapse_curves(risk, event, free, n_k, k_post)
    out["relapsed"][r, a, s] = rel
    out["responders_pain_free"][r, a, s] = still
    out["relapse_median_years"][r, a, s] = _median_time(rel, years)
    # Subgroups (fixed cut-offs at the trial's baseline medians).
    values = {
        "tsk11": INSTRUMENTS["tsk11"].to_score(np.asarray(base["fear"])),
        "pcs": INSTRUMENTS["pcs"].to_score(np.asarray(base["catastrophizing"])),
        "chronicity": np.asarray(base["chronicity"]),
        "pain": baseline,
    }
    for g, (_, var, cut, _) in enumerate(SUBGROUPS):
        high = values[var] > cut
        for h, mask in enumerate((~high, high)):
            j = 2 * g + h
            out["subgroup_share"][r, a, s, j] = mask.mean()
            if not mask.any():
                continue
            sm = seen[:, mask]
            no = sm.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["subgroup_mean_pain"][r, a, s, j] = np.where(
                    no > 0, (rep[:, mask] * sm).sum(1) / no, np.nan
                )
                out["subgroup_pain_free"][r, a, s, j] = np.where(
                    no > 0, (free[:, mask] & sm).sum(1) / no, np.nan
                )
            rel_g, _ = _relapse_curves(risk & mask, event, free, n_k, k_post)
            out["subgroup_relapsed"][r, a, s, j] = rel_g


def _relapse_index(rep, k_post, rule) -> np.ndarray:
    """Checkpoint at which a relapse is confirmed: the last of the first ``rule.confirm``
    consecutive assessments after post with reported pain >= threshold (-1 if none within the
    horizon). Dating it at the confirming assessment keeps every time point independent of the
    horizon (a run that starts in the last month is not yet a relapse anywhere)."""
    high = rep[k_post + 1 :] >= rule.threshold  # (M, n)
    m, n = high.shape
    c = rule.confirm
    if m < c:
        return np.full(n, -1)
    run = np.ones((m - c + 1, n), dtype=bool)
    for j in range(c):
        run &= high[j : m - c + 1 + j]
    any_ = run.any(axis=0)
    first = np.argmax(run, axis=0)
    return np.where(any_, first + (c - 1) + k_post + 1, -1)


def _relapse_curves(risk, event, free, n_k, k_post):
    """Cumulative relapsed share, and share still pain-free, among ``risk`` over checkpoints
    (NaN before post and when nobody is at risk)."""
    rel = np.full(n_k, np.nan)
    still = np.full(n_k, np.nan)
    n_risk = risk.sum()
    if n_risk == 0:
        return rel, still
    ev = event[risk]
    k = np.arange(k_post, n_k)
    rel[k_post:] = ((ev[None, :] >= 0) & (ev[None, :] <= k[:, None])).mean(axis=1)
    still[k_post:] = free[k_post:, risk].mean(axis=1)
    return rel, still


def _median_time(rel, years) -> float:
    """First time half the risk set has relapsed: +inf if not within the horizon, NaN if
    nobody was at risk."""
    if not np.isfinite(rel).any():
        return np.nan
    hit = np.flatnonzero(rel >= 0.5)
    return float(years[hit[0]]) if hit.size else np.inf


def to_dataset(out, arms, scens, visits, years, chains, draws, seed, config) -> xr.Dataset:
    """The per-draw summaries as a labeled Dataset with provenance."""
    labels = [s[0] for s in SUBGROUPS]
    sub = [f"{name}:{lvl}" for name in labels for lvl in ("low", "high")]
    coords = {
        "draw": np.arange(len(chains)),
        "arm": [a[0] for a in arms],
        "scenario": [s.name for s in scens],
        "time": years,
        "subgroup": sub,
    }
    dims = ("draw", "arm", "scenario", "time")
    data = {}
    for v, (unit, doc) in SUMMARY_VARS.items():
        data[v] = xr.Variable(dims, out[v], attrs={"units": unit, "long_name": doc})
    for v in ("mean_pain", "pain_free", "relapsed"):
        data[f"subgroup_{v}"] = xr.Variable(
            ("draw", "arm", "scenario", "subgroup", "time"),
            out[f"subgroup_{v}"],
            attrs={"long_name": f"{SUMMARY_VARS[v][1]}, within a baseline subgroup"},
        )
    data["subgroup_share"] = xr.Variable(
        ("draw", "arm", "scenario", "subgroup"),
        out["subgroup_share"],
        attrs={"long_name": "share of the arm's patients in the subgroup"},
    )
    data["n_at_risk"] = xr.Variable(
        ("draw", "arm", "scenario"),
        out["n_at_risk"],
        attrs={"long_name": "patients pain-free at post (the relapse risk set)"},
    )
    data["relapse_median_years"] = xr.Variable(
        ("draw", "arm", "scenario"),
        out["relapse_median_years"],
        attrs={
            "units": "years after post",
            "long_name": "first time half the post responders of this draw have relapsed "
            "(inf: not within the horizon; NaN: nobody at risk)",
        },
    )
    data["uptake_share"] = xr.Variable(
        ("draw", "arm", "scenario"),
        out["uptake_share"],
        attrs={
            "units": "share",
            "long_name": "share of the arm's patients who took up treatment after the trial "
            "(the scenario's Uptake; 0 without one)",
        },
    )
    ds = xr.Dataset(data, coords=coords)
    ds = ds.assign_coords(
        day=("time", np.array([v.day for v in visits], dtype=np.int64)),
        visit=("time", [v.name for v in visits]),
        source_chain=("draw", np.asarray(chains, dtype=np.int64)),
        source_draw=("draw", np.asarray(draws, dtype=np.int64)),
    )
    ds["time"].attrs.update(units=f"years after post (T2, study day {POST_DAY})")
    ds.attrs.update(provenance(KIND, seed, config))
    return ds


def forecast_bands(ds: xr.Dataset, level: float = 0.9) -> xr.Dataset:
    """Median and ``level`` interval over posterior draws of every variable with a ``draw``
    dimension (except the censored ``relapse_median_years``); a new dimension ``stat`` =
    ("median", "lo", "hi"). Draws where a share is undefined (nobody at risk) are skipped."""
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    q = [0.5, (1 - level) / 2, 1 - (1 - level) / 2]
    # relapse_median_years is censored at the horizon (inf): summarise it per draw instead
    vars_ = [v for v in ds.data_vars if "draw" in ds[v].dims and v != "relapse_median_years"]
    with warnings.catch_warnings():
        # relapse shares are NaN where nobody was at risk: such draws are skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        qs = ds[vars_].astype(np.float64).quantile(q, dim="draw", skipna=True)
    qs = qs.rename(quantile="stat").assign_coords(stat=["median", "lo", "hi"])
    qs.attrs.update(ds.attrs, level=level)
    return qs
