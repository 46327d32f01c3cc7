"""What a clinic run gives back: the labeled :class:`ClinicResult` (key figures per replication, weekly series, patient and event tables), its summary with confidence intervals, and its netCDF file.

Definitions (``docs/clinic.md`` has them in full): waits run from referral to the offer of a
place (intake) and are counted for patients who joined a waitlist in the results window
``[warmup_days, days)``; a patient still waiting at the end has a censored wait; utilisation
and queue length are time-weighted over the window; a patient is pain-free at post when the
reported 7-day pain at the post assessment is at most
:data:`~prt_sim.model.instruments.PAIN_FREE_MAX`; costs are those incurred in the window.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataFormatError, ValidationError, check_range
from ..io import NETCDF_ENGINE, _read_group, atomic_path, open_result
from ..model.instruments import PAIN_FREE_MAX
from .delivery import EVENTS, O_RENEGED, O_WAITING, OUTCOMES, STATUS
from .spec import FORMATS, ClinicSpec
from .stats import bootstrap_ratio_ci, mean_ci, replications_needed
from .streams import Streams

__all__ = ["ClinicResult", "assemble", "KIND", "QUANTILES"]

KIND = "clinic"
#: Quantiles of the waiting time reported per replication.
QUANTILES = (0.5, 0.9, 0.95)
_YEAR = 365.25
_GROUPS = ("kpis", "weekly", "patients", "events")

#: Key figures: name -> (unit, meaning); each a variable of ``kpis`` over ``replication``.
KPIS = {
    "referrals": (
        "patients",
        "referred in the window (initial waitlist included when warmup_days is 0)",
    ),
    "waitlisted": ("patients", "joined a waitlist in the window (therapist-led formats)"),
    "wait_mean": ("days", "mean wait from referral to intake, of those offered a place"),
    "p_wait": (
        "share",
        "share of the waitlisted who waited at all (censored and reneged included)",
    ),
    "share_over_target": ("share", "share of the waitlisted waiting longer than the target"),
    "still_waiting": ("patients", "on a waitlist at the end of the run (censored waits)"),
    "censored_wait_mean": ("days", "mean time waited so far by those still waiting at the end"),
    "reneged_share": ("share", "share of the waitlisted who left the list before a place"),
    "queue_mean": ("patients", "time-weighted mean number on the waitlists"),
    "caseload_utilisation": ("share", "time-weighted share of caseload places in use"),
    "seat_utilisation": ("share", "time-weighted share of group seats in use"),
    "hours_utilisation": (
        "share",
        "share of bookable session slots used (sessions held, missed ones included)",
    ),
    "meetings": ("meetings", "group meetings held"),
    "self_guided_started": ("patients", "self-guided programs started"),
    "booster_requests": ("courses", "booster courses asked for after a relapse"),
    "booster_wait_mean": ("days", "mean wait for a booster course"),
    "post_assessed": ("patients", "post assessments after a course, in the window"),
    "pain_free_post": ("patients", "pain-free at post (reported pain <= 1)"),
    "pain_free_post_share": ("share", "share pain-free among those assessed at post"),
    "therapist_years": ("therapist-years", "therapists x length of the window"),
    "pain_free_per_therapist_year": (
        "patients/therapist-year",
        "pain-free at post per therapist-year",
    ),
    "cost": ("currency", "costs in the window: sessions, meetings, self-guided material, salaries"),
    "cost_per_pain_free": ("currency/patient", "cost per patient pain-free at post"),
    "followup_assessed": ("patients", "referred patients reaching the follow-up in the window"),
    "followup_pain_mean": ("points", "mean latent 7-day pain at follow-up (intention to treat)"),
    "followup_pain_free_share": ("share", "share pain-free at follow-up (intention to treat)"),
    "mean_pain_referred": ("points", "mean over weeks of the referred population's 7-day pain"),
}


def _flags(names: tuple[str, ...]) -> dict[str, Any]:
    return {"flag_values": np.arange(len(names), dtype=np.int8), "flag_meanings": " ".join(names)}


def _replication_kpis(spec: ClinicSpec, raw: dict[str, Any]) -> tuple:
    """Key figures of one replication: scalars, sessions/missed by format, wait quantiles."""
    s = spec
    c = raw["clinic"]
    out = raw["out"]
    ref = raw["referral"]
    w0, w1 = float(s.warmup_days), float(s.days)
    span = w1 - w0
    fmt = raw["fmt"]
    join = np.maximum(ref, 0.0)
    led = (fmt != FORMATS.index("self_guided")) & (join >= w0) & (join < w1)
    wait = c.intake - ref
    served = led & np.isfinite(c.intake)
    censored = led & (c.outcome == O_WAITING)
    reneged = led & (c.outcome == O_RENEGED)
    waited = np.where(served, wait, np.nan)
    waited = np.where(censored, w1 - ref, waited)
    waited = np.where(reneged, c.d["patience"], waited)
    k: dict[str, float] = {}
    k["referrals"] = float(np.sum((join >= w0) & (join < w1)))
    nl = int(led.sum())
    k["waitlisted"] = float(nl)
    k["wait_mean"] = float(wait[served].mean()) if served.any() else math.nan
    q = np.quantile(wait[served], QUANTILES) if served.any() else np.full(len(QUANTILES), np.nan)
    k["p_wait"] = float(np.mean(waited[led] > 0)) if nl else math.nan
    k["share_over_target"] = (
        float(np.mean(waited[led] > s.waitlist.target_days)) if nl else math.nan
    )
    still = c.outcome == O_WAITING
    still &= fmt != FORMATS.index("self_guided")
    k["still_waiting"] = float(still.sum())
    k["censored_wait_mean"] = float(np.mean(w1 - ref[still])) if still.any() else math.nan
    k["reneged_share"] = float(reneged.sum() / nl) if nl else math.nan
    k["queue_mean"] = c.waiting.window / span
    cap = c.caseload_capacity
    k["caseload_utilisation"] = (
        c.busy.window / (cap * span) if cap and math.isfinite(cap) else math.nan
    )
    seats = c.n_groups * s.group.size
    k["seat_utilisation"] = c.seats_busy.window / (seats * span) if seats else math.nan
    slots = 0
    if c.diary is not None:
        d0 = int(math.ceil(w0))
        slots = int(c.diary.capacity[d0:].sum()) * c.diary.n_therapists
    k["hours_utilisation"] = c.slots_used_window / slots if slots else math.nan
    k["meetings"] = float(c.meetings_window)
    k["self_guided_started"] = float(c.sg_started_window)
    k["booster_requests"] = float(c.booster_requests_window)
    k["booster_wait_mean"] = float(np.mean(c.booster_waits)) if c.booster_waits else math.nan
    post_in = (out["post_time"] >= w0) & (out["post_time"] < w1)
    pf = post_in & (out["post_reported"] <= PAIN_FREE_MAX)
    k["post_assessed"] = float(post_in.sum())
    k["pain_free_post"] = float(pf.sum())
    k["pain_free_post_share"] = float(pf.sum() / post_in.sum()) if post_in.any() else math.nan
    ty = s.staffing.therapists * span / _YEAR
    k["therapist_years"] = ty
    k["pain_free_per_therapist_year"] = k["pain_free_post"] / ty if ty and s.dynamics else math.nan
    booked = c.sessions_window + c.missed_window
    cost = (
        booked[0] * s.individual.cost_per_session
        + booked[1] * s.telehealth.cost_per_session
        + c.meetings_window * s.group.cost_per_session
        + c.sg_started_window * s.self_guided.cost_per_patient
        + ty * s.staffing.cost_per_year
    )
    k["cost"] = float(cost)
    k["cost_per_pain_free"] = cost / k["pain_free_post"] if k["pain_free_post"] > 0 else math.nan
    fu_in = (out["fu_time"] >= w0) & (out["fu_time"] < w1)
    k["followup_assessed"] = float(fu_in.sum())
    k["followup_pain_mean"] = float(out["fu_pain"][fu_in].mean()) if fu_in.any() else math.nan
    k["followup_pain_free_share"] = (
        float(np.mean(out["fu_reported"][fu_in] <= PAIN_FREE_MAX)) if fu_in.any() else math.nan
    )
    wk = raw["weekly_pain"]["pain_all"]
    first = int(math.ceil(w0 / 7))
    vals = wk[first:]
    vals = vals[np.isfinite(vals)]
    k["mean_pain_referred"] = float(vals.mean()) if vals.size else math.nan
    return k, np.asarray(c.sessions_window, float), np.asarray(c.missed_window, float), q


def assemble(spec: ClinicSpec, reps: list[dict[str, Any]], attrs: dict[str, Any]) -> ClinicResult:
    """Label the raw replications of :func:`~prt_sim.clinic.run.run_replication`."""
    R = len(reps)
    n_weeks = reps[0]["clinic"].n_weeks
    rep_coord = np.arange(R)
    # -- key figures ----------------------------------------------------------------------
    rows = [_replication_kpis(spec, raw) for raw in reps]
    data = {}
    for name, (unit, doc) in KPIS.items():
        data[name] = xr.Variable(
            "replication", np.array([r[0][name] for r in rows]), {"units": unit, "long_name": doc}
        )
    data["sessions"] = xr.Variable(
        ("replication", "format"),
        np.stack([r[1] for r in rows]),
        {"units": "sessions", "long_name": "sessions attended in the window, by format"},
    )
    data["no_shows"] = xr.Variable(
        ("replication", "format"),
        np.stack([r[2] for r in rows]),
        {"units": "sessions", "long_name": "booked sessions missed in the window, by format"},
    )
    data["wait_quantile"] = xr.Variable(
        ("replication", "quantile"),
        np.stack([r[3] for r in rows]),
        {"units": "days", "long_name": "quantiles of the wait of those offered a place"},
    )
    kpis = xr.Dataset(
        data,
        coords={"replication": rep_coord, "format": list(FORMATS), "quantile": list(QUANTILES)},
        attrs=attrs,
    )
    # -- weekly series ----------------------------------------------------------------------
    wdata: dict[str, Any] = {}

    def stack(f):
        return np.stack([f(raw) for raw in reps])

    length = np.minimum(7.0, spec.days - 7.0 * np.arange(n_weeks))
    wdata["queue"] = (("replication", "week"), stack(lambda r: r["clinic"].waiting.weekly / length))
    wdata["caseload_in_use"] = (
        ("replication", "week"),
        stack(lambda r: r["clinic"].busy.weekly / length),
    )
    wdata["seats_in_use"] = (
        ("replication", "week"),
        stack(lambda r: r["clinic"].seats_busy.weekly / length),
    )
    wdata["sessions"] = (
        ("replication", "week", "format"),
        stack(lambda r: r["clinic"].sessions_week.astype(float)),
    )
    wdata["no_shows"] = (
        ("replication", "week", "format"),
        stack(lambda r: r["clinic"].missed_week.astype(float)),
    )
    wdata["meetings"] = (("replication", "week"), stack(lambda r: r["clinic"].meetings_week))
    wdata["slots_used"] = (("replication", "week"), stack(lambda r: r["clinic"].slots_used_week))
    wdata["slot_capacity"] = (
        ("replication", "week"),
        stack(
            lambda r: (
                r["clinic"].diary.weekly_capacity(n_weeks)
                if r["clinic"].diary is not None
                else np.zeros(n_weeks, dtype=np.int64)
            )
        ),
    )
    wdata["referrals"] = (
        ("replication", "week"),
        stack(
            lambda r: (
                np.bincount(
                    np.clip((np.maximum(r["referral"], 0) // 7).astype(np.int64), 0, n_weeks - 1),
                    minlength=n_weeks,
                )[:n_weeks]
                if r["n"]
                else np.zeros(n_weeks, dtype=np.int64)
            )
        ),
    )
    for name in ("pain_all", "pain_waiting", "pain_treating", "pain_after", "pain_free_share"):
        wdata[name] = (("replication", "week"), stack(lambda r, name=name: r["weekly_pain"][name]))
    wdata["referred_so_far"] = (("replication", "week"), stack(lambda r: r["n_present"]))
    weekly = xr.Dataset(
        wdata,
        coords={
            "replication": rep_coord,
            "week": np.arange(n_weeks),
            "day": ("week", 7 * np.arange(n_weeks)),
            "format": list(FORMATS),
        },
        attrs=attrs,
    )
    cap = reps[0]["clinic"].caseload_capacity
    finite = bool(cap) and math.isfinite(cap)
    weekly["caseload_utilisation"] = (
        weekly["caseload_in_use"] / cap if finite else xr.full_like(weekly["queue"], np.nan)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        weekly["hours_utilisation"] = weekly["slots_used"] / weekly["slot_capacity"].where(
            weekly["slot_capacity"] > 0
        )
    units = {
        "queue": ("patients", "time-weighted mean number waiting"),
        "caseload_in_use": ("patients", "time-weighted caseload places in use"),
        "caseload_utilisation": ("share", "time-weighted share of caseload places in use"),
        "seats_in_use": ("patients", "time-weighted group seats in use"),
        "sessions": ("sessions", "sessions attended, by format"),
        "no_shows": ("sessions", "booked sessions missed, by format"),
        "meetings": ("meetings", "group meetings held"),
        "slots_used": ("sessions", "session slots used (held or missed; meetings)"),
        "slot_capacity": ("sessions", "bookable session slots of all therapists"),
        "hours_utilisation": ("share", "slots used / bookable slots"),
        "referrals": ("patients", "referrals (initial waitlist in week 0)"),
        "pain_all": ("points", "mean latent 7-day pain of everyone referred so far, end of week"),
        "pain_waiting": ("points", "the same, of those waiting"),
        "pain_treating": ("points", "the same, of those in treatment"),
        "pain_after": ("points", "the same, of those discharged or gone"),
        "pain_free_share": ("share", "share of those referred so far reporting pain <= 1"),
        "referred_so_far": ("patients", "patients referred by the end of the week"),
    }
    for v, (u, doc) in units.items():
        weekly[v].attrs.update({"units": u, "long_name": doc})
    # -- patient and event tables ----------------------------------------------------------
    cols: dict[str, list] = {}

    def put(name, arr):
        cols.setdefault(name, []).append(np.asarray(arr))

    for r, raw in enumerate(reps):
        c, o, n = raw["clinic"], raw["out"], raw["n"]
        ref = raw["referral"]
        put("replication", np.full(n, r, dtype=np.int32))
        put("patient_id", np.arange(n, dtype=np.int64))
        put("format", raw["fmt"].astype(np.int8))
        put("referral", ref)
        put("intake", c.intake)
        put("wait", c.intake - ref)
        still = (c.outcome == O_WAITING) & (raw["fmt"] != FORMATS.index("self_guided"))
        put("wait_censored", np.where(still, spec.days - ref, np.nan))
        put("left_waitlist_after", np.where(c.outcome == O_RENEGED, c.d["patience"], np.nan))
        put("outcome", c.outcome.astype(np.int8))
        put("status_at_end", c.status.astype(np.int8))
        put("therapist", c.therapist)
        put("group", c.group_of)
        put("sessions_attended", c.attended)
        put("sessions_missed", c.missed)
        put("early_nonresponder", np.where(c.judged, c.nonresponder, False).astype(np.int8))
        put("discharge", c.discharge)
        put("boosters", c.boosters)
        put("relapses", o["relapses"])
        put("pain_referral", o["pain_referral"])
        put("pain_intake", c.pain_intake)
        put("post_time", o["post_time"])
        put("post_pain", o["post_pain"])
        put("post_reported", o["post_reported"])
        put("followup_time", o["fu_time"])
        put("followup_pain", o["fu_pain"])
        put("followup_reported", o["fu_reported"])
    pdata = {k: ("patient", np.concatenate(v)) for k, v in cols.items()}
    patients = xr.Dataset(pdata, coords={"patient": np.arange(len(pdata["replication"][1]))})
    patients["format"].attrs.update(_flags(FORMATS))
    patients["outcome"].attrs.update(_flags(OUTCOMES))
    patients["status_at_end"].attrs.update(_flags(STATUS))
    punits = {
        "referral": "day", "intake": "day", "wait": "days", "wait_censored": "days",
        "left_waitlist_after": "days", "discharge": "day", "post_time": "day",
        "followup_time": "day",
        "pain_referral": "points", "pain_intake": "points", "post_pain": "points",
        "post_reported": "points", "followup_pain": "points", "followup_reported": "points",
    }  # fmt: skip
    for v, u in punits.items():
        patients[v].attrs["units"] = u
    patients.attrs.update(attrs)
    ev: dict[str, list] = {k: [] for k in ("replication", "patient_id", "time", "type", "detail")}
    for r, raw in enumerate(reps):
        c = raw["clinic"]
        m = len(c.ev_patient)
        ev["replication"].append(np.full(m, r, dtype=np.int32))
        ev["patient_id"].append(np.asarray(c.ev_patient, dtype=np.int64))
        ev["time"].append(np.asarray(c.ev_time, dtype=np.float64))
        ev["type"].append(np.asarray(c.ev_code, dtype=np.int8))
        ev["detail"].append(np.asarray(c.ev_detail, dtype=np.int64))
    edata = {k: ("event", np.concatenate(v)) for k, v in ev.items()}
    m = len(edata["time"][1])
    order = np.lexsort((np.arange(m), edata["time"][1], edata["replication"][1]))
    edata = {k: (d, v[order]) for k, (d, v) in edata.items()}
    events = xr.Dataset(edata, coords={"event": np.arange(m)}, attrs=attrs)
    events["type"].attrs.update(_flags(EVENTS))
    events["time"].attrs["units"] = "day"
    events["detail"].attrs["long_name"] = (
        "referral: format; waitlist/renege: 1 for a booster; intake: therapist or group; "
        "session/no_show/dropout: session number; discharge: 1 dropped out, 2 after a booster; "
        "booster_request: booster number; self_guided_start: 1 for a booster"
    )
    return ClinicResult(kpis, weekly, patients, events, dict(attrs))


@dataclass
class ClinicResult:
    """Labeled output of :func:`~prt_sim.clinic.run_clinic`.

    Attributes
    ----------
    kpis : xarray.Dataset
        Key figures per ``replication`` (``KPIS`` names them, with units), ``sessions`` and
        ``no_shows`` over ``(replication, format)``, ``wait_quantile`` over ``(replication,
        quantile)``.
    weekly : xarray.Dataset
        Over ``(replication, week)``: queue length and places in use (time-weighted), sessions
        by format, slots used and bookable, referrals, the referred population's pain by where
        people are (waiting, in treatment, after).
    patients : xarray.Dataset
        One row per patient and replication (dimension ``patient``): format, referral, intake,
        wait (or censored wait), outcome, sessions, boosters, pain at referral, intake, post and
        follow-up. Codes are labeled by ``flag_meanings`` (:meth:`table` decodes them).
    events : xarray.Dataset
        The event log, one row per event (dimension ``event``), sorted by replication and time.
    attrs : dict
        Provenance: package version, configuration (JSON) and its hash, seed.
    """

    kpis: xr.Dataset
    weekly: xr.Dataset
    patients: xr.Dataset
    events: xr.Dataset
    attrs: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """The configuration that produced this result."""
        return json.loads(self.attrs["config"])

    @property
    def spec(self) -> ClinicSpec:
        """The :class:`ClinicSpec` that produced this result."""
        return ClinicSpec.from_dict(self.config["spec"])

    def __repr__(self) -> str:
        k = self.kpis
        return (
            f"ClinicResult(replications={k.sizes['replication']}, "
            f"patients={self.patients.sizes['patient']}, "
            f"therapists={self.config['spec']['staffing']['therapists']}, "
            f"days={self.config['spec']['days']}, seed={self.attrs.get('seed')})"
        )

    def table(self, name: str = "patients") -> dict[str, np.ndarray]:
        """A plain table (dict of equal-length numpy columns, no pandas needed) of
        ``"patients"`` or ``"events"``, with coded columns decoded to their names."""
        if name not in ("patients", "events"):
            raise ValidationError("name", name, "'patients' or 'events'")
        ds = getattr(self, name)
        out = {}
        for v in ds.data_vars:
            vals = ds[v].values
            meanings = ds[v].attrs.get("flag_meanings")
            if meanings:
                labels = np.array(meanings.split())
                vals = labels[vals.astype(np.int64)]
            out[v] = vals
        return out

    def summary(self, confidence: float = 0.95, n_boot: int = 2000) -> xr.Dataset:
        """Means over replications with t intervals (``stat`` = mean, lo, hi).

        ``cost_per_pain_free`` is the ratio of summed costs to summed pain-free patients over
        the replications, with a percentile bootstrap interval over replications (its own keyed
        stream, so the interval is reproducible).
        """
        confidence = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
        k = self.kpis
        out = {}
        for v in k.data_vars:
            da = k[v]
            if "replication" not in da.dims:
                continue
            other = [d for d in da.dims if d != "replication"]
            if not other:
                vals = np.array(mean_ci(da.values, confidence))
                out[v] = xr.Variable("stat", vals, dict(da.attrs))
            else:
                rows = [
                    mean_ci(da.isel({other[0]: j}).values, confidence)
                    for j in range(da.sizes[other[0]])
                ]
                out[v] = xr.Variable((other[0], "stat"), np.array(rows), dict(da.attrs))
        rng = Streams(int(self.attrs.get("seed", 0)), 0).generator("bootstrap")
        out["cost_per_pain_free"] = xr.Variable(
            "stat",
            np.array(
                bootstrap_ratio_ci(
                    k["cost"].values,
                    k["pain_free_post"].values,
                    confidence=confidence,
                    n_boot=n_boot,
                    rng=rng,
                )
            ),
            {
                **k["cost_per_pain_free"].attrs,
                "method": "ratio of sums over replications, percentile bootstrap over replications",
            },
        )
        ds = xr.Dataset(
            out,
            coords={"stat": ["mean", "lo", "hi"], "format": k["format"], "quantile": k["quantile"]},
            attrs=dict(self.attrs),
        )
        ds.attrs["confidence"] = confidence
        ds.attrs["replications"] = int(k.sizes["replication"])
        return ds

    def replications_needed(
        self, kpi: str = "wait_mean", precision: float = 0.05, confidence: float = 0.95
    ) -> int:
        """Replications for the t interval of ``kpi`` to be within ``precision`` (relative) of
        its mean, using these replications as the pilot (Hoad et al. 2010; at least 2)."""
        if kpi not in self.kpis or self.kpis[kpi].dims != ("replication",):
            scalars = [v for v in self.kpis.data_vars if self.kpis[v].dims == ("replication",)]
            raise ValidationError("kpi", kpi, f"one of {scalars}")
        return replications_needed(self.kpis[kpi].values, precision, confidence)

    def save(self, path: str | os.PathLike) -> Path:
        """Save losslessly to one netCDF file (one group per dataset), atomically."""
        path = Path(path)
        with atomic_path(path, suffix=".nc") as tmp:
            xr.Dataset(attrs=self.attrs).to_netcdf(tmp, mode="w", engine=NETCDF_ENGINE)
            for g in _GROUPS:
                getattr(self, g).to_netcdf(tmp, mode="a", group=g, engine=NETCDF_ENGINE)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ClinicResult:
        """Load a result written by :meth:`save`.

        Raises
        ------
        DataFormatError
            The file is missing, damaged, not netCDF or not a clinic result (names the file).
        """
        path = Path(path)
        attrs = open_result(path, KIND)
        groups = {g: _read_group(path, g) for g in _GROUPS}
        for g, ds in groups.items():
            if ds is None:
                raise DataFormatError(f"clinic result without its {g!r} group", file=str(path))
        return cls(groups["kpis"], groups["weekly"], groups["patients"], groups["events"], attrs)
