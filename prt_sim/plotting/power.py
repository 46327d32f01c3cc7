"""Figures of in-silico trial designs: power or assurance against the n per arm, with Monte Carlo intervals, the fitted curve, the target and the solved n."""

from __future__ import annotations

import json

import numpy as np
from scipy import stats

from .style import new_axes

__all__ = ["plot_power_curve"]


def plot_power_curve(ds, ax=None, *, label: str | None = None, color: str | None = None):
    """Rejection rate (power or assurance) against patients per arm.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`prt_sim.experiments.power.run_power` (``power`` or ``assurance`` and its
        ``*_se`` over ``n_per_arm``; ``sample_size`` in its attrs when a target was solved).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure); call again with the same ``ax`` to compare
        designs (power and assurance, say).
    label : str, optional
        Legend label (default: the quantity).
    color : str, optional
        Line colour (default: matplotlib's next).

    Returns
    -------
    (Figure, Axes)
        Points with 95% Monte Carlo intervals (+/- 1.96 SE); the probit curve when one was
        fitted; the target as a dotted line and the solved n with its bootstrap interval.
    """
    fig, ax = new_axes(ax)
    q = ds.attrs.get("quantity", "power")
    n = np.asarray(ds["n_per_arm"].values, dtype=float)
    p = np.asarray(ds[q].values, dtype=float)
    se = np.asarray(ds[f"{q}_se"].values, dtype=float)
    err = ax.errorbar(n, p, yerr=1.96 * se, fmt="o", ms=4, capsize=2, color=color,
                      label=label or q)  # fmt: skip
    c = err.lines[0].get_color()
    size = json.loads(ds.attrs["sample_size"]) if "sample_size" in ds.attrs else None
    if size and size.get("curve") == "probit" and len(size.get("coef") or []) == 2:
        a, b = size["coef"]
        x = np.linspace(n.min(), n.max(), 200)
        ax.plot(x, stats.norm.cdf(a + b * np.sqrt(x)), color=c, lw=1)
    else:
        ax.plot(n, p, color=c, lw=1)
    if size:
        ax.axhline(size["target"], color="0.4", lw=0.8, ls=":")
        if size.get("n_required") is not None:
            ax.axvline(size["n"], color=c, lw=0.8, ls="--")
            lo, hi = size.get("low"), size.get("high")
            if lo is not None and hi is not None and np.isfinite([lo, hi]).all():
                ax.axvspan(lo, hi, color=c, alpha=0.12, lw=0)
            ax.annotate(f"n = {size['n_required']}", (size["n"], 0.02), xytext=(3, 0),
                        textcoords="offset points", color=c, fontsize=8)  # fmt: skip
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("patients per arm")
    cur = ax.get_ylabel()  # a second curve on the same axes (assurance next to power) adds its name
    names = list(dict.fromkeys([*(cur.split(" (")[0].split(" / ") if cur else []), q]))
    alpha = ds.attrs.get("alpha", 0.05)
    ax.set_ylabel(f"{' / '.join(names)} (share of simulated trials with p < {alpha:g})")
    ax.set_title(
        f"{ds.attrs.get('analysis', '')}: {ds.attrs.get('endpoint', '')}, "
        f"{int(ds.attrs.get('trials', ds.sizes['trial']))} trials per n"
    )
    ax.legend(frameon=False, loc="lower right")
    return fig, ax
