"""Forecasts that carry the mechanism uncertainty: each mechanism's forecast draws pooled in proportion to its stacking weight.

Fits of competing memory mechanisms (:mod:`prt_sim.model.mechanisms`) to the same data are
compared by PSIS-LOO, and their stacking weights (Yao et al. 2018, Bayesian Analysis 13:917)
say how to mix their predictive distributions. :func:`stack_forecasts` mixes forecasts made by
:func:`~prt_sim.forecasting.forecast` from those fits: ``round(weight x n_draws)`` draws of
each, evenly spaced, labelled by a ``mechanism`` coordinate on ``draw``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import ValidationError, check_int

__all__ = ["stack_forecasts", "forecast_data_source"]


def forecast_data_source(ds: xr.Dataset) -> str | None:
    """The data a forecast's fit was made with (its configuration's data source), if recorded."""
    return json.loads(ds.attrs.get("config", "{}")).get("design_source")


def stack_forecasts(
    forecasts: Mapping[str, xr.Dataset], weights: Mapping[str, float], *, n_draws: int = 1000
) -> xr.Dataset:
    """Pool forecasts of several mechanisms into one, by stacking weights.

    Parameters
    ----------
    forecasts : mapping of mechanism name -> Dataset
        Forecasts (:func:`~prt_sim.forecasting.forecast`) of fits to the same data, with the
        same arms, scenarios and times.
    weights : mapping of mechanism name -> float
        Non-negative weights over the same names (``arviz.compare(..., method="stacking")``),
        normalised here.
    n_draws : int
        Draws of the pooled forecast, 1-1000000 (each mechanism gives ``round(w x n_draws)``,
        at most the draws it has).

    Returns
    -------
    xarray.Dataset
        The forecasts' variables over ``draw``, with coordinate ``mechanism`` on ``draw``.

    Raises
    ------
    ValidationError
        Names that differ between ``forecasts`` and ``weights``, a negative or all-zero weight,
        forecasts of fits to different data, or forecasts over different arms, scenarios or
        times.
    """
    n_draws = check_int("n_draws", n_draws, 1, 1_000_000)
    if set(forecasts) != set(weights):
        raise ValidationError(
            "weights", sorted(weights), f"one weight per forecast: {sorted(forecasts)}"
        )
    w = np.array([float(weights[k]) for k in forecasts])
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValidationError("weights", dict(weights), "non-negative numbers, not all zero")
    w = w / w.sum()
    names = list(forecasts)
    first = forecasts[names[0]]
    src = forecast_data_source(first)
    for name in names[1:]:
        ds = forecasts[name]
        other = forecast_data_source(ds)
        if other != src:
            raise ValidationError(
                f"forecasts[{name}]",
                f"a fit to {other!r}",
                f"forecasts of fits to the same data ({names[0]!r} was fitted to {src!r})",
            )
        for dim in ("arm", "scenario", "time"):
            if dim in first.coords and not np.array_equal(ds[dim].values, first[dim].values):
                raise ValidationError(
                    f"forecasts[{name}].{dim}",
                    list(ds[dim].values),
                    f"the same {dim} values as {names[0]!r}: {list(first[dim].values)}",
                )
    parts = []
    for name, wk in zip(names, w):
        ds = forecasts[name]
        k = min(int(round(wk * n_draws)), ds.sizes["draw"])
        if k == 0:
            continue
        take = np.linspace(0, ds.sizes["draw"] - 1, k).round().astype(int)
        sub = ds.isel(draw=take)
        parts.append(sub.assign_coords(mechanism=("draw", [name] * k)))
    out = xr.concat(parts, dim="draw", coords="minimal", compat="override", join="override")
    out = out.assign_coords(draw=np.arange(out.sizes["draw"]))
    out.attrs = dict(first.attrs)
    out.attrs["stacking_weights"] = json.dumps(dict(zip(names, [float(x) for x in w])))
    return out
