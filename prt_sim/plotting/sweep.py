"""Figures of sweeps: an outcome's mean over replicates, with 95% intervals, against a factor, an arm, a population or a day, as lines or bars."""

from __future__ import annotations

import numpy as np

from .style import arm_color, new_axes

__all__ = ["plot_sweep"]


def _records(da):
    """(labels, mean, se) for every combination of ``da``'s dims but ``replicate``; labels map
    each dim and each coordinate on ``point`` (the factors) to its value."""
    reps = da.sizes.get("replicate", 1)
    if "replicate" in da.dims:
        m = da.mean("replicate", skipna=True)
        se = da.std("replicate", ddof=1, skipna=True) / np.sqrt(reps) if reps > 1 else m * np.nan
    else:
        m, se = da, da * np.nan
    dims = list(m.dims)
    factors = [c for c in m.coords if m[c].dims == ("point",) and c != "point"]
    out = []
    for idx in np.ndindex(*m.shape):
        lab = {}
        for d, i in zip(dims, idx):
            lab[d] = m[d].values[i].item() if d in m.coords else i
            if d == "point":
                for f in factors:
                    lab[f] = m[f].values[i].item()
        out.append((lab, float(m.values[idx]), float(se.values[idx])))
    return out


def plot_sweep(
    data,
    x: str,
    *,
    hue: str | None = None,
    kind: str | None = None,
    ax=None,
    ylabel: str | None = None,
    hue_format: str = "{}",
):
    """An outcome of a sweep against ``x``, one line (or bar group) per value of ``hue``.

    Parameters
    ----------
    data : xarray.DataArray
        An outcome of :func:`prt_sim.experiments.run_sweep`'s Dataset (``ds["pain_free"]``,
        or a difference such as ``ds["pain_free"].sel(arm="prt") - ds["pain_free"].sel(
        arm="usual_care")``): averaged over ``replicate``, with intervals of +/- 1.96 standard
        errors over replicates (none with one replicate).
    x : str
        A factor (a coordinate on ``point``) or a dimension (``arm``, ``population``, an
        outcome's day).
    hue : str, optional
        Another factor or dimension: one line or bar per value.
    kind : {"line", "bar"}, optional
        Default: lines for numeric ``x``, bars otherwise.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    ylabel : str, optional
        Axis label (default: the outcome's name).
    hue_format : str
        Format of the legend's hue labels (say ``"{:.3g} per day"``).

    Returns
    -------
    (Figure, Axes)

    Raises
    ------
    ValueError
        ``x`` or ``hue`` is neither a factor nor a dimension, or the data vary along something
        else too (select it first, with ``.sel``), so one (x, hue) would have several values.
    """
    fig, ax = new_axes(ax)
    recs = _records(data)
    keys = set(recs[0][0]) if recs else set()
    for name, v in (("x", x), ("hue", hue)):
        if v is not None and v not in keys:
            raise ValueError(
                f"{name}={v!r}: not a factor or dimension of the data ({sorted(keys)})"
            )
    groups: dict = {}
    for lab, m, s in recs:
        key = (lab[hue] if hue else None, lab[x])
        if key in groups:
            varying = sorted(k for k in keys - {x, hue, "point"} if len(
                {r[0][k] for r in recs}) > 1)  # fmt: skip
            raise ValueError(
                f"several values for {x}={lab[x]!r}"
                + (f", {hue}={lab[hue]!r}" if hue else "")
                + f": the data also vary along {varying or ['point']}; select one with .sel()"
            )
        groups[key] = (m, s)

    def ordered(values):  # numbers ascending, labels in the order the data give them
        seen = list(dict.fromkeys(values))
        num = all(isinstance(v, (int, float, np.integer, np.floating)) for v in seen)
        return (sorted(seen) if num else seen), num

    hues, _ = ordered(h for h, _ in groups)
    xs, numeric = ordered(xx for _, xx in groups)
    kind = kind or ("line" if numeric else "bar")
    if kind not in ("line", "bar"):
        raise ValueError(f"kind={kind!r}: 'line' or 'bar'")
    width = 0.8 / max(1, len(hues))
    for j, h in enumerate(hues):
        pts = [(xx, *groups[(h, xx)]) for xx in xs if (h, xx) in groups]
        px = [p[0] for p in pts]
        m = np.array([p[1] for p in pts])
        s = np.array([p[2] for p in pts])
        err = 1.96 * s if np.isfinite(s).any() else None
        label = hue_format.format(h) if hue else None
        color = arm_color(str(h), [str(v) for v in hues]) if hue == "arm" else None
        if kind == "line":
            ax.errorbar(px, m, yerr=err, fmt="o-", ms=4, capsize=2, label=label, color=color)
        else:
            pos = np.array([xs.index(v) for v in px]) + (j - (len(hues) - 1) / 2) * width
            ax.bar(pos, m, width=width, yerr=err, capsize=2, label=label, color=color)
    if kind == "bar":
        ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    ax.set_xlabel(x)
    ax.set_ylabel(str(data.name or "value") if ylabel is None else ylabel)
    if hue:  # above the data: a row of entries in a band added on top
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.22 * (hi - lo))
        ax.legend(title=hue, frameon=False, fontsize=8, title_fontsize=8, loc="upper center",
                  ncol=min(len(hues), 4))  # fmt: skip
    return fig, ax
