"""Figures of forecasts (the Dataset of :func:`prt_sim.forecasting.forecast`): outcomes over years, relapse-free survival, latent states, subgroups.

Every function reads results only (it never simulates), takes ``ax=`` (a new figure when
omitted) and returns ``(fig, ax)``. Colours are the arms' (:func:`~prt_sim.plotting.style.
arm_color`) or the latent states' (:data:`~prt_sim.plotting.style.STATE_COLORS`); shaded bands
are intervals over posterior draws of trial-size arms, and their legend says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .fit import band as _band
from .style import BAND_LEVEL_TEXT, STATE_COLORS, arm_color, new_axes

__all__ = [
    "plot_forecast",
    "plot_relapse_survival",
    "plot_forecast_latent",
    "plot_subgroups",
    "plot_patient_forecast",
]

_FORECAST_LABELS = {
    "mean_pain": "mean pain (0-10)",
    "pain_free": "pain 0-1 (% of observed)",
    "pain_free_itt": "pain 0-1 (% of all patients)",
    "reduction30": ">= 30% pain reduction (%)",
    "reduction50": ">= 50% pain reduction (%)",
    "relapsed": "relapsed (% of post responders)",
    "latent_pain": "latent weekly pain (0-10)",
    "belief": "damage belief (0-1)",
    "fear": "fear of movement (0-1)",
    "avoidance": "avoidance (0-1)",
    "catastrophizing": "catastrophizing (0-1)",
}
_PERCENT = {"pain_free", "pain_free_itt", "reduction30", "reduction50", "relapsed"}
_STYLES = ("-", "--", ":", "-.")


def plot_forecast(
    ds,
    var: str = "pain_free",
    *,
    scenarios: Sequence[str] | None = None,
    arms: Sequence[str] | None = None,
    level: float = 0.9,
    ax=None,
):
    """A forecast outcome over years after post: posterior median per arm (colour) and
    scenario (line style), with the ``level`` band of the first scenario (the spread over
    posterior draws of an arm of the forecast's size, labelled in the legend).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`prt_sim.forecasting.forecast`.
    var : str
        A variable over ``(draw, arm, scenario, time)``, e.g. "mean_pain", "pain_free",
        "reduction30", "relapsed", "belief".
    """
    fig, ax = new_axes(ax)
    scenarios = list(ds["scenario"].values) if scenarios is None else list(scenarios)
    arms = list(ds["arm"].values) if arms is None else list(arms)
    scale = 100.0 if var in _PERCENT else 1.0
    t = ds["time"].values
    for arm in arms:
        color = arm_color(arm, arms)
        for j, sc in enumerate(scenarios):
            da = ds[var].sel(arm=arm, scenario=sc)
            med, lo, hi = _band(da, "draw", level)
            ok = np.isfinite(med.values)
            ax.plot(t[ok], scale * med.values[ok], _STYLES[j % len(_STYLES)], color=color,
                    label=f"{arm}, {sc} (median)")  # fmt: skip
            if j == 0:
                ax.fill_between(
                    t[ok], scale * lo.values[ok], scale * hi.values[ok], color=color,
                    alpha=0.15, lw=0, label=f"{arm}, {sc}: {BAND_LEVEL_TEXT.format(pct=100 * level)}",
                )  # fmt: skip
    ax.axvline(0, color="0.7", lw=0.8, zorder=0)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel(_FORECAST_LABELS.get(var, var))
    ax.legend(fontsize="x-small", ncols=2)
    return fig, ax


def plot_relapse_survival(
    ds, *, scenarios: Sequence[str] | None = None, level: float = 0.9, ax=None
):
    """Relapse-free survival of post responders (pain 0-1 at post) per arm and scenario:
    posterior median and, for the first scenario, the ``level`` band."""
    fig, ax = new_axes(ax)
    scenarios = list(ds["scenario"].values) if scenarios is None else list(scenarios)
    after = ds["time"].values >= 0
    t = ds["time"].values[after]
    arms = [str(a) for a in ds["arm"].values]
    for arm in arms:
        color = arm_color(arm, arms)
        for j, sc in enumerate(scenarios):
            surv = 1.0 - ds["relapsed"].sel(arm=arm, scenario=sc).isel(time=after)
            med, lo, hi = _band(surv, "draw", level)
            if not np.isfinite(med.values).any():
                continue
            ax.step(t, 100 * med.values, _STYLES[j % len(_STYLES)], where="post", color=color,
                    label=f"{arm}, {sc} (median)")  # fmt: skip
            if j == 0:
                ax.fill_between(t, 100 * lo.values, 100 * hi.values, step="post", color=color,
                                alpha=0.12, lw=0,
                                label=f"{arm}: {BAND_LEVEL_TEXT.format(pct=100 * level)}")  # fmt: skip
    ax.set_ylim(0, 101)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel("relapse-free (% of post responders)")
    ax.legend(fontsize="x-small", ncols=2)
    return fig, ax


def plot_forecast_latent(
    ds,
    arm: str,
    *,
    scenario: str | None = None,
    variables: Sequence[str] = ("belief", "fear", "avoidance", "catastrophizing"),
    level: float = 0.9,
    ax=None,
):
    """Forecast trajectories of the mechanism (damage belief, fear, avoidance,
    catastrophizing; 0-1) for one arm and scenario, with ``level`` bands over draws."""
    fig, ax = new_axes(ax)
    scenario = str(ds["scenario"].values[0]) if scenario is None else scenario
    t = ds["time"].values
    for v in variables:
        med, lo, hi = _band(ds[v].sel(arm=arm, scenario=scenario), "draw", level)
        ax.plot(t, med.values, "-", color=STATE_COLORS.get(v), label=f"{v} (median)")
        ax.fill_between(t, lo.values, hi.values, color=STATE_COLORS.get(v), alpha=0.15, lw=0)
    ax.axvline(0, color="0.7", lw=0.8, zorder=0)
    ax.set_ylim(0, 1)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel("mean latent state (0-1)")
    ax.set_title(f"{arm}, {scenario}; bands: {BAND_LEVEL_TEXT.format(pct=100 * level)}",
                 fontsize="small")  # fmt: skip
    ax.legend(fontsize="small")
    return fig, ax


def plot_subgroups(
    ds,
    var: str = "relapsed",
    *,
    arm: str | None = None,
    scenario: str | None = None,
    years: float | None = None,
    level: float = 0.9,
    ax=None,
):
    """Forecast outcome by baseline subgroup (low/high fear, catastrophizing, chronicity, pain)
    at ``years`` after post (default: the horizon): median and ``level`` interval over draws.

    ``var`` is "relapsed", "pain_free" or "mean_pain".
    """
    fig, ax = new_axes(ax)
    arm = str(ds["arm"].values[0]) if arm is None else arm
    scenario = str(ds["scenario"].values[0]) if scenario is None else scenario
    years = float(ds["time"].values[-1]) if years is None else years
    da = ds[f"subgroup_{var}"].sel(arm=arm, scenario=scenario).sel(time=years, method="nearest")
    med, lo, hi = _band(da, "draw", level)
    scale = 100.0 if var in _PERCENT else 1.0
    labels = list(ds["subgroup"].values)
    y = np.arange(len(labels))[::-1]
    m = scale * med.values
    ax.errorbar(
        m,
        y,
        xerr=[m - scale * lo.values, scale * hi.values - m],
        fmt="o",
        color=arm_color(arm),
        capsize=3,
        label=f"median and {BAND_LEVEL_TEXT.format(pct=100 * level)}",
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel(_FORECAST_LABELS.get(var, var))
    ax.set_title(f"{arm}, {scenario}: {years:g} years after post")
    return fig, ax


def plot_patient_forecast(ds, var: str = "mean_pain", *, level: float = 0.9, ax=None):
    """One patient's forecast (:func:`prt_sim.forecasting.forecast_patient`) over years after
    post: the posterior median per protocol (colour) and its ``level`` band over posterior
    draws. ``var`` is "mean_pain" (expected weekly pain, points) or "pain_free" (probability
    of a report of 0-1, in %)."""
    if var not in ("mean_pain", "pain_free"):
        raise ValueError(f"var={var!r}: allowed 'mean_pain' or 'pain_free'")
    fig, ax = new_axes(ax)
    t = ds["time"].values
    scale = 100.0 if var == "pain_free" else 1.0
    for proto in ds["protocol"].values:
        v = ds[var].sel(protocol=proto).values * scale
        lo, med, hi = np.nanquantile(v, [(1 - level) / 2, 0.5, 1 - (1 - level) / 2], axis=0)
        color = arm_color(str(proto))
        ax.plot(t, med, color=color, label=str(proto))
        ax.fill_between(t, lo, hi, color=color, alpha=0.2, lw=0)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel("expected pain (0-10)" if var == "mean_pain" else "chance of pain 0-1 (%)")
    cfg = ds.attrs.get("config", "{}")
    import json

    pid = json.loads(cfg).get("patient", "?")
    ax.set_title(f"patient {pid}: median and {int(level * 100)}% band over posterior draws",
                 fontsize=9)  # fmt: skip
    ax.legend(frameon=False, fontsize=8)
    return fig, ax
