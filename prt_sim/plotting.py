"""Figures from results. Plotting only reads results: it never simulates or fits.

Every function takes ``ax=`` (a matplotlib Axes; a new figure is made when omitted) and returns
the :class:`matplotlib.figure.Figure`. Works headless (Agg).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .simulation import SimulationResult

__all__ = [
    "plot_arm_means",
    "plot_pain_free",
    "plot_latent",
    "plot_daily",
    "plot_calendar",
    "plot_ppc",
    "plot_posterior",
    "plot_forecast",
    "plot_relapse_survival",
    "plot_forecast_latent",
    "plot_subgroups",
]

_LABELS = {
    "pain_avg": "average pain (0-10)",
    "tsk11": "TSK-11 (11-44)",
    "pcs": "PCS (0-52)",
    "odi": "Oswestry (0-100)",
    "attrib_mb": "mind-brain causes (of 3)",
}


def _axes(ax):
    import matplotlib

    if ax is None:
        if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
            import os

            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        return fig, ax
    return ax.figure, ax


def _as_mapping(results) -> Mapping[str, SimulationResult]:
    if isinstance(results, SimulationResult):
        return {results.config["protocol"]["name"]: results}
    if isinstance(results, Mapping):
        return results
    raise TypeError("results must be a SimulationResult or a mapping of name -> SimulationResult")


def _mean_ci(values: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over patients (axis 0) and a normal-approximation interval of the mean."""
    from scipy import stats

    n = np.sum(~np.isnan(values), axis=0)
    mean = np.nanmean(values, axis=0)
    se = np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    q = stats.norm.ppf(0.5 + level / 2)
    return mean, mean - q * se, mean + q * se


def plot_arm_means(
    results,
    measure: str = "pain_avg",
    *,
    ax=None,
    observed: Mapping[str, Mapping[int, float]] | None = None,
    level: float = 0.9,
):
    """Mean of an instrument per visit for each arm, with a ``level`` interval of the mean.

    Parameters
    ----------
    results : SimulationResult or mapping of arm name -> SimulationResult
    measure : str
        One of ``pain_avg``, ``tsk11``, ``pcs``, ``odi``, ``attrib_mb``.
    ax : matplotlib Axes, optional
    observed : mapping arm -> {study day: observed mean}, optional
        Published or observed means drawn as markers for comparison.
    level : float
        Interval level, 0-1 (default 0.9).
    """
    fig, ax = _axes(ax)
    for i, (name, res) in enumerate(_as_mapping(results).items()):
        da = res.instruments[measure]
        days = res.instruments["day"].values
        mean, lo, hi = _mean_ci(da.transpose("patient", "visit").values, level)
        color = f"C{i}"
        ax.plot(days, mean, "-", color=color, label=f"{name} (simulated)")
        ax.fill_between(days, lo, hi, color=color, alpha=0.2, lw=0)
        if observed and name in observed:
            od = sorted(observed[name].items())
            ax.plot(
                [d for d, _ in od],
                [v for _, v in od],
                "o",
                color=color,
                mfc="white",
                label=f"{name} (observed)",
            )
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel(_LABELS.get(measure, measure))
    ax.legend(fontsize="small")
    return fig


def plot_pain_free(results, *, ax=None, threshold: int = 1):
    """Share of observed patients with pain <= ``threshold`` (0-10) at each visit, per arm."""
    fig, ax = _axes(ax)
    for i, (name, res) in enumerate(_as_mapping(results).items()):
        pain = res.instruments["pain_avg"].transpose("patient", "visit").values
        obs = ~np.isnan(pain)
        share = np.sum((pain <= threshold) & obs, axis=0) / np.maximum(obs.sum(axis=0), 1)
        ax.plot(res.instruments["day"].values, 100 * share, "o-", color=f"C{i}", label=name)
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel(f"pain {0}-{threshold} (% of observed)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    return fig


def plot_latent(
    result: SimulationResult,
    variables: Sequence[str] = ("belief", "fear", "catastrophizing", "avoidance", "safety"),
    *,
    ax=None,
):
    """Mean latent states at each visit (0-1 scales) for one result."""
    if result.latent is None:
        raise ValueError("result has no latent states: simulate with record='visits' or 'daily'")
    fig, ax = _axes(ax)
    days = result.latent["day"].values
    for i, v in enumerate(variables):
        ax.plot(days, result.latent[v].mean("patient").values, "o-", color=f"C{i}", label=v)
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel("mean latent state (0-1)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    return fig


def plot_daily(
    result: SimulationResult,
    variable: str = "pain",
    *,
    patients: int | Sequence[int] = 5,
    ax=None,
    show_sessions: bool = True,
):
    """Daily trajectories of a few patients (needs ``record="daily"``).

    ``patients`` is a count (the first k patients) or a sequence of patient ids.
    """
    if result.daily is None:
        raise ValueError("result has no daily history: simulate with record='daily'")
    fig, ax = _axes(ax)
    d = result.daily
    ids = d["patient"].values[:patients] if isinstance(patients, int) else list(patients)
    for pid in ids:
        ax.plot(
            d["day"].values, d[variable].sel(patient=pid).values, lw=0.8, label=f"patient {pid}"
        )
    if show_sessions and "session_day" in d:
        for day in d["day"].values[d["session_day"].values]:
            ax.axvline(day, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel(variable)
    if len(ids) <= 8:
        ax.legend(fontsize="small")
    return fig


def plot_calendar(result: SimulationResult, *, ax=None):
    """The protocol's sessions and the visits on a day axis (from the result's configuration)."""
    fig, ax = _axes(ax)
    cfg = result.config
    sessions = cfg["protocol"]["sessions"]
    ax.scatter(
        [s["day"] for s in sessions], [1] * len(sessions), marker="|", s=300, label="sessions"
    )
    visits = cfg["visits"]
    ax.scatter(
        [v["day"] for v in visits], [0] * len(visits), marker="v", s=60, color="C3", label="visits"
    )
    for v in visits:
        ax.annotate(
            v["name"],
            (v["day"], 0),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=7,
            rotation=90,
        )
    ax.set_yticks([0, 1], ["visits", "sessions"])
    ax.set_ylim(-0.5, 1.8)
    ax.set_xlabel("study day (0 = T1)")
    ax.set_title(cfg["protocol"]["name"])
    return fig


# -- fits (InferenceData) -----------------------------------------------------------------------
_PPC_OBSERVED = {
    "pain_mean": ("pain_avg_mean", "mean pain (0-10)"),
    "pain_free_share": (None, "pain 0-1 (% of observed)"),
    "tsk11_mean": ("tsk11_mean", "TSK-11 (11-44)"),
    "pcs_mean": ("pcs_mean", "PCS (0-52)"),
}


def _band(da, dim: str, level: float):
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    v = da.astype(float)
    return v.median(dim), v.quantile(lo_q, dim=dim), v.quantile(hi_q, dim=dim)


def plot_ppc(idata, data=None, *, measure: str = "pain_mean", level: float = 0.9, ax=None):
    """Observed vs fitted trajectories: the posterior predictive median and ``level`` interval
    of trial-size replicates per arm (lines and bands) with the observed values (markers).

    Parameters
    ----------
    idata : arviz.InferenceData
        With a ``posterior_predictive`` group (:meth:`TrialModel.sample_posterior_predictive`).
    data : TrialData, optional
        Observed values to overlay (arm-level summaries or patient records).
    measure : {"pain_mean", "pain_free_share", "tsk11_mean", "pcs_mean"}
    """
    if measure not in _PPC_OBSERVED:
        raise ValueError(f"measure must be one of {sorted(_PPC_OBSERVED)}, not {measure!r}")
    fig, ax = _axes(ax)
    pp = idata.posterior_predictive
    stacked = pp[measure].stack(sample=("chain", "draw"))
    order = np.argsort(pp["day"].values)
    days = pp["day"].values[order]
    scale = 100.0 if measure == "pain_free_share" else 1.0
    summ = None
    if data is not None:
        summ = data.summaries if data.level == "arm" else data.to_summaries()
    for i, arm in enumerate(pp["arm"].values):
        med, lo, hi = _band(stacked.sel(arm=arm), "sample", level)
        med, lo, hi = (scale * x.values[order] for x in (med, lo, hi))
        ok = np.isfinite(med)
        color = f"C{i}"
        ax.plot(days[ok], med[ok], "-", color=color, label=f"{arm} (predicted)")
        ax.fill_between(days[ok], lo[ok], hi[ok], color=color, alpha=0.2, lw=0)
        if summ is not None and arm in summ["arm"].values:
            s = summ.sel(arm=arm)
            if measure == "pain_free_share":
                obs = s["pain_free_k"] / s["pain_free_n_observed"]
            else:
                obs = s[_PPC_OBSERVED[measure][0]]
            ok_obs = np.isfinite(obs.values)
            ax.plot(
                s["day"].values[ok_obs],
                scale * obs.values[ok_obs],
                "o",
                color=color,
                mfc="white",
                label=f"{arm} (observed)",
            )
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel(_PPC_OBSERVED[measure][1])
    ax.set_title(f"posterior predictive, {int(100 * level)}% intervals for trial-size arms")
    ax.legend(fontsize="small", ncols=2)
    return fig


def plot_posterior(idata, var: str, *, prior=None, ax=None, bins: int = 40):
    """Posterior histogram of one parameter, with its prior density when ``prior`` (a
    :class:`prt_sim.Prior`) is given; the 90% interval is shaded."""
    fig, ax = _axes(ax)
    v = np.asarray(idata.posterior[var]).ravel()
    lo, hi = np.quantile(v, [0.05, 0.95])
    ax.hist(v, bins=bins, density=True, color="C0", alpha=0.6, label="posterior")
    ax.axvspan(lo, hi, color="C0", alpha=0.1, lw=0)
    if prior is not None:
        rng = np.random.default_rng(0)
        d = prior.draw(rng, 20_000)
        grid_lo, grid_hi = np.quantile(np.concatenate([d, v]), [0.001, 0.999])
        hist, edges = np.histogram(d, bins=60, range=(grid_lo, grid_hi), density=True)
        ax.plot(0.5 * (edges[1:] + edges[:-1]), hist, color="0.3", lw=1, label="prior")
    ax.set_title(var, fontsize="small")
    ax.set_yticks([])
    ax.legend(fontsize="x-small")
    return fig


# -- forecasts (xarray.Dataset from prt_sim.forecasting.forecast) --------------------------------
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
    scenario (line style), with the ``level`` band of the first scenario.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`prt_sim.forecasting.forecast`.
    var : str
        A variable over ``(draw, arm, scenario, time)``, e.g. "mean_pain", "pain_free",
        "reduction30", "relapsed", "belief".
    """
    fig, ax = _axes(ax)
    scenarios = list(ds["scenario"].values) if scenarios is None else list(scenarios)
    arms = list(ds["arm"].values) if arms is None else list(arms)
    scale = 100.0 if var in _PERCENT else 1.0
    t = ds["time"].values
    for i, arm in enumerate(arms):
        for j, sc in enumerate(scenarios):
            da = ds[var].sel(arm=arm, scenario=sc)
            med, lo, hi = _band(da, "draw", level)
            ok = np.isfinite(med.values)
            ax.plot(
                t[ok],
                scale * med.values[ok],
                _STYLES[j % len(_STYLES)],
                color=f"C{i}",
                label=f"{arm}, {sc}",
            )
            if j == 0:
                ax.fill_between(
                    t[ok], scale * lo.values[ok], scale * hi.values[ok], color=f"C{i}",
                    alpha=0.15, lw=0,
                )  # fmt: skip
    ax.axvline(0, color="0.7", lw=0.8, zorder=0)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel(_FORECAST_LABELS.get(var, var))
    ax.legend(fontsize="x-small", ncols=2)
    return fig


def plot_relapse_survival(
    ds, *, scenarios: Sequence[str] | None = None, level: float = 0.9, ax=None
):
    """Relapse-free survival of post responders (pain 0-1 at post) per arm and scenario:
    posterior median and, for the first scenario, the ``level`` band."""
    fig, ax = _axes(ax)
    scenarios = list(ds["scenario"].values) if scenarios is None else list(scenarios)
    after = ds["time"].values >= 0
    t = ds["time"].values[after]
    for i, arm in enumerate(ds["arm"].values):
        for j, sc in enumerate(scenarios):
            surv = 1.0 - ds["relapsed"].sel(arm=arm, scenario=sc).isel(time=after)
            med, lo, hi = _band(surv, "draw", level)
            if not np.isfinite(med.values).any():
                continue
            ax.step(t, 100 * med.values, _STYLES[j % len(_STYLES)], where="post", color=f"C{i}",
                    label=f"{arm}, {sc}")  # fmt: skip
            if j == 0:
                ax.fill_between(t, 100 * lo.values, 100 * hi.values, step="post",
                                color=f"C{i}", alpha=0.12, lw=0)  # fmt: skip
    ax.set_ylim(0, 101)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel("relapse-free (% of post responders)")
    ax.legend(fontsize="x-small", ncols=2)
    return fig


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
    fig, ax = _axes(ax)
    scenario = str(ds["scenario"].values[0]) if scenario is None else scenario
    t = ds["time"].values
    for i, v in enumerate(variables):
        med, lo, hi = _band(ds[v].sel(arm=arm, scenario=scenario), "draw", level)
        ax.plot(t, med.values, "-", color=f"C{i}", label=v)
        ax.fill_between(t, lo.values, hi.values, color=f"C{i}", alpha=0.15, lw=0)
    ax.axvline(0, color="0.7", lw=0.8, zorder=0)
    ax.set_ylim(0, 1)
    ax.set_xlabel("years after post-treatment")
    ax.set_ylabel("mean latent state (0-1)")
    ax.set_title(f"{arm}, {scenario}")
    ax.legend(fontsize="small")
    return fig


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
    fig, ax = _axes(ax)
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
        m, y, xerr=[m - scale * lo.values, scale * hi.values - m], fmt="o", color="C0", capsize=3
    )
    ax.set_yticks(y, labels)
    ax.set_xlabel(_FORECAST_LABELS.get(var, var))
    ax.set_title(f"{arm}, {scenario}: {years:g} years after post")
    return fig
