"""The figures' shared look: one palette for arms, another for latent states, labels, and new axes.

Arms keep their colour in every figure (:func:`arm_color`), and latent states theirs
(:data:`STATE_COLORS`), from two palettes that do not share colours, so a state is never
mistaken for an arm. No function here changes matplotlib's backend: a new figure comes from
``pyplot`` with whatever backend the user (or ``MPLBACKEND``) chose; without a display,
matplotlib falls back to a file-only backend by itself.
"""

from __future__ import annotations

from ..model.instruments import INSTRUMENTS

__all__ = [
    "ARM_COLORS",
    "STATE_COLORS",
    "INSTRUMENT_LABELS",
    "BAND_LEVEL_TEXT",
    "arm_color",
    "new_axes",
]

#: Colours of the trial's arms (and of the no-treatment counterfactual).
ARM_COLORS = {
    "prt": "#1f77b4",
    "placebo": "#ff7f0e",
    "usual_care": "#2ca02c",
    "none": "#7f7f7f",
}
# Further arms (custom protocols) take these, in order of appearance.
_EXTRA_ARM_COLORS = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")

#: Colours of the latent states (a palette apart from the arms').
STATE_COLORS = {
    "belief": "#7b3294",
    "fear": "#c2a5cf",
    "catastrophizing": "#a6611a",
    "avoidance": "#dfc27d",
    "safety": "#018571",
    "expectancy": "#80cdc1",
    "pain": "#404040",
    "threat": "#ca0020",
}

#: Axis labels of the instruments, from the instrument table.
INSTRUMENT_LABELS = {k: f"{i.long_name} ({i.unit})" for k, i in INSTRUMENTS.items()}

#: What a shaded band is, for legends.
BAND_LEVEL_TEXT = "{pct:g}% interval over posterior draws"


def arm_color(name: str, order: list[str] | None = None) -> str:
    """The colour of an arm: its own for the trial's arms, else the next free one."""
    if name in ARM_COLORS:
        return ARM_COLORS[name]
    others = [a for a in (order or [name]) if a not in ARM_COLORS]
    k = others.index(name) if name in others else 0
    return _EXTRA_ARM_COLORS[k % len(_EXTRA_ARM_COLORS)]


def new_axes(ax=None, figsize=(7, 4)):
    """``(fig, ax)``: the given axes and their figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax
