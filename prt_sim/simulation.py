"""Run a cohort through a protocol: the public :func:`simulate` and its :class:`SimulationResult`.

Chunks of patients go through the calendar runner (:mod:`prt_sim.runner`), which advances the
numba engine day by day to each visit and observes everyone there. Outputs are
``xarray.Dataset``s with named dimensions and provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from . import engine
from .errors import ValidationError, check_int
from .io import NETCDF_ENGINE, _read_group, atomic_path, open_result, provenance
from .model.cohorts import Cohort
from .model.instruments import INSTRUMENTS, PAIN_FREE_MAX, QUESTIONNAIRES
from .model.params import ModelParams
from .model.protocols import Protocol
from .model.protocols import get as get_protocol
from .model.rng import check_seed
from .model.timeline import StressPeriod, Visit, build_timeline
from .runner import make_calendars, make_draws, make_observations, make_patients, run

__all__ = ["simulate", "SimulationResult", "RECORD_MODES"]

#: What :func:`simulate` can record.
RECORD_MODES = ("instruments", "visits", "daily")
_DAILY_LIMIT_BYTES = 4 * 2**30
_KIND = "simulation"


@dataclass
class SimulationResult:
    """Labeled output of :func:`simulate`.

    Attributes
    ----------
    instruments : xarray.Dataset
        Observed instruments over ``(patient, visit)``: ``pain_avg`` (0-10), ``tsk11`` (11-44),
        ``pcs`` (0-52), ``odi`` (0-100), ``attrib_mb`` (mind-brain causes of 3). Integer-valued
        float32; NaN where a visit was not observed. Coordinate ``day`` gives each visit's day.
    latent : xarray.Dataset or None
        Latent states at visits over ``(patient, visit)`` (``record`` "visits" or "daily").
    daily : xarray.Dataset or None
        Daily history over ``(patient, day)`` (``record="daily"`` only).
    patients : xarray.Dataset
        Per patient: traits, initial state, baseline values, treatment received.
    attrs : dict
        Provenance: package version, configuration (JSON) and its hash, seed.
    """

    instruments: xr.Dataset
    latent: xr.Dataset | None
    daily: xr.Dataset | None
    patients: xr.Dataset
    attrs: dict[str, Any]

    _GROUPS = ("instruments", "latent", "daily", "patients")

    @property
    def config(self) -> dict[str, Any]:
        """The configuration that produced this result."""
        return json.loads(self.attrs["config"])

    def __repr__(self) -> str:
        ins = self.instruments
        cfg = self.config
        rec = [g for g in ("latent", "daily") if getattr(self, g) is not None]
        return (
            f"SimulationResult(protocol={cfg['protocol']['name']!r}, "
            f"patients={ins.sizes['patient']}, visits={list(map(str, ins['visit'].values))}, "
            f"horizon_days={cfg['horizon_days']}, seed={self.attrs.get('seed')}"
            + (f", recorded={'+'.join(rec)}" if rec else "")
            + ")"
        )

    def summary(
        self, measures: tuple[str, ...] = ("pain_avg", "tsk11", "pcs", "odi")
    ) -> xr.Dataset:
        """Arm-level summary per visit: n observed, mean and SD of each measure, the pain 0-1
        share (:data:`~prt_sim.model.instruments.PAIN_FREE_MAX`) and the mind-brain share."""
        ins = self.instruments
        out = {"n": ins["pain_avg"].notnull().sum("patient")}
        for m in measures:
            out[f"{m}_mean"] = ins[m].mean("patient")
            out[f"{m}_sd"] = ins[m].std("patient", ddof=1)
        pain = ins["pain_avg"]
        out["pain_free"] = (pain <= PAIN_FREE_MAX).where(pain.notnull()).mean("patient")
        out["mind_brain_share"] = ins["attrib_mb"].mean("patient") / INSTRUMENTS["attrib_mb"].hi
        return xr.Dataset(out, attrs=dict(self.attrs))

    def save(self, path: str | os.PathLike) -> Path:
        """Save losslessly to one netCDF file (one group per dataset), atomically."""
        path = Path(path)
        with atomic_path(path, suffix=".nc") as tmp:
            root = xr.Dataset(attrs=self.attrs)
            root.to_netcdf(tmp, mode="w", engine=NETCDF_ENGINE)
            for g in self._GROUPS:
                ds = getattr(self, g)
                if ds is not None:
                    ds.to_netcdf(tmp, mode="a", group=g, engine=NETCDF_ENGINE)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SimulationResult:
        """Load a result written by :meth:`save`.

        Raises
        ------
        DataFormatError
            The file is missing, damaged, not netCDF or not a simulation result (a fit or a
            forecast, say); the message names the file. Warns (:class:`~prt_sim.errors.
            VersionWarning`) when another prt_sim version wrote it.
        """
        path = Path(path)
        attrs = open_result(path, _KIND)
        groups = {g: _read_group(path, g) for g in cls._GROUPS}
        for g in ("instruments", "patients"):
            if groups[g] is None:
                from .errors import DataFormatError

                raise DataFormatError(f"simulation result without its {g!r} group", file=str(path))
        return cls(
            groups["instruments"], groups["latent"], groups["daily"], groups["patients"], attrs
        )


def simulate(
    cohort: Cohort,
    protocol: str | Protocol = "prt",
    *,
    horizon_days: int = 400,
    seed: int = 0,
    params: ModelParams | None = None,
    visits: tuple[Visit, ...] | None = None,
    stress: tuple[StressPeriod, ...] = (),
    record: Literal["instruments", "visits", "daily"] = "instruments",
    chunk_size: int = 262_144,
    progress: bool | None = None,
) -> SimulationResult:
    """Simulate every patient of ``cohort`` under ``protocol``, day by day.

    Parameters
    ----------
    cohort : Cohort
        The patients.
    protocol : str or Protocol
        A :class:`~prt_sim.model.protocols.Protocol` or a built-in name ("prt", "placebo",
        "usual_care", "none").
    horizon_days : int
        Last simulated study day (day 0 = T1), 1 to 36500. Default 400 covers the 12-month visit.
    seed : int
        Seed of the simulation's random numbers (flare-ups, fluctuation, attendance,
        measurement). Results depend only on ``seed``, the inputs and each patient's id: not on
        ``chunk_size`` or the number of threads.
    params : ModelParams, optional
        Population parameters (default: :class:`ModelParams()`).
    visits : tuple of Visit, optional
        Assessment schedule (default: the trial's, up to the horizon).
    stress : tuple of StressPeriod
        Periods of elevated flare-up rate (starting on or before the horizon).
    record : {"instruments", "visits", "daily"}
        "instruments" (default): observed instruments at visits (5 x visits x 4 bytes per
        patient: 240 MB for 10**6 patients and 12 visits); "visits": plus 8 latent states at
        visits (384 MB more); "daily": plus the full (patient, day) latent history
        (8 x days x 4 bytes per patient).
    chunk_size : int
        Patients simulated together (bounds working memory), 1 to 10**8.
    progress : bool, optional
        Show a progress bar (default: when more than 5e7 patient-days).

    Returns
    -------
    SimulationResult
    """
    if not isinstance(cohort, Cohort):
        raise ValidationError("cohort", type(cohort).__name__, "a prt_sim.Cohort")
    protocol = get_protocol(protocol)
    params = params or ModelParams()
    if not isinstance(params, ModelParams):
        raise ValidationError("params", type(params).__name__, "a prt_sim.ModelParams")
    seed = check_seed(seed)
    chunk_size = check_int("chunk_size", chunk_size, 1, 10**8)
    if record not in RECORD_MODES:
        raise ValidationError("record", record, f"one of {RECORD_MODES}")
    tl = build_timeline(protocol, horizon_days=horizon_days, visits=visits, stress=tuple(stress))
    n, n_vis = len(cohort), len(tl.visits)
    if record == "daily":
        need = len(engine.DAILY_VARS) * n * tl.n_days * 4
        if need > _DAILY_LIMIT_BYTES:
            raise ValidationError(
                "record",
                record,
                f"'daily' for at most {_DAILY_LIMIT_BYTES // 2**30} GiB of history",
                f"{n} patients x {tl.n_days} days needs {need / 2**30:.1f} GiB; "
                "simulate a subset (cohort[:k]) or use record='visits'",
            )
    calendars = make_calendars([tl], [protocol])
    draws = make_draws([params], [seed])
    response = np.array([[v.response for v in tl.visits]])
    latent_vars = engine.LATENT_VARS if record != "instruments" else ()
    # Patient-first outputs: a chunk's rows are one contiguous block the kernels write in place.
    out = make_observations(n, n_vis, latent=latent_vars)
    daily = np.empty(
        (n, len(engine.DAILY_VARS), tl.n_days if record == "daily" else 0), dtype=np.float32
    )
    treating = np.empty(n, dtype=bool)
    attended = np.zeros(n, dtype=np.int32)

    total = n * tl.n_days
    show = progress if progress is not None else total > 5e7
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total, unit="patient-day", unit_scale=True, desc=f"simulate {protocol.name}"
        )
    try:
        for lo in range(0, n, chunk_size):
            hi = min(n, lo + chunk_size)
            sub = cohort[lo:hi]
            batch = make_patients(sub.trait_table(), sub.state_table(), sub.patient_id)
            chunk_out = out._replace(
                pain=out.pain[lo:hi],
                observed=out.observed[lo:hi],
                questionnaires=out.questionnaires[lo:hi],
                latent=out.latent[lo:hi],
            )
            treating[lo:hi] = run(
                batch,
                calendars,
                draws,
                tl.visits,
                response,
                chunk_out,
                n_days=tl.n_days,
                daily=daily[lo:hi],
                tick=bar.update if bar is not None else None,
            )
            attended[lo:hi] = batch.attended
    finally:
        if bar is not None:
            bar.close()

    config = {
        "protocol": protocol.to_dict(),
        "params": params.to_dict(),
        "horizon_days": horizon_days,
        "visits": [v.to_dict() for v in tl.visits],
        "stress": [s.to_dict() for s in stress],
        "record": record,
        "n_patients": n,
        "cohort": dict(cohort.meta),
    }
    attrs = provenance(_KIND, seed, config)
    return _result(cohort, tl, out, daily, record, treating, attended, attrs)


def _result(cohort, tl, out, daily, record, treating, attended, attrs) -> SimulationResult:
    """Label the engine's arrays: instruments (NaN where a visit was not observed), latent
    states, daily history, and the patients."""
    pid = cohort.patient_id.astype(np.int64)
    vcoords = {
        "patient": pid,
        "visit": [v.name for v in tl.visits],
        "day": ("visit", np.array([v.day for v in tl.visits], dtype=np.int64)),
    }
    missing = ~out.observed
    scores = {"pain_avg": out.pain}
    scores |= {k: out.questionnaires[:, q] for q, k in enumerate(QUESTIONNAIRES)}
    data = {}
    for name, ins in INSTRUMENTS.items():
        v = scores[name]
        v[missing] = np.nan
        data[name] = xr.Variable(
            ("patient", "visit"), v, attrs={"units": ins.unit, "long_name": ins.long_name}
        )
    ins_ds = xr.Dataset(data, coords=vcoords, attrs=attrs)
    lat = None
    if record != "instruments":
        lat = xr.Dataset(
            {name: (("patient", "visit"), out.latent[:, k]) for k, name in
             enumerate(engine.LATENT_VARS)},
            coords=vcoords,
            attrs=attrs,
        )  # fmt: skip
    day_ds = None
    if record == "daily":
        day_ds = xr.Dataset(
            {name: (("patient", "day"), daily[:, k]) for k, name in enumerate(engine.DAILY_VARS)},
            coords={"patient": pid, "day": tl.days},
            attrs=attrs,
        )
        day_ds["session_day"] = xr.DataArray(tl.session, dims="day", coords={"day": tl.days})
    patients = cohort.to_dataset()
    patients["started_treatment"] = ("patient", treating)
    patients["sessions_attended"] = ("patient", attended)
    patients.attrs.update(attrs)
    return SimulationResult(ins_ds, lat, day_ds, patients, attrs)
