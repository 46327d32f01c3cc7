"""Loaders of the Ashar 2022 trial's public patient-level files, with their provenance.

The public files are **not shipped** with prt_sim; the user downloads them (see
:data:`PUBLIC_FILES` for repositories, commits, paths and checksums) and passes their path.
:func:`load_ashar2022` reads either file, recognised by its columns (its name does not
matter); :func:`load_ashar2022_wide` and :func:`load_ashar2022_two_visit` read one each.
Everything read from a file is validated: a problem raises :class:`prt_sim.DataFormatError`
naming the file, the column and the (0-based data) row, with the file's line number in the
message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import DataFormatError
from ..model.calendar import ELIGIBILITY_DAY, FOLLOW_UP_MONTHS, POST_DAY, month_day
from ..model.protocols import PRT, NoTreatment, OpenLabelPlacebo, Protocol, UsualCare
from ..model.timeline import Visit
from . import published
from .readers import MISSING_MARKERS, Table, read_csv, sha256
from .trial import BASELINE_COMPOSITE, COVARIATES, MEASURES, RANGES, TrialData, _make_coords

__all__ = [
    "load_ashar2022",
    "load_ashar2022_wide",
    "load_ashar2022_two_visit",
    "ARM_CODES",
    "HEALTHY_CONTROL",
    "ATTRIBUTION_CODES",
    "WIDE_FILE",
    "TWO_VISIT_FILE",
    "WIDE_VISITS",
    "PUBLIC_FILES",
]

#: Trial group codes of the public files.
ARM_CODES = {1: "prt", 2: "placebo", 3: "usual_care"}
#: Arm name of the healthy controls of the two-visit file.
HEALTHY_CONTROL = "healthy_control"
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
    out = {
        "eligibility": ("eligibility_assess_arm_1", ELIGIBILITY_DAY),
        "t1": ("t1_arm_1", 0),
    }
    # Weekly surveys: the file's timing relative to sessions is not documented; day 7k is
    # nominal, so weeks 5-8 fall after post (n drops sharply after week 5).
    out |= {f"week{k}": (f"treatmentweekly{k}_arm_1", 7 * k) for k in range(1, 9)}
    out["post"] = ("t2_arm_1", POST_DAY)
    out |= {f"m{m}": (f"x{m}_month_follow_up_arm_1", month_day(m)) for m in FOLLOW_UP_MONTHS}
    return dict(sorted(out.items(), key=lambda kv: kv[1][1]))


#: Visits of the wide file: visit name -> (column suffix, study day), in day order.
WIDE_VISITS = _wide_visits()
_ATTRIB_VISITS = {"t1": "t1", "post": "t2"}  # visit -> suffix in attributed_code_<k>_<sfx>_arm_1
#: Columns that tell the two public files apart (:func:`load_ashar2022`).
_SIGNATURES = {
    WIDE_FILE: ("id", "group", "attributed_code_1_t1_arm_1", "pain_avg_t1_arm_1"),
    TWO_VISIT_FILE: ("id", "time", "group", "is_patient", "pain_avg"),
}
_DOWNLOAD = " (download it: see prt_sim.data.PUBLIC_FILES)"


def load_ashar2022(path: str | os.PathLike) -> TrialData:
    """Read either public file of the trial, recognised by its columns (its name may differ).

    Parameters
    ----------
    path : path-like
        The wide file (:func:`load_ashar2022_wide`), the two-visit file
        (:func:`load_ashar2022_two_visit`) under any name, or a folder holding the wide file
        under its public name.

    Raises
    ------
    DataFormatError
        The file is missing or unreadable, or its header matches neither public file (the
        message lists the columns each file must have).
    """
    p = Path(path)
    if p.is_dir():
        return load_ashar2022_wide(p)
    header = set(read_csv(p, WIDE_FILE, _DOWNLOAD, header_only=True).header)
    for name, cols in _SIGNATURES.items():
        if set(cols) <= header:
            return load_ashar2022_wide(p) if name == WIDE_FILE else load_ashar2022_two_visit(p)
    need = "; ".join(f"{name}: {', '.join(cols)}" for name, cols in _SIGNATURES.items())
    raise DataFormatError(
        f"not one of the trial's public files: its header lacks the columns of either ({need})",
        file=str(p),
    )


def _check_unique_ids(t: Table, ids: np.ndarray) -> None:
    first: dict[int, int] = {}
    for r, i in enumerate(ids.astype(np.int64)):
        if int(i) in first:
            raise t.error(f"duplicate id {int(i)} (first in row {first[int(i)]})", "id", r)
        first[int(i)] = r


def _provenance_attrs(t: Table, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    info = PUBLIC_FILES[name]
    sha = sha256(Path(t.file))
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
    t = read_csv(path, WIDE_FILE, _DOWNLOAD)
    code_cols = {
        v: [f"attributed_code_{k}_{sfx}_arm_1" for k in (1, 2, 3)]
        for v, sfx in _ATTRIB_VISITS.items()
    }
    measure_cols = [f"{m}_{sfx}" for m in MEASURES[:4] for sfx, _ in WIDE_VISITS.values()]
    t.require(["id", "group", *measure_cols, *(c for cs in code_cols.values() for c in cs)])
    ids = t.integers("id")
    _check_unique_ids(t, ids)
    groups = t.integers("group", ARM_CODES)
    # The weekly surveys during treatment read higher than the visits on either side of them
    # in every arm (docs/inference.md): their own mode, with its own offset.
    visits = tuple(
        Visit(name=v, day=d, mode="survey" if v.startswith("week") else "visit")
        for v, (_, d) in WIDE_VISITS.items()
    )
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


def _covariates(t: Table) -> dict[str, np.ndarray]:
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
        :func:`prt_sim.model.protocols.NoTreatment`.

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
    t = read_csv(path, TWO_VISIT_FILE, _DOWNLOAD)
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
