"""Patient-level trial data from simulated arms (for recovery tests and simulation-based calibration)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ValidationError
from ..model.timeline import Visit
from .trial import MEASURES, TrialData

__all__ = ["trial_from_simulations"]


def trial_from_simulations(
    results: dict,
    protocols: dict,
    *,
    source: str = "simulation",
    composite_visits: dict[str, tuple[str, ...]] | None = None,
) -> TrialData:
    """Patient-level :class:`TrialData` from simulated arms (for recovery tests and SBC).

    Parameters
    ----------
    results : dict of arm -> prt_sim.SimulationResult
        One simulation per arm, with the same visits; patient ids must not overlap.
    protocols : dict of arm -> Protocol
    source : str
        Provenance text.
    composite_visits : dict, optional
        Composite visits as in :func:`published_ashar2022` (default: ``baseline`` = mean of
        ``eligibility`` and ``t1`` when both exist).
    """
    from ..simulation import SimulationResult

    if not results:
        raise ValidationError("results", results, "at least one arm")
    parts = []
    visits = None
    for arm, res in results.items():
        if not isinstance(res, SimulationResult):
            raise ValidationError(f"results[{arm}]", type(res).__name__, "a SimulationResult")
        ins = res.instruments
        mode = {v["name"]: v.get("mode", "visit") for v in res.config.get("visits", [])}
        these = tuple(
            Visit(name=str(v), day=int(d), mode=mode.get(str(v), "visit"))
            for v, d in zip(ins["visit"].values, ins["day"].values)
        )
        if visits is None:
            visits = these
        elif these != visits:
            raise ValidationError(
                f"results[{arm}].visits", [v.name for v in these], "the same visits in every arm"
            )
        ds = ins[list(MEASURES)].drop_vars("day")
        ds["attrib_coded"] = xr.where(ds["attrib_mb"].notnull(), 3.0, np.nan)
        ds = ds.assign_coords(arm=("patient", np.full(ds.sizes["patient"], arm, dtype=object)))
        parts.append(ds)
    records = xr.concat(parts, dim="patient")
    records = records.assign_coords(day=("visit", [v.day for v in visits]))
    if composite_visits is None:
        names = {v.name for v in visits}
        composite_visits = (
            {"baseline": ("eligibility", "t1")} if {"eligibility", "t1"} <= names else {}
        )
    return TrialData(
        arms=tuple(results),
        protocols=dict(protocols),
        visits=visits,
        records=records,
        composite_visits=composite_visits,
        source=source,
        citation="",
    )
