"""Figures of simulation results (:class:`~prt_sim.simulation.SimulationResult`): arm means, pain-free shares, latent states, daily trajectories, the calendar.

Every function reads results only (it never simulates), takes ``ax=`` (a new figure when
omitted) and returns ``(fig, ax)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..model.instruments import PAIN_FREE_MAX
from ..simulation import SimulationResult
from .style import INSTRUMENT_LABELS, STATE_COLORS, arm_color, new_axes

__all__ = ["plot_arm_means", "plot_pain_free", "plot_latent", "plot_daily", "plot_calendar"]


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
    fig, ax = new_axes(ax)
    results = _as_mapping(results)
    for name, res in results.items():
        da = res.instruments[measure]
        days = res.instruments["day"].values
        mean, lo, hi = _mean_ci(da.transpose("patient", "visit").values, level)
        color = arm_color(name, list(results))
        ax.plot(days, mean, "-", color=color, label=f"{name} (simulated)")
        ax.fill_between(days, lo, hi, color=color, alpha=0.2, lw=0,
                        label=f"{name}: {100 * level:g}% interval of the mean")  # fmt: skip
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
    ax.set_ylabel(INSTRUMENT_LABELS.get(measure, measure))
    ax.legend(fontsize="small")
    return fig, ax


def plot_pain_free(results, *, ax=None, threshold: float = PAIN_FREE_MAX):
    """Share of observed patients with pain <= ``threshold`` (0-10) at each visit, per arm."""
    fig, ax = new_axes(ax)
    results = _as_mapping(results)
    for name, res in results.items():
        pain = res.instruments["pain_avg"].transpose("patient", "visit").values
        obs = ~np.isnan(pain)
        share = np.sum((pain <= threshold) & obs, axis=0) / np.maximum(obs.sum(axis=0), 1)
        ax.plot(res.instruments["day"].values, 100 * share, "o-",
                color=arm_color(name, list(results)), label=name)  # fmt: skip
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel(f"pain 0-{threshold:g} (% of observed)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    return fig, ax


def plot_latent(
    result: SimulationResult,
    variables: Sequence[str] = ("belief", "fear", "catastrophizing", "avoidance", "safety"),
    *,
    ax=None,
):
    """Mean latent states at each visit (0-1 scales) for one result."""
    if result.latent is None:
        raise ValueError("result has no latent states: simulate with record='visits' or 'daily'")
    fig, ax = new_axes(ax)
    days = result.latent["day"].values
    for v in variables:
        ax.plot(days, result.latent[v].mean("patient").values, "o-", color=STATE_COLORS.get(v),
                label=v)  # fmt: skip
    ax.set_xlabel("study day (0 = T1)")
    ax.set_ylabel("mean latent state (0-1)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    return fig, ax


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
    fig, ax = new_axes(ax)
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
    return fig, ax


def plot_calendar(result: SimulationResult, *, ax=None):
    """The protocol's sessions and the visits on a day axis (from the result's configuration)."""
    fig, ax = new_axes(ax)
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
    return fig, ax
