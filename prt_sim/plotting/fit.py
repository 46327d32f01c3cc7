"""Figures of fits (``arviz.InferenceData``): posterior predictive trajectories against the trial, and a parameter's posterior against its prior.

Every function reads results only (it never fits or simulates), takes ``ax=`` (a new figure
when omitted) and returns ``(fig, ax)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..model.cohorts import CohortSpec
from ..model.instruments import PAIN_FREE_MAX
from ..model.params import ModelParams
from .style import BAND_LEVEL_TEXT, arm_color, new_axes

__all__ = ["plot_ppc", "plot_posterior", "parameter_unit"]

_PPC_OBSERVED = {
    "pain_mean": ("pain_avg_mean", "mean pain (0-10 points)"),
    "pain_free_share": (None, f"pain 0-{PAIN_FREE_MAX:g} (% of patients observed)"),
    "tsk11_mean": ("tsk11_mean", "mean TSK-11 (11-44)"),
    "pcs_mean": ("pcs_mean", "mean PCS (0-52)"),
}


def band(da, dim: str, level: float):
    """Median and central ``level`` interval of ``da`` over ``dim``."""
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    v = da.astype(float)
    return v.median(dim), v.quantile(lo_q, dim=dim), v.quantile(hi_q, dim=dim)


def plot_ppc(idata, data=None, *, measure: str = "pain_mean", level: float = 0.9, ax=None):
    """Observed vs fitted trajectories: the posterior predictive median (line) and ``level``
    interval (band) of trial-size replicates per arm, with the observed values (open markers).

    Parameters
    ----------
    idata : arviz.InferenceData
        With a ``posterior_predictive`` group (:meth:`TrialModel.sample_posterior_predictive`).
    data : TrialData, optional
        Observed values to overlay (arm-level summaries or patient records).
    measure : {"pain_mean", "pain_free_share", "tsk11_mean", "pcs_mean"}
    level : float
        Interval level, 0-1.

    Returns
    -------
    (Figure, Axes)
    """
    if measure not in _PPC_OBSERVED:
        raise ValueError(f"measure must be one of {sorted(_PPC_OBSERVED)}, not {measure!r}")
    fig, ax = new_axes(ax)
    pp = idata.posterior_predictive
    stacked = pp[measure].stack(sample=("chain", "draw"))
    order = np.argsort(pp["day"].values)
    days = pp["day"].values[order]
    scale = 100.0 if measure == "pain_free_share" else 1.0
    summ = None
    if data is not None:
        summ = data.summaries if data.level == "arm" else data.to_summaries()
    arms = [str(a) for a in pp["arm"].values]
    for arm in arms:
        med, lo, hi = band(stacked.sel(arm=arm), "sample", level)
        med, lo, hi = (scale * x.values[order] for x in (med, lo, hi))
        ok = np.isfinite(med)
        color = arm_color(arm, arms)
        ax.plot(days[ok], med[ok], "-", color=color, label=f"{arm}: predicted median")
        ax.fill_between(days[ok], lo[ok], hi[ok], color=color, alpha=0.2, lw=0)
        if summ is not None and arm in summ["arm"].values:
            s = summ.sel(arm=arm)
            if measure == "pain_free_share":
                obs = s["pain_free_k"] / s["pain_free_n_observed"]
            else:
                obs = s[_PPC_OBSERVED[measure][0]]
            ok_obs = np.isfinite(obs.values)
            ax.plot(s["day"].values[ok_obs], scale * obs.values[ok_obs], "o", color=color,
                    mfc="white", label=f"{arm}: observed")  # fmt: skip
    ax.set_xlabel("study day (0 = T1, post-treatment = 30)")
    ax.set_ylabel(_PPC_OBSERVED[measure][1])
    ax.set_title(
        f"posterior predictive; bands: {BAND_LEVEL_TEXT.format(pct=100 * level)} "
        "of trial-size replicates",
        fontsize="small",
    )
    ax.legend(fontsize="x-small", ncols=2)
    return fig, ax


def parameter_unit(name: str) -> str:
    """The unit of a fitted quantity, from its declaration (ModelParams or CohortSpec), or
    "x" for the self-guided scale."""
    for cls in (ModelParams, CohortSpec):
        for f in dataclasses.fields(cls):
            if f.name == name and "unit" in f.metadata:
                return f.metadata["unit"]
    return "x" if name == "self_guided_scale" else ""


def plot_posterior(idata, var: str, *, prior=None, level: float = 0.9, ax=None, bins: int = 40):
    """Posterior histogram of one parameter (probability density), its central ``level``
    interval shaded, and its prior density (line) when ``prior`` (a :class:`prt_sim.Prior`) is
    given. The x axis carries the parameter's unit.

    Returns
    -------
    (Figure, Axes)
    """
    fig, ax = new_axes(ax)
    v = np.asarray(idata.posterior[var]).ravel()
    lo, hi = np.quantile(v, [(1 - level) / 2, 1 - (1 - level) / 2])
    ax.hist(v, bins=bins, density=True, color="C0", alpha=0.6, label="posterior")
    ax.axvspan(lo, hi, color="C0", alpha=0.12, lw=0, label=f"{100 * level:g}% posterior interval")
    if prior is not None:
        rng = np.random.default_rng(0)  # a fixed seed: the figure reads, it never varies
        d = prior.draw(rng, 20_000)
        grid_lo, grid_hi = np.quantile(np.concatenate([d, v]), [0.001, 0.999])
        hist, edges = np.histogram(d, bins=60, range=(grid_lo, grid_hi), density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), hist, color="0.3", lw=1, label="prior")
    unit = parameter_unit(var)
    ax.set_xlabel(f"{var} ({unit})" if unit else var, fontsize="small")
    ax.set_ylabel("density", fontsize="small")
    ax.legend(fontsize="x-small")
    return fig, ax
