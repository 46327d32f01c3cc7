"""Figures of sensitivity analyses: Sobol first-order and total indices with their intervals, as a tornado of horizontal bars."""

from __future__ import annotations

import numpy as np

from .style import new_axes

__all__ = ["plot_sobol"]


def plot_sobol(res, ax=None, *, sort: bool = True, title: str | None = None):
    """Horizontal bars of first-order and total Sobol indices, widest total on top.

    Parameters
    ----------
    res : xarray.Dataset
        From :func:`prt_sim.experiments.sensitivity.sobol_analysis` or ``sweep_sobol``
        (``estimate``, ``low``, ``high`` over ``(factor, index)``).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    sort : bool
        Order factors by total index (a tornado); else in the design's order.
    title : str, optional
        Axes title (default: the outcome, when ``res`` names one).

    Returns
    -------
    (Figure, Axes)
    """
    fig, ax = new_axes(ax, figsize=(7, 0.5 * res.sizes["factor"] + 1.5))
    est = res["estimate"]
    names = [str(f) for f in res["factor"].values]
    order = np.argsort(est.sel(index="total").values) if sort else np.arange(len(names))[::-1]
    y = np.arange(len(names))
    h = 0.38
    for k, (idx, color, label) in enumerate(
        (("total", "#4c72b0", "total"), ("first", "#dd8452", "first-order"))
    ):
        e = est.sel(index=idx).values[order]
        lo = res["low"].sel(index=idx).values[order]
        hi = res["high"].sel(index=idx).values[order]
        err = None
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            err = np.vstack([np.clip(e - lo, 0, None), np.clip(hi - e, 0, None)])
        ax.barh(y + (0.5 - k) * h, e, height=h, color=color, label=label, xerr=err,
                error_kw={"elinewidth": 1, "capsize": 2})  # fmt: skip
        flags = res["flag"].sel(index=idx).values[order] if "flag" in res else [""] * len(y)
        for yy, ee, f in zip(y + (0.5 - k) * h, e, flags):
            if f:
                ax.annotate(f"! {f}", (max(ee, 0), yy), xytext=(4, -3), fontsize=7,
                            textcoords="offset points", color="crimson")  # fmt: skip
    ax.set_yticks(y, [names[i] for i in order])
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("Sobol index (share of output variance)")
    ax.set_xlim(min(-0.05, float(np.nanmin(res["low"].values, initial=0)) - 0.02), 1.05)
    ax.legend(loc="lower right", frameon=False)
    outcome = res.attrs.get("outcome")
    ax.set_title(title if title is not None else (f"Sensitivity of {outcome}" if outcome else ""))
    return fig, ax
