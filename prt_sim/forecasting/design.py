"""What a forecast simulates: arms, scenarios and their calendars, checkpoints, response rates, and the cohort of each posterior draw.

:func:`make_plan` resolves a forecast's request against a fit's trial design into a
:class:`Plan`: one calendar per (arm, scenario), plus one per month in which a patient of that
arm and scenario may take up treatment after the trial
(:class:`~prt_sim.forecasting.uptake.Uptake`), the monthly checkpoints, the probability each
checkpoint is observed, the patients per arm, and the simulator inputs of every posterior draw.
:meth:`Plan.cohort` builds the patients of one draw and arm: trial-like from the draw's
population (optionally changed, :class:`~prt_sim.model.cohorts.CohortSpec`), or from records
(:class:`RecordsCohort`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..engine import Calendars
from ..errors import ValidationError, check_int, check_range
from ..inference.posterior import (
    ARM_ID_STRIDE,
    fit_configuration,
    posterior_inputs,
    spaced_draws,
    trial_design,
)
from ..model.calendar import ELIGIBILITY_DAY, POST_DAY, month_day
from ..model.cohorts import Cohort, CohortSpec
from ..model.params import ModelParams
from ..model.protocols import Protocol
from ..model.protocols import get as get_protocol
from ..model.rng import derive_key
from ..model.timeline import Visit, build_timeline
from ..runner import make_calendars
from .scenarios import RelapseRule, Scenario
from .uptake import Uptake, course_start_day

__all__ = ["Plan", "RecordsCohort", "make_plan", "checkpoints"]


@dataclass(frozen=True)
class RecordsCohort:
    """A cohort given by baseline records, forecast under each posterior draw.

    Each draw builds the patients with :meth:`prt_sim.Cohort.from_records` (its parameters and
    population), so the records' measured baseline is kept and the unmeasured response traits
    are drawn. Every arm forecasts the same patients.

    Parameters
    ----------
    table : mapping of column -> array, or a pandas DataFrame
        As :meth:`~prt_sim.Cohort.from_records` takes it (``pain_avg`` required).
    pain_offset, entry_shift : float
        As in :meth:`~prt_sim.Cohort.from_records` (points, 0-5).
    id_column : str, optional
        Column of patient ids.
    name : str
        Name of the table in messages.
    """

    table: Any
    pain_offset: float = 0.0
    entry_shift: float = 0.0
    id_column: str | None = None
    name: str = "records"

    def build(self, *, seed: int, spec: CohortSpec, params: ModelParams) -> Cohort:
        """The patients under one draw's parameters and population."""
        return Cohort.from_records(
            self.table,
            seed=seed,
            spec=spec,
            params=params,
            name=self.name,
            id_column=self.id_column,
            pain_offset=self.pain_offset,
            entry_shift=self.entry_shift,
        )


@dataclass
class Plan:
    """Everything a chunk of posterior draws needs (built once per forecast by
    :func:`make_plan`)."""

    flat: np.ndarray  # flat (chain-major) indices of the draws used
    inputs: list  # per draw: (ModelParams, {arm: CohortSpec}, self-guided scale)
    arms: list  # (label, protocol, trial arm or None)
    sizes: list[int]  # patients per draw and arm
    scenarios: list  # Scenario objects
    seed: int
    calendars: Calendars  # one row per (arm, scenario), arm-major; then the takers' (below)
    response: np.ndarray  # (calendar, checkpoint) probability an assessment is observed
    visits: tuple  # the checkpoints
    years: np.ndarray  # time of each checkpoint, years after post
    relapse: RelapseRule
    id_offsets: list[int]  # first patient id per arm: the trial arm's, whatever the order
    spec_overrides: dict = field(default_factory=dict)  # CohortSpec fields set for the forecast
    records: RecordsCohort | None = None
    k_post: int = 2  # index of the post-treatment checkpoint
    # (arm, scenario) -> (Uptake, calendar row of its first month): the takers' calendars, one
    # per month of the window, in order
    uptake_rows: dict[tuple[int, int], tuple[Uptake, int]] = field(default_factory=dict)

    @property
    def n_s(self) -> int:
        """Scenarios."""
        return len(self.scenarios)

    def cohort(self, a: int, params: ModelParams, specs: Mapping[str, CohortSpec], seed: int):
        """The patients of arm ``a`` under one draw (every scenario simulates these same
        patients: common random numbers)."""
        trial_arm = self.arms[a][2]
        spec = specs[trial_arm] if trial_arm is not None else _pooled(specs)
        spec = spec.replace(**self.spec_overrides) if self.spec_overrides else spec
        if self.records is not None:
            return self.records.build(seed=seed, spec=spec, params=params)
        return Cohort.from_trial_baseline(
            self.sizes[a], seed=seed, spec=spec, params=params, id_offset=self.id_offsets[a]
        )


def checkpoints(horizon_years: float) -> tuple[tuple[Visit, ...], np.ndarray]:
    """Assessments: eligibility, T1, post, then monthly; and their time in years after post."""
    n_months = int(round(12 * horizon_years))
    visits = [Visit(name="eligibility", day=ELIGIBILITY_DAY), Visit(name="t1", day=0)]
    visits.append(Visit(name="post", day=POST_DAY))
    visits += [Visit(name=f"m{m}", day=month_day(m)) for m in range(1, n_months + 1)]
    years = np.array(
        [(ELIGIBILITY_DAY - POST_DAY) / 365.25, -POST_DAY / 365.25, 0.0]
        + [m / 12 for m in range(1, n_months + 1)]
    )
    return tuple(visits), years


def _design_of(idata, model) -> dict[str, Any]:
    if model is not None:
        return trial_design(model.data)
    if "design" not in idata.attrs:
        raise ValidationError(
            "idata.attrs['design']",
            None,
            "a fit made by prt_sim.TrialModel.fit (or pass model=the TrialModel)",
        )
    return json.loads(idata.attrs["design"])


def _resolve_arms(protocols, design) -> list[tuple[str, Protocol, str | None]]:
    """(label, protocol, trial arm whose cohort offset and response it uses, or None)."""
    trial = {a: Protocol.from_dict(p) for a, p in design["protocols"].items()}
    if protocols is None:
        return [(a, trial[a], a) for a in design["arms"]]
    if isinstance(protocols, (str, Protocol)):
        protocols = [protocols]
    items = protocols.items() if isinstance(protocols, Mapping) else None
    out = []
    if items is None:
        for i, p in enumerate(protocols):
            if isinstance(p, str) and p in trial:
                out.append((p, trial[p], p))
                continue
            try:
                proto = get_protocol(p)
            except ValidationError:
                raise ValidationError(
                    f"protocols[{i}]", p, f"a Protocol, a trial arm {list(trial)} or a built-in"
                ) from None
            out.append((proto.name, proto, proto.name if proto.name in trial else None))
    else:
        for name, p in items:
            try:
                proto = trial[p] if isinstance(p, str) and p in trial else get_protocol(p)
            except ValidationError:
                raise ValidationError(
                    f"protocols[{name}]", p, f"a Protocol, a trial arm {list(trial)} or a built-in"
                ) from None
            out.append((str(name), proto, str(name) if str(name) in trial else None))
    labels = [o[0] for o in out]
    if not out or len(set(labels)) != len(labels):
        raise ValidationError("protocols", labels, "at least one protocol, with unique names")
    return out


def _response_curve(design, arm: str | None, days: list[int], response) -> np.ndarray:
    """Probability each checkpoint is observed: the trial's rate at the latest visit on or
    before it (baseline always observed), carried forward after the last visit."""
    if not isinstance(response, str):
        r = check_range("response", response, 0.0, 1.0)
        out = np.full(len(days), r)
        out[:2] = 1.0
        return out
    if response != "trial":
        raise ValidationError("response", response, "'trial' or a probability in [0, 1]")
    resp = design["responses"]
    arms = [arm] if arm in resp else list(resp)
    vdays = design["visit_days"]
    out = np.ones(len(days))
    for k, d in enumerate(days):
        if d <= 0:
            continue
        rates = []
        for a in arms:
            seen = [(vdays[v], r) for v, r in resp[a].items() if v in vdays and vdays[v] <= d]
            seen = [x for x in seen if x[0] > 0]
            rates.append(max(seen)[1] if seen else 1.0)
        out[k] = float(np.mean(rates))
    return out


def _id_offset(label: str, trial_arm: str | None, design) -> int:
    """First patient id of an arm's cohort. A trial arm uses its index in the trial, as the
    posterior predictive check does, so its patients do not depend on which other arms are
    forecast or in what order; any other protocol gets an offset derived from its label."""
    if trial_arm is not None:
        return design["arms"].index(trial_arm) * ARM_ID_STRIDE
    return (100 + derive_key(0, "protocol", label) % 10**6) * ARM_ID_STRIDE


def _pooled(specs: Mapping[str, CohortSpec]) -> CohortSpec:
    """Cohort of a protocol that is not a trial arm: the arms' mean baseline pain (their
    posterior offsets averaged)."""
    first = next(iter(specs.values()))
    return first.replace(pain_mean=float(np.mean([s.pain_mean for s in specs.values()])))


def _cohort_request(cohort, base_spec: CohortSpec, base_params: ModelParams):
    """(CohortSpec field overrides, RecordsCohort or None) of a forecast's ``cohort``."""
    if cohort is None:
        return {}, None
    if isinstance(cohort, CohortSpec):
        # The fields the user changed from the fit's population are set for the forecast; the
        # others follow each posterior draw.
        overrides = {
            f.name: getattr(cohort, f.name)
            for f in fields(CohortSpec)
            if getattr(cohort, f.name) != getattr(base_spec, f.name)
        }
        return overrides, None
    if (
        isinstance(cohort, Mapping)
        and cohort
        and all(isinstance(k, str) for k in cohort)
        and (set(cohort) <= {f.name for f in fields(CohortSpec)})
    ):
        base_spec.replace(**cohort)  # validates names and values now, before any work
        return dict(cohort), None
    records = cohort if isinstance(cohort, RecordsCohort) else RecordsCohort(cohort)
    records.build(seed=0, spec=base_spec, params=base_params)  # validates the table now
    return {}, records


#: Largest day table the takers' calendars of one scenario may add (bytes): a window of decades
#: over a horizon of decades would otherwise fill the memory before anything runs.
MAX_TAKER_TABLE = 2**30


def _taker_calendars(arms, scenarios, design, visits, stresses, tls, applied, resp) -> dict:
    """Append the calendars of patients who take up treatment after the trial (one per arm,
    scenario and month of the uptake window: the arm's protocol under the scenario plus the
    course from that month) to ``tls``, ``applied`` and ``resp``; return
    ``{(arm, scenario): (Uptake, first row)}``."""
    horizon_days = visits[-1].day
    n_months = len(visits) - 3  # eligibility, T1, post, then one per month
    labels = [label for label, _, _ in arms]
    known = set(labels) | set(design["arms"])
    n_s = len(scenarios)
    rows: dict[tuple[int, int], tuple[Uptake, int]] = {}
    for s, sc in enumerate(scenarios):
        up = sc.uptake
        if up is None:
            continue
        unknown = [a for a in up.arms if a not in known]
        if unknown:
            raise ValidationError(
                f"Scenario[{sc.name}].uptake.share",
                unknown[0],
                f"an arm of this forecast {labels} or of the fitted trial {list(design['arms'])}",
            )
        if not up.any_share or not any(up.share_of(lb, pr.name) > 0 for lb, pr, _ in arms):
            continue
        end = up.start_month + up.window_months
        if up.start_month >= n_months:
            raise ValidationError(
                f"Scenario[{sc.name}].uptake.start_month",
                up.start_month,
                f"0 to {n_months - 1} months after post (within the horizon of {n_months} months)",
            )
        if end > n_months:
            raise ValidationError(
                f"Scenario[{sc.name}].uptake.window_months",
                up.window_months,
                f"1 to {max(0, n_months - up.start_month)} months (start_month "
                f"{up.start_month} + window_months within the horizon of {n_months} months)",
            )
        last = up.course.last_day(course_start_day(end - 1))
        if last > horizon_days:
            raise ValidationError(
                f"Scenario[{sc.name}].uptake.window_months",
                up.window_months,
                "a window whose last course ends within the horizon",
                f"a course started in month {end - 1} runs to study day {last}, after the "
                f"horizon (day {horizon_days})",
            )
        takers = [a for a, (lb, pr, _) in enumerate(arms) if up.share_of(lb, pr.name) > 0]
        size = len(takers) * up.window_months * tls[0].n_days * 41  # 5 float64 + 1 bool a day
        if size > MAX_TAKER_TABLE:
            raise ValidationError(
                f"Scenario[{sc.name}].uptake.window_months",
                up.window_months,
                f"a window whose calendars take at most {MAX_TAKER_TABLE / 2**30:g} GiB",
                f"{len(takers)} arm(s) x {up.window_months} months of {tls[0].n_days} days "
                f"need {size / 2**30:.1f} GiB: shorten the window or the horizon",
            )
        for a in takers:
            base = a * n_s + s
            rows[(a, s)] = (up, len(tls))
            for m in up.months:
                p = up.taker_protocol(applied[base], m)
                tls.append(
                    build_timeline(
                        p, horizon_days=horizon_days, visits=visits, stress=stresses[base]
                    )
                )
                applied.append(p)
                resp.append(resp[base])
    return rows


def make_plan(
    idata,
    protocols,
    *,
    model,
    scenarios: list[Scenario],
    horizon_years: float,
    n_patients: int | None,
    n_draws: int,
    seed: int,
    response,
    relapse: RelapseRule,
    group: str,
    cohort,
) -> Plan:
    """Resolve a forecast request (see :func:`prt_sim.forecasting.forecast`) into a Plan."""
    design = _design_of(idata, model)
    arms = _resolve_arms(protocols, design)
    visits, years = checkpoints(horizon_years)
    horizon_days = visits[-1].day
    days = [v.day for v in visits]
    if group not in ("posterior", "prior") or group not in idata.groups():
        raise ValidationError("group", group, "'posterior' or 'prior', a group of idata")
    if model is not None:
        priors, params, spec = model.priors, model.params, model.spec
    else:
        priors, params, spec = fit_configuration(idata)
    overrides, records = _cohort_request(cohort, spec, params)

    sizes = []
    for _label, _, trial_arm in arms:
        if records is not None:
            if n_patients is not None:
                raise ValidationError(
                    "n_patients", n_patients, "None with a records cohort (one row per patient)"
                )
            sizes.append(len(records.build(seed=0, spec=spec, params=params)))
        elif n_patients is not None:
            sizes.append(check_int("n_patients", n_patients, 1, 100_000))
        elif trial_arm is not None:
            sizes.append(int(design["n_randomized"][trial_arm]))
        else:
            sizes.append(int(round(np.mean(list(design["n_randomized"].values())))))
    # One calendar per (arm, scenario); every calendar starts on the same day.
    tls, applied, resp, stresses = [], [], [], []
    for _label, proto, trial_arm in arms:
        for sc in scenarios:
            late = [m for m in sc.booster_months if month_day(m) > horizon_days]
            if late:
                raise ValidationError(
                    f"Scenario[{sc.name}].booster_months",
                    late,
                    f"months after post within the horizon, at most {12 * horizon_years:g}",
                )
            p, stress = sc.apply(proto, horizon_days)
            tls.append(build_timeline(p, horizon_days=horizon_days, visits=visits, stress=stress))
            applied.append(p)
            stresses.append(stress)
            resp.append(_response_curve(design, trial_arm, days, response))
    uptake_rows = _taker_calendars(arms, scenarios, design, visits, stresses, tls, applied, resp)
    start = sorted({tl.start_day for tl in tls})
    if len(start) != 1:
        raise ValidationError(
            "protocols.sessions.day",
            start,
            f"sessions on or after study day {ELIGIBILITY_DAY} (the eligibility visit)",
        )
    post = idata[group]
    flat = spaced_draws(post.sizes["chain"] * post.sizes["draw"], n_draws)
    inputs = posterior_inputs(idata, flat, priors=priors, params=params, spec=spec, group=group)
    same_patients = records is not None  # records: every arm forecasts the same people
    return Plan(
        flat=flat,
        inputs=inputs,
        arms=arms,
        sizes=sizes,
        scenarios=scenarios,
        seed=seed,
        calendars=make_calendars(tls, applied),
        response=np.stack(resp),
        visits=visits,
        years=years,
        relapse=relapse,
        id_offsets=[
            0 if same_patients else _id_offset(label, trial_arm, design)
            for label, _, trial_arm in arms
        ],
        spec_overrides=overrides,
        records=records,
        uptake_rows=uptake_rows,
    )
