"""The trial-data container :class:`TrialData`: arm-level summaries or patient-level records, validated, with the design.

:class:`TrialData` is the one container the fitting layer reads. It holds either

- **arm-level summaries** (``level == "arm"``): per arm and visit, mean / SD / n of each measure
  and the pain 0-1 responder counts, as published (:func:`prt_sim.data.published_ashar2022`) or
  computed from patient records (:meth:`TrialData.to_summaries`, :meth:`TrialData.to_arm_level`);
  or
- **patient-level records** (``level == "patient"``): one value per patient and visit, read from
  the public files (:mod:`prt_sim.data.ashar2022`).

Measures (:data:`MEASURES`) are the instruments of :mod:`prt_sim.model.instruments`, with their
ranges from there. Missing values are NaN, never 0.

Examples
--------
>>> from prt_sim.data import published_ashar2022
>>> pub = published_ashar2022()
>>> float(pub.summaries.pain_avg_mean.sel(arm="prt", visit="post"))
1.18
>>> pub.subset(arms="prt", measures="pain_avg", max_day=30).visit_names
('baseline', 't1', 'post')
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataFormatError, ValidationError, check_int
from ..io import NETCDF_ENGINE, _read_group, atomic_path, open_result, provenance
from ..model.instruments import INSTRUMENT_NAMES, INSTRUMENT_RANGES, PAIN_FREE_MAX
from ..model.protocols import Protocol
from ..model.timeline import Visit

__all__ = [
    "TrialData",
    "MEASURES",
    "RANGES",
    "COVARIATES",
    "SUMMARY_MEASURES",
    "BASELINE_COMPOSITE",
]

#: Patient-level measures (records variables over ``(patient, visit)``): the instruments.
MEASURES = INSTRUMENT_NAMES

#: Allowed range of every records variable over ``(patient, visit)``.
RANGES = dict(INSTRUMENT_RANGES) | {"attrib_coded": INSTRUMENT_RANGES["attrib_mb"]}

#: Patient-level covariates (records variables over ``patient``): name -> (range, meaning).
COVARIATES = {
    "chronicity": ((0.0, 80.0), "years with back pain (file column backpain_length)"),
    "age": ((0.0, 120.0), "age in years"),
}

#: Summary variable prefix of each measure (``<prefix>_mean``, ``_sd``, ``_n``).
SUMMARY_MEASURES = {m: ("attrib_mb_share" if m == "attrib_mb" else m) for m in MEASURES}
_SUMMARY_RANGES = {SUMMARY_MEASURES[m]: r for m, r in INSTRUMENT_RANGES.items()} | {
    "attrib_mb_share": (0.0, 1.0)
}
_PAIN_FREE = ("pain_free_k", "pain_free_n_randomized", "pain_free_n_observed")
#: The paper's baseline: the mean of the eligibility visit and T1.
BASELINE_COMPOSITE = {"baseline": ("eligibility", "t1")}

_KIND = "trial_data"
_FORMAT_VERSION = 1


class TrialData:
    """Validated trial data: arm-level summaries or patient-level records, plus the design.

    Parameters
    ----------
    arms : sequence of str
        Arm names, e.g. ``("prt", "placebo", "usual_care")``; unique, non-empty.
    protocols : mapping of arm -> prt_sim.Protocol
        What each arm received (one entry per arm).
    visits : sequence of prt_sim.Visit
        The visits of the data's ``visit`` dimension with their study days (day 0 = T1), sorted by
        day on construction. At arm level this includes composite visits (``baseline``).
    summaries : xarray.Dataset, optional
        Arm-level data over ``(arm, visit)``: ``<m>_mean``, ``<m>_sd``, ``<m>_n`` for ``m`` in
        ``pain_avg, tsk11, pcs, odi, attrib_mb_share`` (share of coded causes that are
        mind-brain), ``pain_free_k`` (patients with pain 0-1), ``pain_free_n_randomized``,
        ``pain_free_n_observed``; ``n_randomized`` over ``arm``. NaN where not reported.
        Coordinates ``arm``, ``visit``, ``day`` (over ``visit``).
    records : xarray.Dataset, optional
        Patient-level data over ``(patient, visit)``: ``pain_avg``, ``tsk11``, ``pcs``, ``odi``,
        ``attrib_mb`` (mind-brain causes among the coded ones) and ``attrib_coded`` (number of
        causes coded, 0-3; NaN at visits without attributions); covariates over ``patient``
        (``chronicity`` in years, ``age``). Coordinates ``patient`` (int id), ``visit``, ``day``
        (over ``visit``) and ``arm`` (over ``patient``). NaN = missing.
    composite_visits : mapping of str -> tuple of str, optional
        Visits defined as the per-patient mean of other visits, e.g.
        ``{"baseline": ("eligibility", "t1")}``. At patient level the components must be visits
        of the records, and :meth:`to_summaries` adds the composite (dated at the mean of the
        components' days); at arm level the composite is a visit of the summaries.
    source, citation : str
        Where the data came from and what to cite. Exactly one of ``summaries`` and
        ``records`` is given.

    Raises
    ------
    ValidationError
        Inconsistent design, dimensions, coordinates or out-of-range values (the field names
        what is wrong).
    """

    def __init__(
        self,
        *,
        arms: Sequence[str],
        protocols: Mapping[str, Protocol],
        visits: Sequence[Visit],
        summaries: xr.Dataset | None = None,
        records: xr.Dataset | None = None,
        composite_visits: Mapping[str, Sequence[str]] | None = None,
        source: str = "",
        citation: str = "",
    ) -> None:
        if isinstance(arms, str):
            arms = (arms,)
        self.arms: tuple[str, ...] = tuple(arms)
        self.protocols: dict[str, Protocol] = dict(protocols)
        self.visits: tuple[Visit, ...] = tuple(
            sorted(visits, key=lambda v: v.day if isinstance(v, Visit) else 0)
        )
        self.composite_visits: dict[str, tuple[str, ...]] = {
            k: tuple(v) for k, v in (composite_visits or {}).items()
        }
        self.summaries = summaries
        self.records = records
        self.source = source
        self.citation = citation
        self._validate()

    # -- validation -----------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.arms:
            raise ValidationError("TrialData.arms", self.arms, "at least one arm name")
        for a in self.arms:
            if not isinstance(a, str) or not a:
                raise ValidationError("TrialData.arms", a, "non-empty strings")
        if len(set(self.arms)) != len(self.arms):
            raise ValidationError("TrialData.arms", self.arms, "unique arm names")
        if set(self.protocols) != set(self.arms):
            raise ValidationError(
                "TrialData.protocols", sorted(self.protocols), f"one protocol per arm {self.arms}"
            )
        for a, p in self.protocols.items():
            if not isinstance(p, Protocol):
                raise ValidationError(f"TrialData.protocols[{a}]", p, "a prt_sim.Protocol")
        if not self.visits:
            raise ValidationError("TrialData.visits", self.visits, "at least one visit")
        for i, v in enumerate(self.visits):
            if not isinstance(v, Visit):
                raise ValidationError(f"TrialData.visits[{i}]", v, "a prt_sim.Visit")
        names = self.visit_names
        if len(set(names)) != len(names):
            raise ValidationError("TrialData.visits", names, "unique visit names")
        if not isinstance(self.source, str) or not isinstance(self.citation, str):
            raise ValidationError("TrialData.source/citation", (self.source, self.citation), "str")
        if (self.summaries is None) == (self.records is None):
            raise ValidationError(
                "TrialData.summaries/records",
                "both" if self.summaries is not None else "neither",
                "exactly one of summaries (arm level) and records (patient level)",
            )
        for name, comps in self.composite_visits.items():
            if not isinstance(name, str) or not comps or name in comps:
                raise ValidationError(
                    f"TrialData.composite_visits[{name}]",
                    comps,
                    "a non-empty tuple of other visits",
                )
            if self.records is not None:
                if name in names:
                    raise ValidationError(
                        f"TrialData.composite_visits[{name}]",
                        name,
                        "a name that is not a records visit (composites are computed)",
                    )
                missing = [c for c in comps if c not in names]
                if missing:
                    raise ValidationError(
                        f"TrialData.composite_visits[{name}]", missing, f"visits among {names}"
                    )
        if self.summaries is not None:
            self._validate_summaries(self.summaries)
        else:
            self._validate_records(self.records)

    def _check_coords(self, ds: xr.Dataset, what: str, dims: tuple[str, ...]) -> None:
        for v in ds.data_vars:
            if not set(ds[v].dims) <= set(dims):
                raise ValidationError(f"TrialData.{what}.{v}.dims", ds[v].dims, f"dims in {dims}")
        for d in dims:
            if d not in ds.coords:
                raise ValidationError(f"TrialData.{what}.coords", d, f"coordinates {dims}")
        got = tuple(str(x) for x in ds["visit"].values)
        if got != self.visit_names:
            raise ValidationError(
                f"TrialData.{what}.visit", got, f"the visit names in day order {self.visit_names}"
            )
        if "day" not in ds.coords or [int(d) for d in ds["day"].values] != [
            v.day for v in self.visits
        ]:
            raise ValidationError(
                f"TrialData.{what}.day",
                ds["day"].values.tolist() if "day" in ds.coords else None,
                f"the visit days {[v.day for v in self.visits]}",
            )

    def _validate_summaries(self, ds: xr.Dataset) -> None:
        if not isinstance(ds, xr.Dataset):
            raise ValidationError("TrialData.summaries", type(ds).__name__, "an xarray.Dataset")
        self._check_coords(ds, "summaries", ("arm", "visit"))
        got = tuple(str(x) for x in ds["arm"].values)
        if got != self.arms:
            raise ValidationError("TrialData.summaries.arm", got, f"the arms {self.arms}")
        for v in ds.data_vars:
            x = np.asarray(ds[v].values, dtype=float)
            ok = np.isnan(x)
            if v.endswith("_mean") and v[: -len("_mean")] in _SUMMARY_RANGES:
                lo, hi = _SUMMARY_RANGES[v[: -len("_mean")]]
                ok |= (x >= lo) & (x <= hi)
            else:
                ok |= x >= 0
            if v.endswith("_n") or v.startswith("pain_free") or v == "n_randomized":
                ok &= np.isnan(x) | (x == np.round(x))
            if not ok.all():
                bad = x[~ok][0]
                raise ValidationError(f"TrialData.summaries.{v}", float(bad), "a value in range")
        if all(k in ds for k in _PAIN_FREE):
            k, nr, no = (np.asarray(ds[v].values, float) for v in _PAIN_FREE)
            with np.errstate(invalid="ignore"):
                bad = (k > no) | (no > nr) | (k > nr)
            if bad.any():
                raise ValidationError(
                    "TrialData.summaries.pain_free_k",
                    float(k[bad][0]),
                    "pain_free_k <= pain_free_n_observed <= pain_free_n_randomized",
                )

    def _validate_records(self, ds: xr.Dataset) -> None:
        if not isinstance(ds, xr.Dataset):
            raise ValidationError("TrialData.records", type(ds).__name__, "an xarray.Dataset")
        self._check_coords(ds, "records", ("patient", "visit"))
        pid = ds["patient"].values
        if not np.issubdtype(pid.dtype, np.integer):
            raise ValidationError("TrialData.records.patient", pid.dtype, "integer patient ids")
        if len(np.unique(pid)) != len(pid):
            raise ValidationError("TrialData.records.patient", "duplicates", "unique patient ids")
        if "arm" not in ds.coords or ds["arm"].dims != ("patient",):
            raise ValidationError("TrialData.records.arm", None, "a coordinate over patient")
        bad_arms = sorted({str(a) for a in ds["arm"].values} - set(self.arms))
        if bad_arms:
            raise ValidationError("TrialData.records.arm", bad_arms, f"arms among {self.arms}")
        ranges = RANGES | {k: r for k, (r, _) in COVARIATES.items()}
        for v in ds.data_vars:
            if v not in ranges:
                continue
            x = np.asarray(ds[v].values, dtype=float)
            lo, hi = ranges[v]
            bad = ~np.isnan(x) & ((x < lo) | (x > hi))
            if bad.any():
                raise ValidationError(f"TrialData.records.{v}", float(x[bad][0]), f"[{lo}, {hi}]")
        if "attrib_mb" in ds and "attrib_coded" in ds:
            mb, coded = ds["attrib_mb"].values, ds["attrib_coded"].values
            with np.errstate(invalid="ignore"):
                bad = (mb > coded) | (~np.isnan(mb) & ~(coded > 0))
            if bad.any():
                raise ValidationError(
                    "TrialData.records.attrib_mb",
                    float(mb[bad][0]),
                    "at most attrib_coded (and NaN when no cause is coded)",
                )

    # -- properties -----------------------------------------------------------------------------
    @property
    def level(self) -> str:
        """``"arm"`` (summaries) or ``"patient"`` (records)."""
        return "patient" if self.records is not None else "arm"

    @property
    def data(self) -> xr.Dataset:
        """The summaries (arm level) or the records (patient level)."""
        return self.records if self.records is not None else self.summaries

    @property
    def visit_names(self) -> tuple[str, ...]:
        """Names of :attr:`visits`, in day order."""
        return tuple(v.name for v in self.visits)

    @property
    def visit_days(self) -> dict[str, int]:
        """Visit name -> study day (composite visits included)."""
        out = {v.name: v.day for v in self.visits}
        for name, comps in self.composite_visits.items():
            out.setdefault(name, self._composite_day(comps))
        return dict(sorted(out.items(), key=lambda kv: kv[1]))

    def visit_mode(self, name: str) -> str:
        """How the data's visit ``name`` asked for pain (:attr:`Visit.mode`): "visit" for a
        name the data's visits do not have (a composite's component, a calendar visit)."""
        return next((v.mode for v in self.visits if v.name == name), "visit")

    def simulated_visits(self) -> tuple[Visit, ...]:
        """The visits a simulation of this trial must observe, in day order: every visit of the
        data, with a composite visit replaced by its components (days from the data, else from
        the trial calendar, :func:`~prt_sim.model.timeline.trial_visits`)."""
        from ..model.timeline import trial_visits

        calendar = {v.name: v.day for v in trial_visits()}
        days = {v.name: v.day for v in self.visits}
        names = list(self.visit_names) + [
            c for c in self.composite_visits if c not in self.visit_names
        ]
        out: dict[str, int] = {}
        for name in names:
            for part in self.composite_visits.get(name, (name,)):
                day = days.get(part, calendar.get(part))
                if day is None:
                    raise ValidationError(
                        f"TrialData.composite_visits[{name}]",
                        part,
                        f"visits of the data {self.visit_names} or of the trial calendar "
                        f"{tuple(calendar)}",
                    )
                out[part] = int(day)
        return tuple(
            Visit(name=n, day=d, mode=self.visit_mode(n))
            for n, d in sorted(out.items(), key=lambda kv: kv[1])
        )

    @property
    def measures(self) -> tuple[str, ...]:
        """Measures (of :data:`MEASURES`) present in the data."""
        if self.records is not None:
            return tuple(m for m in MEASURES if m in self.records)
        return tuple(m for m in MEASURES if f"{SUMMARY_MEASURES[m]}_mean" in self.summaries)

    @property
    def n_randomized(self) -> dict[str, int]:
        """Arm -> number of patients (randomized; enrolled for healthy controls)."""
        if self.records is not None:
            arm = self.records["arm"].values.astype(str)
            return {a: int((arm == a).sum()) for a in self.arms}
        if "n_randomized" not in self.summaries:
            return {}
        return {
            a: int(n)
            for a, n in zip(self.arms, self.summaries["n_randomized"].values)
            if not np.isnan(n)
        }

    @property
    def n_patients(self) -> int | None:
        """Number of patients (patient level) or None."""
        return None if self.records is None else int(self.records.sizes["patient"])

    def _composite_day(self, comps: Sequence[str]) -> int:
        """Day of a patient-level composite: the mean of its components' days."""
        days = {v.name: v.day for v in self.visits}
        known = [days[c] for c in comps if c in days]
        return int(round(sum(known) / len(known))) if known else 0

    def __repr__(self) -> str:
        arms = ", ".join(f"{a}: {n}" for a, n in self.n_randomized.items()) or ", ".join(self.arms)
        vis = ", ".join(f"{v.name}@{v.day}" for v in self.visits)
        lines = [
            f"TrialData(level={self.level!r}, arms=[{arms}]",
            f"  visits=[{vis}]",
        ]
        if self.composite_visits:
            comp = ", ".join(
                f"{k} = mean({', '.join(v)})" for k, v in self.composite_visits.items()
            )
            lines.append(f"  composite_visits=[{comp}]")
        lines.append(f"  measures={list(self.measures)}")
        if self.records is not None:
            cov = [v for v in self.records.data_vars if self.records[v].dims == ("patient",)]
            lines.append(f"  patients={self.n_patients}, covariates={cov}")
        lines.append(f"  source={self.source!r})")
        return "\n".join(lines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrialData):
            return NotImplemented
        return (
            self.arms == other.arms
            and self.protocols == other.protocols
            and self.visits == other.visits
            and self.composite_visits == other.composite_visits
            and self.source == other.source
            and self.citation == other.citation
            and _ds_equal(self.summaries, other.summaries)
            and _ds_equal(self.records, other.records)
        )

    __hash__ = None  # type: ignore[assignment]

    def replace(self, **changes: Any) -> TrialData:
        """A new TrialData with some constructor arguments changed (validated like any other),
        e.g. ``data.replace(protocols={**data.protocols, "prt": prt})``."""
        kw = {
            "arms": self.arms,
            "protocols": self.protocols,
            "visits": self.visits,
            "summaries": self.summaries,
            "records": self.records,
            "composite_visits": self.composite_visits,
            "source": self.source,
            "citation": self.citation,
        }
        kw.update(changes)
        return TrialData(**kw)

    # -- selection ------------------------------------------------------------------------------
    def subset(
        self,
        arms: str | Iterable[str] | None = None,
        visits: str | Iterable[str] | None = None,
        measures: str | Iterable[str] | None = None,
        max_day: int | None = None,
    ) -> TrialData:
        """A new TrialData restricted to some arms, visits, measures and/or days.

        Parameters
        ----------
        arms : str or iterable of str, optional
            Arms to keep (kept in the data's arm order). Default: all.
        visits : str or iterable of str, optional
            Visits to keep, by name. A composite visit (``"baseline"``) is accepted at both
            levels; at patient level it keeps its component visits too. Default: all.
        measures : str or iterable of str, optional
            Measures of :data:`MEASURES` to keep (``"attrib_mb_share"`` is an alias of
            ``"attrib_mb"``); ``pain_free_*`` go with ``pain_avg``, ``attrib_coded`` with
            ``attrib_mb``. Covariates and ``n_randomized`` are always kept. Default: all.
        max_day : int, optional
            Keep visits on or before this study day (a composite at patient level only if all its
            components are kept).

        Raises
        ------
        ValidationError
            An unknown arm, visit or measure (naming the field, the value and the allowed values),
            a bad ``max_day``, or a selection that leaves nothing.
        """
        new_arms = self.arms
        if arms is not None:
            sel = _names("subset.arms", arms, self.arms)
            new_arms = tuple(a for a in self.arms if a in sel)
        all_visit_names = tuple(self.visit_days)
        keep_visits = set(self.visit_names)
        composites = dict(self.composite_visits)
        if visits is not None:
            sel = _names("subset.visits", visits, all_visit_names)
            keep_visits = set(sel)
            if self.level == "patient":
                for c in sel:
                    keep_visits |= set(composites.get(c, ()))
                keep_visits -= set(composites)
                composites = {k: v for k, v in composites.items() if k in sel}
        if max_day is not None:
            max_day = check_int("subset.max_day", max_day, -36_500, 36_500)
            keep_visits = {
                v.name for v in self.visits if v.name in keep_visits and v.day <= max_day
            }
        if self.level == "patient":
            composites = {k: v for k, v in composites.items() if set(v) <= keep_visits}
        else:
            composites = {k: v for k, v in composites.items() if k in keep_visits}
        new_visits = tuple(v for v in self.visits if v.name in keep_visits)
        if not new_visits:
            raise ValidationError(
                "subset.visits",
                visits if max_day is None else f"{visits} with max_day={max_day}",
                f"a selection leaving at least one of {all_visit_names}",
            )
        keep_measures = self.measures
        if measures is not None:
            if isinstance(measures, str):
                measures = (measures,)
            measures = ["attrib_mb" if m == "attrib_mb_share" else m for m in measures]
            sel = _names("subset.measures", measures, self.measures)
            keep_measures = tuple(m for m in self.measures if m in sel)
        ds = self.data
        drop = [v for v in ds.data_vars if _measure_of(v) not in (None, *keep_measures)]
        ds = ds.drop_vars(drop).sel(visit=[v.name for v in new_visits])
        if self.level == "patient":
            ds = ds.isel(patient=np.flatnonzero(np.isin(ds["arm"].values.astype(str), new_arms)))
            kw = {"records": ds}
        else:
            kw = {"summaries": ds.sel(arm=list(new_arms))}
        return self.replace(
            arms=new_arms,
            protocols={a: self.protocols[a] for a in new_arms},
            visits=new_visits,
            composite_visits=composites,
            **kw,
        )

    # -- derived data ---------------------------------------------------------------------------
    def _values_with_composites(self) -> tuple[tuple[Visit, ...], dict[str, np.ndarray]]:
        """Records values over (patient, visit) with the composite visits appended (day order)."""
        rec = self.records
        visits = list(self.visits)
        cols: dict[str, list[np.ndarray]] = {}
        names = [v for v in RANGES if v in rec]
        for v in names:
            cols[v] = [np.asarray(rec[v].transpose("patient", "visit").values, dtype=float)]
        for name, comps in self.composite_visits.items():
            visits.append(Visit(name=name, day=self._composite_day(comps)))
            for v in names:
                x = np.stack([rec[v].sel(visit=c).values.astype(float) for c in comps])
                # All components required: a patient missing one has no composite value.
                cols[v].append(x.mean(axis=0)[:, None])
        order = np.argsort([v.day for v in visits], kind="stable")
        out = {v: np.concatenate(c, axis=1)[:, order] for v, c in cols.items()}
        return tuple(visits[i] for i in order), out

    def to_summaries(self) -> xr.Dataset:
        """Arm-level summaries per arm and visit (a copy of :attr:`summaries` at arm level).

        From records: for each measure the mean, SD (ddof=1; NaN with fewer than 2 values) and
        the number observed; ``attrib_mb_share_mean`` is the pooled share of coded causes that are
        mind-brain (sum of ``attrib_mb`` / sum of ``attrib_coded``), with the SD of per-patient
        shares and n = patients with at least one coded cause; ``pain_free_k`` counts patients with
        pain <= 1 among the observed, ``pain_free_n_observed`` the observed and
        ``pain_free_n_randomized`` all patients of the arm (missing = non-responder, as in the
        paper). Composite visits are added as the per-patient mean of their components (missing
        if any component is missing).

        Returns
        -------
        xarray.Dataset
            Dims ``(arm, visit)``, the same layout as :attr:`summaries`.
        """
        if self.summaries is not None:
            return self.summaries.copy(deep=True)
        visits, vals = self._values_with_composites()
        arm_of = self.records["arm"].values.astype(str)
        na, nv = len(self.arms), len(visits)
        out: dict[str, np.ndarray] = {}

        def stats(x: np.ndarray) -> tuple[float, float, float]:
            x = x[~np.isnan(x)]
            n = len(x)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n > 1 else math.nan
            return mean, sd, float(n)

        for m in self.measures:
            p = SUMMARY_MEASURES[m]
            for s in ("mean", "sd", "n"):
                out[f"{p}_{s}"] = np.full((na, nv), np.nan)
        if "pain_avg" in vals:
            for k in _PAIN_FREE:
                out[k] = np.full((na, nv), np.nan)
        for i, a in enumerate(self.arms):
            rows = arm_of == a
            for m in self.measures:
                p = SUMMARY_MEASURES[m]
                for j in range(nv):
                    if m == "attrib_mb":
                        mb, coded = vals["attrib_mb"][rows, j], vals["attrib_coded"][rows, j]
                        ok = coded > 0
                        share = mb[ok] / coded[ok]
                        _, sd, n = stats(share)
                        mean = float(mb[ok].sum() / coded[ok].sum()) if ok.any() else math.nan
                    else:
                        mean, sd, n = stats(vals[m][rows, j])
                    out[f"{p}_mean"][i, j], out[f"{p}_sd"][i, j], out[f"{p}_n"][i, j] = mean, sd, n
            if "pain_avg" in vals:
                pain = vals["pain_avg"][rows]
                obs = ~np.isnan(pain)
                out["pain_free_k"][i] = (obs & (np.where(obs, pain, 99) <= PAIN_FREE_MAX)).sum(0)
                out["pain_free_n_observed"][i] = obs.sum(0)
                out["pain_free_n_randomized"][i] = rows.sum()
        data = {k: (("arm", "visit"), v) for k, v in out.items()}
        data["n_randomized"] = ("arm", np.array([float((arm_of == a).sum()) for a in self.arms]))
        return xr.Dataset(
            data,
            coords={
                "arm": np.array(self.arms, dtype=object),
                **_make_coords(visits),
            },
            attrs={"source": f"summaries of patient records: {self.source}"},
        )

    def to_arm_level(self) -> TrialData:
        """An arm-level TrialData with :meth:`to_summaries` (itself at arm level)."""
        if self.level == "arm":
            return self.replace()
        summaries = self.to_summaries()
        visits = tuple(
            Visit(name=str(n), day=int(d), mode=self.visit_mode(str(n)))
            for n, d in zip(summaries["visit"].values, summaries["day"].values)
        )
        return TrialData(
            arms=self.arms,
            protocols=self.protocols,
            visits=visits,
            summaries=summaries,
            composite_visits=self.composite_visits,
            source=f"summaries of patient records: {self.source}",
            citation=self.citation,
        )

    def baseline_table(
        self, arm: str | Iterable[str] | None = None, *, dropna: bool = True
    ) -> dict[str, np.ndarray]:
        """Baseline (T1) values per patient, for :meth:`prt_sim.Cohort.from_records`.

        Parameters
        ----------
        arm : str or iterable of str, optional
            Arm(s) to include (default: all).
        dropna : bool
            Drop patients whose T1 pain is missing (``from_records`` requires ``pain_avg``).

        Returns
        -------
        dict of str -> numpy.ndarray
            ``id`` (int64), ``pain_avg``, ``tsk11``, ``pcs``, ``odi`` at T1, ``attrib_mb`` (the
            mind-brain count at T1 on a 3-cause basis: ``3 * attrib_mb / attrib_coded``, NaN if
            no cause was coded) and ``chronicity`` (years); NaN where missing (``from_records``
            fills those with population means). Use ``id_column="id"``.

        Raises
        ------
        ValidationError
            At arm level, without a ``t1`` visit, or for an unknown arm.
        """
        if self.records is None:
            raise ValidationError(
                "TrialData.level", self.level, "'patient' (baseline_table needs records)"
            )
        if "t1" not in self.visit_names:
            raise ValidationError("baseline_table.visits", self.visit_names, "a 't1' visit")
        rec = self.records
        if arm is not None:
            sel = _names("baseline_table.arm", arm, self.arms)
            rec = rec.isel(patient=np.flatnonzero(np.isin(rec["arm"].values.astype(str), sel)))
        t1 = rec.sel(visit="t1")
        n = rec.sizes["patient"]

        def get(v: str) -> np.ndarray:
            return t1[v].values.astype(float) if v in t1 else np.full(n, np.nan)

        if "attrib_mb" in t1 and "attrib_coded" in t1:
            coded = get("attrib_coded")
            with np.errstate(invalid="ignore", divide="ignore"):
                mb = np.where(coded > 0, 3.0 * get("attrib_mb") / coded, np.nan)
        else:
            mb = np.full(n, np.nan)
        table = {
            "id": rec["patient"].values.astype(np.int64),
            "pain_avg": get("pain_avg"),
            "tsk11": get("tsk11"),
            "pcs": get("pcs"),
            "odi": get("odi"),
            "attrib_mb": mb,
            "chronicity": rec["chronicity"].values.astype(float)
            if "chronicity" in rec
            else np.full(n, np.nan),
        }
        if dropna:
            keep = ~np.isnan(table["pain_avg"])
            table = {k: v[keep] for k, v in table.items()}
        return table

    # -- files ----------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "arms": list(self.arms),
            "protocols": {a: p.to_dict() for a, p in self.protocols.items()},
            "visits": [v.to_dict() for v in self.visits],
            "composite_visits": {k: list(v) for k, v in self.composite_visits.items()},
            "source": self.source,
            "citation": self.citation,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write to one netCDF file atomically: root attrs (design, provenance) + one group.

        The group is ``summaries`` or ``records``; the design (arms, protocols, visits,
        composite visits, source, citation) is JSON in the root attribute ``config``.
        """
        path = Path(path)
        attrs = provenance(_KIND, None, self._config())
        attrs |= {"format_version": _FORMAT_VERSION, "level": self.level}
        group = "records" if self.records is not None else "summaries"
        with atomic_path(path, suffix=".nc") as tmp:
            xr.Dataset(attrs=attrs).to_netcdf(tmp, mode="w", engine=NETCDF_ENGINE)
            self.data.to_netcdf(tmp, mode="a", group=group, engine=NETCDF_ENGINE)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrialData:
        """Read a file written by :meth:`save`.

        Raises
        ------
        DataFormatError
            The file is missing, unreadable, damaged or not a saved TrialData.
        """
        path = Path(path)
        attrs = open_result(path, _KIND)
        config = json.loads(attrs["config"])
        group = "records" if config["level"] == "patient" else "summaries"
        ds = _read_group(path, group)
        if ds is None:
            raise DataFormatError(f"saved TrialData without its {group!r} group", file=str(path))
        for c in ("arm", "visit"):
            if c in ds.coords:
                ds = ds.assign_coords({c: (ds[c].dims, ds[c].values.astype(str).astype(object))})
        kw = {"records": ds} if group == "records" else {"summaries": ds}
        return cls(
            arms=tuple(config["arms"]),
            protocols={a: Protocol.from_dict(p) for a, p in config["protocols"].items()},
            visits=tuple(Visit(**v) for v in config["visits"]),
            composite_visits={k: tuple(v) for k, v in config["composite_visits"].items()},
            source=config["source"],
            citation=config["citation"],
            **kw,
        )


def _ds_equal(a: xr.Dataset | None, b: xr.Dataset | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.equals(b)


def _measure_of(var: str) -> str | None:
    """The measure a data variable belongs to (None for covariates and n_randomized)."""
    if var in MEASURES:
        return var
    if var == "attrib_coded":
        return "attrib_mb"
    if var.startswith("pain_free"):
        return "pain_avg"
    for m, p in SUMMARY_MEASURES.items():
        if var in (f"{p}_mean", f"{p}_sd", f"{p}_n"):
            return m
    return None


def _names(field: str, value: str | Iterable[str], allowed: Sequence[str]) -> list[str]:
    """Validate a name or names against ``allowed``; return them as a list."""
    if isinstance(value, str):
        value = [value]
    try:
        names = list(value)
    except TypeError:
        raise ValidationError(
            field, value, f"a name or list of names among {list(allowed)}"
        ) from None
    if not names:
        raise ValidationError(field, names, f"at least one of {list(allowed)}")
    for n in names:
        if n not in allowed:
            raise ValidationError(field, n, f"one of {list(allowed)}")
    return names


def _make_coords(visits: Sequence[Visit]) -> dict[str, Any]:
    return {
        "visit": np.array([v.name for v in visits], dtype=object),
        "day": ("visit", np.array([v.day for v in visits], dtype=np.int64)),
    }
