"""Trial data: the published Ashar 2022 arm-level figures and loaders for the public patient files.

:class:`TrialData` is the one container the fitting layer reads. It holds either

- **arm-level summaries** (``level == "arm"``): per arm and visit, mean / SD / n of each measure
  and the pain 0-1 responder counts, as published (:func:`published_ashar2022`) or computed from
  patient records (:meth:`TrialData.to_summaries`, :meth:`TrialData.to_arm_level`); or
- **patient-level records** (``level == "patient"``): one value per patient and visit, read from
  the public files (:func:`load_ashar2022_wide`, :func:`load_ashar2022_two_visit`).

The public files are **not shipped** with prt_sim; the user downloads them (see
:data:`PUBLIC_FILES` for repositories, commits, paths and checksums) and passes their path.
Everything read from a file is validated: a problem raises :class:`prt_sim.DataFormatError` naming
the file, the column and the (0-based data) row, with the file's line number in the message.

Measures (:data:`MEASURES`) and their ranges:

========== ======================================================= ==========
name       instrument                                              range
========== ======================================================= ==========
pain_avg   BPI "average pain in the last week" (primary outcome)   0-10
tsk11      Tampa Scale of Kinesiophobia, 11 items                  11-44
pcs        Pain Catastrophizing Scale                              0-52
odi        Oswestry Disability Index                               0-100
attrib_mb  mind-brain causes among the (up to 3) coded causes       0-3
========== ======================================================= ==========

Missing values are NaN, never 0.

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

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import published
from .errors import DataFormatError, ValidationError, check_int
from .io import NETCDF_ENGINE, atomic_path, provenance
from .protocols import PRT, NoTreatment, OpenLabelPlacebo, Protocol, UsualCare
from .timeline import Visit, trial_visits

__all__ = [
    "TrialData",
    "published_ashar2022",
    "load_ashar2022_wide",
    "load_ashar2022_two_visit",
    "trial_from_simulations",
    "MEASURES",
    "RANGES",
    "COVARIATES",
    "SUMMARY_MEASURES",
    "ARM_CODES",
    "HEALTHY_CONTROL",
    "MISSING_MARKERS",
    "ATTRIBUTION_CODES",
    "WIDE_FILE",
    "TWO_VISIT_FILE",
    "WIDE_VISITS",
    "PUBLIC_FILES",
]

#: Patient-level measures (records variables over ``(patient, visit)``).
MEASURES = ("pain_avg", "tsk11", "pcs", "odi", "attrib_mb")

#: Allowed range of every records variable over ``(patient, visit)``.
RANGES = {
    "pain_avg": (0.0, 10.0),
    "tsk11": (11.0, 44.0),
    "pcs": (0.0, 52.0),
    "odi": (0.0, 100.0),
    "attrib_mb": (0.0, 3.0),
    "attrib_coded": (0.0, 3.0),
}

#: Patient-level covariates (records variables over ``patient``): name -> (range, meaning).
COVARIATES = {
    "chronicity": ((0.0, 80.0), "years with back pain (file column backpain_length)"),
    "age": ((0.0, 120.0), "age in years"),
}

#: Summary variable prefix of each measure (``<prefix>_mean``, ``_sd``, ``_n``).
SUMMARY_MEASURES = {
    "pain_avg": "pain_avg",
    "tsk11": "tsk11",
    "pcs": "pcs",
    "odi": "odi",
    "attrib_mb": "attrib_mb_share",
}
_SUMMARY_RANGES = {
    "pain_avg": (0.0, 10.0),
    "tsk11": (11.0, 44.0),
    "pcs": (0.0, 52.0),
    "odi": (0.0, 100.0),
    "attrib_mb_share": (0.0, 1.0),
}
_PAIN_FREE = ("pain_free_k", "pain_free_n_randomized", "pain_free_n_observed")
#: Pain at or below this is a responder ("pain 0-1", as in the paper).
PAIN_FREE_MAX = 1.0

#: Trial group codes of the public files.
ARM_CODES = {1: "prt", 2: "placebo", 3: "usual_care"}
#: Arm name of the healthy controls of the two-visit file.
HEALTHY_CONTROL = "healthy_control"
#: Cell contents read as missing (after stripping whitespace): empty, NaN, <undefined>.
MISSING_MARKERS = frozenset({"", "NaN", "nan", "NAN", "<undefined>"})
#: Attribution codes: MB = mind-brain, STR = structural / peripheral; empty = not coded.
ATTRIBUTION_CODES = ("MB", "STR")

WIDE_FILE = "Ashar2023_reattribution_IPQ_MERGED_WIDE_FORMAT.csv"
TWO_VISIT_FILE = "Ashar2022_outcomes_demographics.csv"

#: Where the public files come from (copied verbatim; sha256 of the verbatim copy).
PUBLIC_FILES = {
    WIDE_FILE: {
        "repository": "https://github.com/yonestar/Ashar_2023_PRT_reattribution",
        "commit": "c40e9ca",
        "path": "data/manual_codings/IPQlastitem_final MERGED WIDE FORMAT.csv",
        "sha256": "efb717a3c2bc953055f154074d121b7dfd9b6863221ef665ee84abb2bac7cfe3",
    },
    TWO_VISIT_FILE: {
        "repository": "https://github.com/torwager/ComputationalFoundations",
        "commit": "79b92a3",
        "path": "CompFound/datasets/Ashar2022_outcomes_demographics.csv",
        "sha256": "bb04564e8b63730c78c7ef65f817a96ef34923409d7e5a3108b6af2f54eb996d",
    },
}


def _wide_visits() -> dict[str, tuple[str, int]]:
    days = {v.name: v.day for v in trial_visits()}
    out = {
        "eligibility": ("eligibility_assess_arm_1", days["eligibility"]),
        "t1": ("t1_arm_1", days["t1"]),
    }
    # Weekly surveys: the file's timing relative to sessions is not documented; day 7k is
    # nominal, so weeks 5-8 fall after post (n drops sharply after week 5).
    out |= {f"week{k}": (f"treatmentweekly{k}_arm_1", 7 * k) for k in range(1, 9)}
    out["post"] = ("t2_arm_1", days["post"])
    out |= {f"m{m}": (f"x{m}_month_follow_up_arm_1", days[f"m{m}"]) for m in (1, 2, 3, 6, 12)}
    return dict(sorted(out.items(), key=lambda kv: kv[1][1]))


#: Visits of the wide file: visit name -> (column suffix, study day), in day order.
WIDE_VISITS = _wide_visits()
#: The paper's baseline: the mean of the eligibility visit and T1.
BASELINE_COMPOSITE = {"baseline": ("eligibility", "t1")}
_ATTRIB_VISITS = {"t1": "t1", "post": "t2"}  # visit -> suffix in attributed_code_<k>_<sfx>_arm_1

_FORMAT = "prt_sim.TrialData"
_FORMAT_VERSION = 1


# ================================================================================================
# The container
# ================================================================================================
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
        Where the data came from and what to cite.

    Exactly one of ``summaries`` and ``records`` is given.

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
                raise ValidationError(f"TrialData.visits[{i}]", v, "a prt_sim.timeline.Visit")
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

    def _replace(self, **changes: Any) -> TrialData:
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
        return self._replace(
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
            return self._replace()
        summaries = self.to_summaries()
        visits = tuple(
            Visit(name=str(n), day=int(d))
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
        attrs = provenance("trial_data", None, self._config())
        attrs |= {"format": _FORMAT, "format_version": _FORMAT_VERSION, "level": self.level}
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
            The file is missing, unreadable or not a saved TrialData.
        """
        path = Path(path)
        if not path.is_file():
            raise DataFormatError("file not found", file=str(path))
        try:
            with xr.open_dataset(path, engine=NETCDF_ENGINE) as root:
                attrs = dict(root.attrs)
        except Exception as e:  # h5py/h5netcdf raise several types for non-HDF5 input
            raise DataFormatError(f"not a netCDF file ({e})", file=str(path)) from None
        if attrs.get("format") != _FORMAT:
            raise DataFormatError(f"not a saved {_FORMAT} (no 'format' attribute)", file=str(path))
        config = json.loads(attrs["config"])
        group = "records" if config["level"] == "patient" else "summaries"
        with xr.open_dataset(path, group=group, engine=NETCDF_ENGINE) as ds:
            ds = ds.load()
        for c in ("arm", "visit"):
            if c in ds.coords:
                ds = ds.assign_coords({c: (ds[c].dims, ds[c].values.astype(str).astype(object))})
        kw = {"records": ds} if group == "records" else {"summaries": ds}
        return cls(
            arms=tuple(config["arms"]),
            protocols={a: _protocol_from_dict(p) for a, p in config["protocols"].items()},
            visits=tuple(Visit(**v) for v in config["visits"]),
            composite_visits={k: tuple(v) for k, v in config["composite_visits"].items()},
            source=config["source"],
            citation=config["citation"],
            **kw,
        )


def _protocol_from_dict(d: dict[str, Any]) -> Protocol:
    """Protocol.from_dict, undoing the JSON encoding of infinite half-lives ("inf")."""
    d = dict(d)
    d["self_guided"] = [
        {k: (float(v) if k == "half_life" and isinstance(v, str) else v) for k, v in sg.items()}
        for sg in d.get("self_guided", ())
    ]
    return Protocol.from_dict(d)


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


# ================================================================================================
# Published figures
# ================================================================================================
def published_ashar2022() -> TrialData:
    """The published arm-level results of Ashar 2022 (:mod:`prt_sim.published`) as TrialData.

    Visits: ``baseline`` (composite: mean of eligibility and T1, day -5), ``t1`` (attributions
    only), ``post`` (day 30), ``m1``, ``m2``, ``m3``, ``m6``, ``m12``. Pain: mean, SD, n observed
    at every visit but t1; responders (pain 0-1) at post and m12 with randomized and observed n;
    TSK-11 at baseline/post/m12; PCS at baseline/post; Oswestry at baseline/post/m12 (no SD
    published: NaN); mind-brain share of causes at t1/post (no SD: NaN). Where no n is published
    for a measure (TSK-11, PCS, Oswestry) the pain n at that visit is used; for the mind-brain
    share the number of patients with coded causes. Everything else is NaN.

    Source: Ashar et al., JAMA Psychiatry 2022 (Table 2, Figure 1, supplement eTables 2 and 6);
    PCS from the public data (the supplement's PCS row is a copy error); attributions from Ashar
    et al., JAMA Netw Open 2023 (public STR/MB coding).
    """
    arms = tuple(published.ARMS)
    names = ("baseline", "t1", "post", "m1", "m2", "m3", "m6", "m12")
    visits = tuple(Visit(name=v, day=published.VISIT_DAYS[v]) for v in names)
    shape = (len(arms), len(visits))
    out = {
        f"{p}_{s}": np.full(shape, np.nan)
        for p in SUMMARY_MEASURES.values()
        for s in ("mean", "sd", "n")
    }
    out |= {k: np.full(shape, np.nan) for k in _PAIN_FREE}
    for i, a in enumerate(arms):
        for j, v in enumerate(names):
            pain = published.PAIN.get(v, {}).get(a)
            pain_n = pain[2] if pain else published.ARMS[a]
            if pain:
                out["pain_avg_mean"][i, j], out["pain_avg_sd"][i, j], out["pain_avg_n"][i, j] = pain
            if v in published.PAIN_FREE:
                k, n_rand = published.PAIN_FREE[v][a]
                out["pain_free_k"][i, j] = k
                out["pain_free_n_randomized"][i, j] = n_rand
                out["pain_free_n_observed"][i, j] = pain_n
            for m, table in (("tsk11", published.TSK11), ("pcs", published.PCS)):
                if v in table:
                    out[f"{m}_mean"][i, j], out[f"{m}_sd"][i, j] = table[v][a]
                    out[f"{m}_n"][i, j] = pain_n
            if v in published.ODI:
                out["odi_mean"][i, j] = published.ODI[v][a]
                out["odi_n"][i, j] = pain_n
            if v in published.MIND_BRAIN_SHARE:
                out["attrib_mb_share_mean"][i, j] = published.MIND_BRAIN_SHARE[v][a]
                n_mb = published.MIND_BRAIN_N.get(v, {}).get(a, pain_n)
                out["attrib_mb_share_n"][i, j] = n_mb
    data = {k: (("arm", "visit"), v) for k, v in out.items()}
    data["n_randomized"] = ("arm", np.array([float(published.ARMS[a]) for a in arms]))
    summaries = xr.Dataset(
        data,
        coords={"arm": np.array(arms, dtype=object), **_make_coords(visits)},
        attrs={"source": "prt_sim.published", "citation": published.CITATION},
    )
    return TrialData(
        arms=arms,
        protocols={"prt": PRT(), "placebo": OpenLabelPlacebo(), "usual_care": UsualCare()},
        visits=visits,
        summaries=summaries,
        composite_visits=BASELINE_COMPOSITE,
        source=(
            "prt_sim.published: Ashar 2022 Table 2, Figure 1, supplement eTables 2 and 6; PCS "
            "from the public data; attributions from Ashar 2023 (public STR/MB coding)"
        ),
        citation=f"{published.CITATION}; attributions: {published.ATTRIBUTION_CITATION}",
    )


# ================================================================================================
# Reading the public CSV files
# ================================================================================================
class _Table:
    """A CSV file read as strings, with validated accessors that name file, column and row."""

    def __init__(self, file: str, header: list[str], rows: list[list[str]], lines: list[int]):
        self.file = file
        self.header = header
        self.rows = rows
        self.lines = lines
        self.index = {c: i for i, c in enumerate(header)}

    def __len__(self) -> int:
        return len(self.rows)

    def error(self, msg: str, column: str | None = None, row: int | None = None) -> DataFormatError:
        """A DataFormatError naming the file, column and 0-based data row (+ line and id)."""
        if row is not None:
            where = f"line {self.lines[row]} of the file"
            if column != "id" and "id" in self.index:
                where += f", id {self.rows[row][self.index['id']].strip()}"
            msg = f"{msg} ({where})"
        return DataFormatError(msg, file=self.file, column=column, row=row)

    def require(self, columns: Iterable[str]) -> None:
        for c in columns:
            if c not in self.index:
                raise self.error(f"missing required column {c!r}", column=c)

    def cells(self, column: str) -> list[str]:
        j = self.index[column]
        return [r[j].strip() for r in self.rows]

    def numbers(self, column: str, lo: float, hi: float, what: str = "") -> np.ndarray:
        """Float column; missing markers -> NaN; non-numeric or out-of-range cells raise."""
        out = np.empty(len(self.rows))
        for r, cell in enumerate(self.cells(column)):
            if cell in MISSING_MARKERS:
                out[r] = np.nan
                continue
            try:
                x = float(cell)
            except ValueError:
                raise self.error(
                    f"non-numeric value {cell!r} (missing values are empty, NaN or <undefined>)",
                    column,
                    r,
                ) from None
            if not (lo <= x <= hi):  # also catches inf and nan spellings not in the markers
                raise self.error(
                    f"value {cell} outside the allowed range [{lo:g}, {hi:g}]"
                    + (f" of {what}" if what else ""),
                    column,
                    r,
                )
            out[r] = x
        return out

    def integers(
        self, column: str, allowed: Iterable[int] | None = None, *, missing_ok: bool = False
    ) -> np.ndarray:
        """Integer column as float (NaN for missing when allowed); without ``allowed``, >= 0."""
        allowed = None if allowed is None else set(allowed)
        out = np.empty(len(self.rows))
        for r, cell in enumerate(self.cells(column)):
            if cell in MISSING_MARKERS:
                if missing_ok:
                    out[r] = np.nan
                    continue
                raise self.error(f"missing value in required column {column!r}", column, r)
            try:
                x = float(cell)
            except ValueError:
                x = math.nan
            bad = not math.isfinite(x) or x != int(x)
            bad = bad or (x not in allowed if allowed is not None else x < 0)
            if bad:
                what = (
                    f"unknown {column} code {cell!r}; allowed {sorted(allowed)}"
                    if allowed is not None
                    else f"{column} {cell!r} is not a non-negative integer"
                )
                raise self.error(what, column, r)
            out[r] = x
        return out


def _resolve(path: str | os.PathLike, default_name: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / default_name
    return p


def _read_csv(path: str | os.PathLike, default_name: str) -> _Table:
    p = _resolve(path, default_name)
    file = str(p)
    if not p.is_file():
        raise DataFormatError(
            f"file not found (download {default_name}: see prt_sim.data.PUBLIC_FILES)", file=file
        )
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise DataFormatError(f"cannot read file: {e.strerror or e}", file=file) from None
    if not raw.strip():
        raise DataFormatError("file is empty", file=file)
    if b"\x00" in raw:
        raise DataFormatError("not a CSV text file (contains NUL bytes)", file=file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")  # free-text attribution columns may not be UTF-8
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise DataFormatError("not a CSV text file", file=file) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    try:
        for rec in reader:
            if not rec or all(not c.strip() for c in rec) and len(rec) <= 1:
                continue  # blank line
            if header is None:
                header = [c.strip() for c in rec]
                header_line = reader.line_num
                continue
            if len(rec) != len(header):
                raise DataFormatError(
                    f"row has {len(rec)} fields but the header has {len(header)} "
                    f"(line {reader.line_num})",
                    file=file,
                    row=len(rows),
                )
            rows.append(rec)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFormatError(
            f"not a valid CSV file: {e} (line {reader.line_num})", file=file, row=len(rows)
        ) from None
    if header is None:
        raise DataFormatError("file is empty", file=file)
    if len(header) < 2:
        raise DataFormatError(
            f"not a comma-separated table: the header (line {header_line}) has one column "
            f"{header[0][:60]!r}",
            file=file,
        )
    seen: set[str] = set()
    for c in header:
        if c in seen:
            raise DataFormatError(f"duplicate column {c!r} in the header", file=file, column=c)
        seen.add(c)
    if not rows:
        raise DataFormatError("file has a header but no data rows", file=file)
    return _Table(file, header, rows, lines)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_unique_ids(t: _Table, ids: np.ndarray) -> None:
    first: dict[int, int] = {}
    for r, i in enumerate(ids.astype(np.int64)):
        if int(i) in first:
            raise t.error(f"duplicate id {int(i)} (first in row {first[int(i)]})", "id", r)
        first[int(i)] = r


def _provenance_attrs(t: _Table, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    info = PUBLIC_FILES[name]
    sha = _sha256(Path(t.file))
    attrs = {
        "file": t.file,
        "file_sha256": sha,
        "verbatim_public_file": "yes" if sha == info["sha256"] else "no (modified copy)",
        "origin": f"{info['repository']} @ {info['commit']}: {info['path']}",
    }
    attrs |= extra or {}
    return attrs


def load_ashar2022_wide(path: str | os.PathLike) -> TrialData:
    """Patient-level records of all 151 randomized patients at every visit (the wide file).

    The file is ``Ashar2023_reattribution_IPQ_MERGED_WIDE_FORMAT.csv``: a verbatim copy of
    ``data/manual_codings/IPQlastitem_final MERGED WIDE FORMAT.csv`` in the public GitHub
    repository ``yonestar/Ashar_2023_PRT_reattribution`` (commit c40e9ca; sha256 in
    :data:`PUBLIC_FILES`). One row per patient: ``id``, ``group`` (1 = PRT, 2 = open-label
    placebo, 3 = usual care), ``<measure>_<visit suffix>`` columns, attribution codes
    ``attributed_code_{1,2,3}_{t1,t2}_arm_1`` (``MB`` / ``STR`` / empty), ``backpain_length``
    (years) and ``age``. Missing values are empty cells.

    Parameters
    ----------
    path : path-like
        The CSV file, or the folder that contains it under its public name.

    Returns
    -------
    TrialData
        ``level == "patient"``; visits ``eligibility`` (day -10), ``t1`` (0), ``week1`` ...
        ``week8`` (7k; nominal), ``post`` (T2, 30), ``m1`` (60), ``m2`` (91), ``m3`` (121),
        ``m6`` (213), ``m12`` (395); composite ``baseline = mean(eligibility, t1)`` for
        :meth:`TrialData.to_summaries`. Measures pain_avg, tsk11, pcs, odi at every visit (PCS
        and Oswestry are not collected weekly; PCS only at eligibility, T1 and post), attributions
        at t1 and post. Covariates ``chronicity`` and ``age`` (NaN if the column is absent).

    Raises
    ------
    DataFormatError
        Missing/unreadable/empty/non-CSV file; a missing required column (``id``, ``group``,
        every measure column, the six attribution code columns); an unknown group code; a missing
        or duplicate id; a non-numeric or out-of-range value; an attribution code other than
        MB / STR / empty. The message names file, column and row (0-based data row; the file line
        number is in the text).
    """
    t = _read_csv(path, WIDE_FILE)
    code_cols = {
        v: [f"attributed_code_{k}_{sfx}_arm_1" for k in (1, 2, 3)]
        for v, sfx in _ATTRIB_VISITS.items()
    }
    measure_cols = [f"{m}_{sfx}" for m in MEASURES[:4] for sfx, _ in WIDE_VISITS.values()]
    t.require(["id", "group", *measure_cols, *(c for cs in code_cols.values() for c in cs)])
    ids = t.integers("id")
    _check_unique_ids(t, ids)
    groups = t.integers("group", ARM_CODES)
    visits = tuple(Visit(name=v, day=d) for v, (_, d) in WIDE_VISITS.items())
    nv = len(visits)
    data: dict[str, np.ndarray] = {}
    for m in MEASURES[:4]:
        lo, hi = RANGES[m]
        data[m] = np.stack(
            [t.numbers(f"{m}_{sfx}", lo, hi, m) for sfx, _ in WIDE_VISITS.values()], axis=1
        )
    mb = np.full((len(t), nv), np.nan)
    coded = np.full((len(t), nv), np.nan)
    names = [v.name for v in visits]
    for v, cols in code_cols.items():
        j = names.index(v)
        n_mb = np.zeros(len(t))
        n_coded = np.zeros(len(t))
        for c in cols:
            for r, cell in enumerate(t.cells(c)):
                if cell in MISSING_MARKERS:
                    continue
                if cell not in ATTRIBUTION_CODES:
                    raise t.error(
                        f"unknown attribution code {cell!r}; allowed MB, STR or empty", c, r
                    )
                n_coded[r] += 1
                n_mb[r] += cell == "MB"
        coded[:, j] = n_coded
        mb[:, j] = np.where(n_coded > 0, n_mb, np.nan)
    data["attrib_mb"] = mb
    data["attrib_coded"] = coded
    covs = _covariates(t)
    order = np.argsort(ids, kind="stable")
    records = xr.Dataset(
        {
            **{k: (("patient", "visit"), v[order]) for k, v in data.items()},
            **{k: ("patient", v[order]) for k, v in covs.items()},
        },
        coords={
            "patient": ids[order].astype(np.int64),
            "arm": ("patient", np.array([ARM_CODES[int(g)] for g in groups[order]], dtype=object)),
            **_make_coords(visits),
        },
        attrs=_provenance_attrs(t, WIDE_FILE),
    )
    arms = tuple(ARM_CODES.values())
    return TrialData(
        arms=arms,
        protocols={"prt": PRT(), "placebo": OpenLabelPlacebo(), "usual_care": UsualCare()},
        visits=visits,
        records=records,
        composite_visits=BASELINE_COMPOSITE,
        source=f"{WIDE_FILE} ({PUBLIC_FILES[WIDE_FILE]['repository']} @ "
        f"{PUBLIC_FILES[WIDE_FILE]['commit']})",
        citation=f"{published.CITATION}; attributions: {published.ATTRIBUTION_CITATION}",
    )


def _covariates(t: _Table) -> dict[str, np.ndarray]:
    """Per-row covariates (NaN where the column is absent); validated against their ranges."""
    out = {}
    for name, col in (("chronicity", "backpain_length"), ("age", "age")):
        (lo, hi), _ = COVARIATES[name]
        if col in t.index:
            x = t.numbers(col, lo, hi, name)
        else:
            x = np.full(len(t), np.nan)
        out[name] = x
    return out


def load_ashar2022_two_visit(path: str | os.PathLike, include_controls: bool = False) -> TrialData:
    """Patient-level records at T1 and post (T2) from the long two-visit file.

    The file is ``Ashar2022_outcomes_demographics.csv``: a verbatim copy of
    ``CompFound/datasets/Ashar2022_outcomes_demographics.csv`` in the public GitHub repository
    ``torwager/ComputationalFoundations`` (commit 79b92a3; sha256 in :data:`PUBLIC_FILES`).
    Long format, one row per person and time: ``id``, ``time`` (1 = T1, 2 = T2), ``group``
    (1/2/3 as in the wide file; empty/NaN for healthy controls), ``is_patient`` (0 = healthy
    control), the measures, ``age``, ``backpain_length``. Missing values are written ``NaN`` or
    ``<undefined>``. Its T1/T2 values equal the wide file's ``t1`` / ``post``.

    Parameters
    ----------
    path : path-like
        The CSV file, or the folder that contains it under its public name.
    include_controls : bool
        Add the 54 healthy controls (T1 only) as arm ``"healthy_control"`` with protocol
        :func:`prt_sim.protocols.NoTreatment`.

    Returns
    -------
    TrialData
        ``level == "patient"``, visits ``t1`` (day 0) and ``post`` (day 30), measures pain_avg,
        tsk11, pcs, odi (no attributions in this file); covariates ``chronicity``, ``age``.
        Patients with ``is_patient == 1`` but no group code were not randomized and are left out;
        their ids are in ``records.attrs["excluded_ids"]`` (in the public file: id 1004, T1 only).

    Raises
    ------
    DataFormatError
        As :func:`load_ashar2022_wide`, plus an unknown ``time`` or ``is_patient`` code, a
        duplicate (id, time) pair, a group code on a healthy control, or a person whose group or
        is_patient differs between rows.
    """
    include_controls = bool(include_controls)
    t = _read_csv(path, TWO_VISIT_FILE)
    t.require(["id", "time", "group", "is_patient", *MEASURES[:4]])
    ids = t.integers("id").astype(np.int64)
    times = t.integers("time", (1, 2))
    is_patient = t.integers("is_patient", (0, 1))
    groups = t.integers("group", ARM_CODES, missing_ok=True)
    values = {m: t.numbers(m, *RANGES[m], m) for m in MEASURES[:4]}
    covs = _covariates(t)
    seen: dict[tuple[int, int], int] = {}
    person: dict[int, int] = {}  # id -> first row
    for r in range(len(t)):
        key = (int(ids[r]), int(times[r]))
        if key in seen:
            raise t.error(
                f"duplicate id {key[0]} at time {key[1]} (first in row {seen[key]})", "id", r
            )
        seen[key] = r
        if is_patient[r] == 0 and not np.isnan(groups[r]):
            raise t.error(
                f"healthy control (is_patient 0) with group code {groups[r]:g}", "group", r
            )
        if key[0] in person:
            r0 = person[key[0]]
            for col, arr in (("group", groups), ("is_patient", is_patient)):
                a, b = arr[r0], arr[r]
                if not (a == b or (np.isnan(a) and np.isnan(b))):
                    raise t.error(
                        f"{col} of id {key[0]} differs from row {r0} ({a:g} vs {b:g})", col, r
                    )
        else:
            person[key[0]] = r
    excluded = sorted(i for i, r in person.items() if is_patient[r] == 1 and np.isnan(groups[r]))
    arm_of: dict[int, str] = {}
    for i, r in person.items():
        if is_patient[r] == 1 and not np.isnan(groups[r]):
            arm_of[i] = ARM_CODES[int(groups[r])]
        elif is_patient[r] == 0 and include_controls:
            arm_of[i] = HEALTHY_CONTROL
    pids = np.array(sorted(arm_of), dtype=np.int64)
    pos = {int(i): k for k, i in enumerate(pids)}
    visits = (Visit(name="t1", day=0), Visit(name="post", day=30))
    data = {m: np.full((len(pids), 2), np.nan) for m in MEASURES[:4]}
    cov = {k: np.full(len(pids), np.nan) for k in covs}
    for (i, time), r in sorted(seen.items(), key=lambda kv: kv[0][1]):
        k = pos.get(i)
        if k is None:
            continue
        for m in data:
            data[m][k, time - 1] = values[m][r]
        for c in cov:  # per-person covariates: the first non-missing value (T1 row first)
            if np.isnan(cov[c][k]):
                cov[c][k] = covs[c][r]
    arms = tuple(ARM_CODES.values()) + ((HEALTHY_CONTROL,) if include_controls else ())
    protocols: dict[str, Protocol] = {
        "prt": PRT(),
        "placebo": OpenLabelPlacebo(),
        "usual_care": UsualCare(),
    }
    if include_controls:
        protocols[HEALTHY_CONTROL] = NoTreatment()
    records = xr.Dataset(
        {
            **{k: (("patient", "visit"), v) for k, v in data.items()},
            **{k: ("patient", v) for k, v in cov.items()},
        },
        coords={
            "patient": pids,
            "arm": ("patient", np.array([arm_of[int(i)] for i in pids], dtype=object)),
            **_make_coords(visits),
        },
        attrs=_provenance_attrs(
            t,
            TWO_VISIT_FILE,
            {
                "excluded_ids": json.dumps(excluded),
                "excluded_reason": "is_patient 1 without a group code (not randomized)",
            },
        ),
    )
    return TrialData(
        arms=arms,
        protocols=protocols,
        visits=visits,
        records=records,
        source=f"{TWO_VISIT_FILE} ({PUBLIC_FILES[TWO_VISIT_FILE]['repository']} @ "
        f"{PUBLIC_FILES[TWO_VISIT_FILE]['commit']})",
        citation=published.CITATION,
    )


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
    from .simulation import SimulationResult

    if not results:
        raise ValidationError("results", results, "at least one arm")
    parts = []
    visits = None
    for arm, res in results.items():
        if not isinstance(res, SimulationResult):
            raise ValidationError(f"results[{arm}]", type(res).__name__, "a SimulationResult")
        ins = res.instruments
        these = tuple(
            Visit(name=str(v), day=int(d)) for v, d in zip(ins["visit"].values, ins["day"].values)
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
