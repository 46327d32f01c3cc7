"""Run a cohort through a protocol: the public :func:`simulate` and its :class:`SimulationResult`.

A SimPy process drives each chunk of patients through the calendar: it advances the numba engine
day by day up to the next visit, yields to the SimPy clock, and observes everyone at the visit.
Outputs are ``xarray.Dataset``s with named dimensions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import simpy
import xarray as xr

from . import engine
from .cohorts import Cohort
from .errors import ValidationError, check_int
from .instruments import INSTRUMENTS
from .io import NETCDF_ENGINE, atomic_path, provenance
from .params import ModelParams
from .protocols import Protocol
from .protocols import get as get_protocol
from .rng import check_seed, derive_key
from .timeline import StressPeriod, Timeline, Visit, build_timeline

__all__ = ["simulate", "SimulationResult", "RECORD_MODES"]

#: What :func:`simulate` can record.
RECORD_MODES = ("instruments", "visits", "daily")
_DAILY_LIMIT_BYTES = 4 * 2**30


@dataclass
class SimulationResult:
    """Labeled output of :func:`simulate`.

    Attributes
    ----------
    instruments : xarray.Dataset
        Observed instruments over ``(patient, visit)``: ``pain_avg`` (0-10), ``tsk11`` (11-44),
        ``pcs`` (0-52), ``attrib_mb`` (mind-brain causes of 3), ``odi`` (0-100). Integer-valued
        float32; NaN where a visit was not observed. Coordinate ``day`` gives each visit's day.
    latent : xarray.Dataset or None
        Latent states at visits over ``(patient, visit)`` (``record`` "visits" or "daily").
    daily : xarray.Dataset or None
        Daily history over ``(patient, day)`` (``record="daily"`` only).
    patients : xarray.Dataset
        Per patient: traits, initial state, baseline values, treatment received.
    attrs : dict
        Provenance: package version, configuration (JSON), seed.
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

    def summary(
        self, measures: tuple[str, ...] = ("pain_avg", "tsk11", "pcs", "odi")
    ) -> xr.Dataset:
        """Arm-level summary per visit: n observed, mean and SD of each measure, pain 0-1 share."""
        ins = self.instruments
        out = {"n": ins["pain_avg"].notnull().sum("patient")}
        for m in measures:
            out[f"{m}_mean"] = ins[m].mean("patient")
            out[f"{m}_sd"] = ins[m].std("patient", ddof=1)
        out["pain_free"] = (ins["pain_avg"] <= 1).where(ins["pain_avg"].notnull()).mean("patient")
        out["mind_brain_share"] = ins["attrib_mb"].mean("patient") / 3.0
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
        """Load a result written by :meth:`save`."""
        path = Path(path)
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as root:
            attrs = dict(root.attrs)
        groups: dict[str, xr.Dataset | None] = {}
        for g in cls._GROUPS:
            try:
                with xr.open_dataset(path, group=g, engine=NETCDF_ENGINE) as ds:
                    groups[g] = ds.load()
            except OSError:
                groups[g] = None
        return cls(
            groups["instruments"], groups["latent"], groups["daily"], groups["patients"], attrs
        )


def _population_process(
    env: simpy.Environment,
    tl: Timeline,
    chunk: dict[str, Any],
    key_sim: np.uint64,
    key_obs: np.uint64,
    protocol: Protocol,
    p: Any,
    tick,
) -> Any:
    """SimPy process: advance the chunk to each visit, observe, continue to the horizon."""
    t = 0
    stops = [(v.day - tl.start_day + 1, j, v) for j, v in enumerate(tl.visits)]
    stops.append((tl.n_days, None, None))
    for t_stop, j, visit in stops:
        if t_stop > t:
            engine.advance(
                chunk["state"],
                chunk["traits"],
                chunk["pids"],
                chunk["treating"],
                chunk["attended"],
                chunk["ring"],
                key_sim,
                tl.start_day,
                t,
                t_stop,
                tl.education,
                tl.exposure,
                tl.placebo,
                tl.session,
                tl.self_guided,
                tl.flare_multiplier,
                protocol.attendance,
                protocol.dropout,
                p,
                chunk["daily"],
                0,
            )
            tick(len(chunk["pids"]) * (t_stop - t))
            yield env.timeout(t_stop - t)
            t = t_stop
        if visit is not None:
            engine.observe(
                chunk["state"],
                chunk["traits"],
                chunk["ring"],
                chunk["pids"],
                key_obs,
                visit.day,
                visit.response,
                p,
                chunk["instruments"],
                chunk["latent"],
                j,
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
        A :class:`~prt_sim.protocols.Protocol` or a built-in name ("prt", "placebo",
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
        Periods of elevated flare-up rate.
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
    p = params.to_tuple()
    key_sim = np.uint64(derive_key(seed, "simulate", "dynamics"))
    key_obs = np.uint64(derive_key(seed, "simulate", "observe"))
    key_up = np.uint64(derive_key(seed, "simulate", "uptake"))

    instruments = np.empty((len(INSTRUMENTS), n_vis, n), dtype=np.float32)
    latent = np.empty(
        (len(engine.LATENT_VARS), n_vis if record != "instruments" else 0, n), dtype=np.float32
    )
    daily = np.empty(
        (len(engine.DAILY_VARS), n, tl.n_days if record == "daily" else 0), dtype=np.float32
    )
    treating = np.empty(n, dtype=bool)
    attended = np.zeros(n, dtype=np.int32)

    from .rng import uniform_array

    total = n * tl.n_days
    show = progress if progress is not None else total > 5e7
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total, unit="patient-day", unit_scale=True, desc=f"simulate {protocol.name}"
        )
    tick = bar.update if bar is not None else (lambda k: None)
    try:
        for lo in range(0, n, chunk_size):
            hi = min(n, lo + chunk_size)
            sub = cohort[lo:hi]
            chunk = {
                "state": sub.state_array(),
                "traits": sub.traits_array(),
                "pids": sub.patient_id,
                "treating": uniform_array(key_up, sub.patient_id, np.uint64(0)) < protocol.uptake,
                "attended": np.zeros(hi - lo, dtype=np.int32),
                "ring": np.empty((7, hi - lo)),
                # Views into the outputs: the kernels write each chunk in place (no copies).
                "instruments": instruments[:, :, lo:hi],
                "latent": latent[:, :, lo:hi],
                "daily": daily[:, lo:hi, :],
            }
            started = chunk["treating"].copy()
            engine.prime_ring(chunk["state"], chunk["traits"], chunk["ring"], p)
            env = simpy.Environment(initial_time=tl.start_day)
            env.process(_population_process(env, tl, chunk, key_sim, key_obs, protocol, p, tick))
            env.run()
            treating[lo:hi] = started
            attended[lo:hi] = chunk["attended"]
            del chunk
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
        "cohort": {k: v for k, v in cohort.meta.items()},
    }
    attrs = provenance("simulation", seed, config)
    pid = cohort.patient_id.astype(np.int64)
    vcoords = {
        "patient": pid,
        "visit": [v.name for v in tl.visits],
        "day": ("visit", np.array([v.day for v in tl.visits], dtype=np.int64)),
    }
    ins = xr.Dataset(
        {name: (("patient", "visit"), instruments[k].T) for k, name in enumerate(INSTRUMENTS)},
        coords=vcoords,
        attrs=attrs,
    )
    for name, (unit, desc) in _INSTRUMENT_DOC.items():
        ins[name].attrs.update(units=unit, long_name=desc)
    lat = None
    if record != "instruments":
        lat = xr.Dataset(
            {
                name: (("patient", "visit"), latent[k].T)
                for k, name in enumerate(engine.LATENT_VARS)
            },
            coords=vcoords,
            attrs=attrs,
        )
    day_ds = None
    if record == "daily":
        day_ds = xr.Dataset(
            {name: (("patient", "day"), daily[k]) for k, name in enumerate(engine.DAILY_VARS)},
            coords={"patient": pid, "day": tl.days},
            attrs=attrs,
        )
        sess = xr.DataArray(tl.session, dims="day", coords={"day": tl.days})
        day_ds["session_day"] = sess
    patients = cohort.to_dataset()
    patients["started_treatment"] = ("patient", treating)
    patients["sessions_attended"] = ("patient", attended)
    patients.attrs.update(attrs)
    return SimulationResult(ins, lat, day_ds, patients, attrs)


_INSTRUMENT_DOC = {
    "pain_avg": ("points (0-10)", "BPI average pain in the last week"),
    "tsk11": ("sum (11-44)", "Tampa Scale of Kinesiophobia, 11 items"),
    "pcs": ("sum (0-52)", "Pain Catastrophizing Scale"),
    "attrib_mb": ("count (0-3)", "attributed causes of pain coded mind-brain"),
    "odi": ("percent (0-100)", "Oswestry Disability Index"),
}
