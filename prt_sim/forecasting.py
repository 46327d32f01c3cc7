"""Durability forecasts: the full stochastic simulator run for years under posterior draws.

:func:`forecast` takes a fitted posterior (``arviz.InferenceData`` from
:meth:`prt_sim.TrialModel.fit`) and, for each arm (or user protocol) and each
:class:`Scenario` (as randomized, boosters, self-guided maintenance, stressful periods, no
treatment), simulates patients day by day with flare-ups, fading safety learning, reinstatement
and everyday exposure. All posterior draws run in one parallel kernel
(:func:`prt_sim.engine.advance_batch`); only monthly assessments are kept, and they are reduced
to per-draw summaries chunk by chunk, so memory is bounded by the summaries, not by the daily
history.

Definitions (also in ``docs/forecasting.md``):

* **time**: years after the post-treatment visit (T2, study day 30); monthly assessments use the
  trial's month length (30.4375 days), so ``time = 1`` is the trial's 12-month visit.
* **pain-free**: weekly-recall pain reported as 0 or 1 (with the instrument's report noise),
  among patients observed at that time; ``pain_free_itt`` divides by everyone (missing = not
  pain-free), the paper's convention.
* **relapse**: among patients pain-free at post, the first monthly assessment at which reported
  pain is at least ``RelapseRule.threshold`` (default 4, the trial's eligibility level) at
  ``RelapseRule.confirm`` consecutive monthly assessments (default 2: a flare that passes within
  a month is not a relapse). Relapse uses every patient's assessments (no missing data).
* **time pain-free**: days whose 7-day mean pain is below 1.5 (reported 0-1 without noise),
  per patient-year since post.

Scenarios share patients and random numbers (common random numbers): within a posterior draw
and arm, every scenario simulates the same patients with the same flare-ups and noise, so
differences between scenarios are the scenario's effect, not sampling noise.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from . import engine
from ._spec import Validated, spec
from .cohorts import Cohort, CohortSpec
from .errors import ValidationError, check_int, check_range
from .io import NETCDF_ENGINE, atomic_path, provenance
from .protocols import NoTreatment, Protocol, SelfGuided
from .protocols import get as get_protocol
from .rng import MAX_SEED, check_seed, derive_key, uniform_keyed_array
from .timeline import DAYS_PER_MONTH, StressPeriod, Visit, build_timeline

__all__ = [
    "Scenario",
    "RelapseRule",
    "SCENARIOS",
    "DEFAULT_SCENARIOS",
    "SUBGROUPS",
    "forecast",
    "forecast_bands",
    "save_forecast",
    "load_forecast",
    "POST_DAY",
]

#: Study day of the post-treatment visit (T2): time 0 of a forecast.
POST_DAY = 30
_MONTH = DAYS_PER_MONTH


def _month_day(months: float) -> int:
    return POST_DAY + int(round(months * _MONTH))


@dataclass(frozen=True)
class Scenario(Validated):
    """What happens after randomization, applied on top of each arm's protocol.

    Parameters
    ----------
    name : str
        Label (the ``scenario`` coordinate).
    treatment : bool
        False: the no-treatment counterfactual (the arm's protocol is replaced by nothing; the
        patients are the same).
    booster_months : tuple of float
        Booster sessions at these months after post (0-600), each one PRT therapy session:
        ``booster_education`` + ``booster_exposure``. Only patients who started and did not drop
        out attend (with the protocol's attendance).
    booster_education, booster_exposure : float
        Doses of one booster in session units (0-10; default: a PRT therapy session).
    maintenance_dose : float
        Self-guided maintenance (app, workbook) from ``maintenance_start_month`` on, in education
        sessions per day, 0-1 (0 = none).
    maintenance_half_life : float
        Half-life of engagement with the maintenance material, days (> 0; inf = no fading).
    maintenance_start_month : float
        Months after post when maintenance starts, 0-600.
    flare_multiplier : float
        Multiplier of the daily flare-up rate from post on (stressful life events), 0-100.
    stress : tuple of StressPeriod
        Additional periods of elevated flare rate (study days).
    """

    name: str = "as_randomized"
    treatment: bool = True
    booster_months: tuple[float, ...] = ()
    booster_education: float = spec(0.5, 0.0, 10.0, "sessions", "education dose per booster")
    booster_exposure: float = spec(1.0, 0.0, 10.0, "sessions", "exposure dose per booster")
    maintenance_dose: float = spec(0.0, 0.0, 1.0, "sessions/day", "self-guided maintenance dose")
    maintenance_half_life: float = spec(
        math.inf, 0.0, math.inf, "days", "engagement half-life of maintenance", lo_open=True
    )
    maintenance_start_month: float = spec(
        0.0, 0.0, 600.0, "months after post", "start of maintenance"
    )
    flare_multiplier: float = spec(
        1.0, 0.0, 100.0, "1", "multiplier of the flare-up rate after post (life stress)"
    )
    stress: tuple[StressPeriod, ...] = ()

    def _check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("Scenario.name", self.name, "a non-empty string")
        months = tuple(self.booster_months)
        for i, m in enumerate(months):
            check_range(f"Scenario.booster_months[{i}]", m, 0.0, 600.0)
        days = [_month_day(m) for m in months]
        if len(set(days)) != len(days):
            raise ValidationError(
                "Scenario.booster_months", months, "distinct months (at most one booster a day)"
            )
        object.__setattr__(self, "booster_months", tuple(float(m) for m in months))
        for i, sp in enumerate(self.stress):
            if not isinstance(sp, StressPeriod):
                raise ValidationError(f"Scenario.stress[{i}]", sp, "a prt_sim.StressPeriod")
        object.__setattr__(self, "stress", tuple(self.stress))
        if self.booster_months and self.booster_education == 0 and self.booster_exposure == 0:
            raise ValidationError(
                "Scenario.booster_education/exposure", 0.0, "a dose > 0 when boosters are given"
            )

    def apply(self, protocol: Protocol, horizon_days: int) -> tuple[Protocol, tuple]:
        """The protocol and stress periods this scenario gives an arm."""
        p = protocol if self.treatment else NoTreatment().replace(uptake=protocol.uptake)
        if self.booster_months:
            days = [_month_day(m) for m in self.booster_months]
            taken = {s.day for s in p.sessions}
            clash = [d for d in days if d in taken]
            if clash:
                raise ValidationError(
                    f"Scenario[{self.name}].booster_months",
                    self.booster_months,
                    "months whose day has no session already",
                    f"study day(s) {clash} already have a session of {protocol.name}",
                )
            p = p.with_boosters(
                days, education=self.booster_education, exposure=self.booster_exposure
            )
        if self.maintenance_dose > 0:
            p = p.replace(
                self_guided=p.self_guided
                + (
                    SelfGuided(
                        start_day=_month_day(self.maintenance_start_month),
                        daily_dose=self.maintenance_dose,
                        half_life=self.maintenance_half_life,
                    ),
                )
            )
        stress = tuple(self.stress)
        if self.flare_multiplier != 1.0:
            stress += (
                StressPeriod(
                    start_day=POST_DAY + 1,
                    duration_days=max(1, horizon_days - POST_DAY),
                    flare_multiplier=self.flare_multiplier,
                ),
            )
        return p, stress

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["stress"] = [s.to_dict() for s in self.stress]
        d["booster_months"] = list(self.booster_months)
        return d


@dataclass(frozen=True)
class RelapseRule(Validated):
    """When a patient pain-free at post counts as relapsed (see the module docstring).

    Parameters
    ----------
    threshold : float
        Reported weekly pain (1-10 points) at or above which an assessment counts as pain
        returned; default 4, the trial's eligibility threshold.
    confirm : int
        Consecutive monthly assessments at or above the threshold, 1-12 (default 2).
    responder_max : float
        Reported pain at post at or below which a patient is in the risk set (default 1:
        pain-free or nearly), 0-10.
    """

    threshold: float = spec(4.0, 1.0, 10.0, "points", "reported pain that counts as returned")
    confirm: int = spec(2, 1, 12, "assessments", "consecutive monthly assessments", integer=True)
    responder_max: float = spec(1.0, 0.0, 10.0, "points", "pain at post defining the risk set")

    def _check(self) -> None:
        if self.responder_max >= self.threshold:
            raise ValidationError(
                "RelapseRule.responder_max",
                self.responder_max,
                f"a value below threshold ({self.threshold})",
            )


#: Built-in scenarios by name.
SCENARIOS: dict[str, Scenario] = {
    "as_randomized": Scenario(),
    "boosters": Scenario(name="boosters", booster_months=(6.0, 12.0)),
    "maintenance": Scenario(name="maintenance", maintenance_dose=0.02),
    "stress": Scenario(name="stress", flare_multiplier=2.0),
    "no_treatment": Scenario(name="no_treatment", treatment=False),
}
#: What :func:`forecast` runs by default.
DEFAULT_SCENARIOS = ("as_randomized", "boosters", "no_treatment")

#: Baseline subgroups: (name, baseline variable, cut-off, unit). "high" means above the cut-off,
#: the median of the trial's 151 patients (public data). Questionnaires are split on each
#: patient's reading at entry (``Cohort.baseline``), so their cut-offs are the medians at the
#: eligibility visit (TSK-11 24, PCS 12; PCS at T1 is lower, 9: regression to the mean).
SUBGROUPS = (
    ("fear", "tsk11", 24.0, "TSK-11"),
    ("catastrophizing", "pcs", 12.0, "PCS"),
    ("chronicity", "chronicity", 7.0, "years"),
    ("pain", "pain", 4.0, "points (mean of eligibility and T1 reports)"),
)

_SUMMARY_VARS = {
    "mean_pain": ("points (0-10)", "mean reported weekly pain among observed patients"),
    "pain_free": ("share", "share reporting pain 0-1 among observed patients"),
    "pain_free_itt": ("share", "patients reporting pain 0-1 over all patients (missing = not)"),
    "reduction30": ("share", "share of observed patients with >= 30% less pain than baseline"),
    "reduction50": ("share", "share of observed patients with >= 50% less pain than baseline"),
    "relapsed": ("share", "cumulative share of post responders who relapsed (RelapseRule)"),
    "responders_pain_free": ("share", "share of post responders reporting pain 0-1"),
    "pain_free_days_per_year": (
        "days/year",
        "days with 7-day mean pain < 1.5 per patient-year since post",
    ),
    "latent_pain": ("points (0-10)", "mean latent 7-day pain (no report noise)"),
    "belief": ("fraction", "mean belief that pain signals damage"),
    "fear": ("fraction", "mean fear of movement, (TSK-11 - 11) / 33"),
    "avoidance": ("fraction", "mean avoidance (Oswestry / 100)"),
    "catastrophizing": ("fraction", "mean catastrophizing (PCS / 52)"),
}


@dataclass
class _Plan:
    """Everything a chunk of posterior draws needs (built once per forecast)."""

    flat: np.ndarray  # flat (chain-major) indices of the draws used
    inputs: list  # per draw: (ModelParams, {arm: CohortSpec}, self-guided scale)
    arms: list  # (label, protocol, trial arm or None)
    sizes: list[int]  # patients per draw and arm
    n_s: int  # scenarios
    seed: int
    start_day: int  # first simulated study day (shared by every calendar)
    drives: dict[str, np.ndarray]  # calendar drive per (arm x scenario, day)
    attendance: np.ndarray  # per calendar
    uptake: np.ndarray  # per calendar
    dropout: np.ndarray  # per calendar
    response: np.ndarray  # (calendar, checkpoint) probability an assessment is observed
    visits: tuple  # the checkpoints
    years: np.ndarray  # time of each checkpoint, years after post
    relapse: RelapseRule
    id_offsets: list[int]  # first patient id per arm: the trial arm's, whatever the order
    k_post: int = 2  # index of the post-treatment checkpoint


def _checkpoints(horizon_years: float) -> tuple[tuple[Visit, ...], np.ndarray]:
    """Assessments: eligibility, T1, post, then monthly; and their time in years after post."""
    n_months = int(round(12 * horizon_years))
    visits = [Visit(name="eligibility", day=-10), Visit(name="t1", day=0)]
    visits.append(Visit(name="post", day=POST_DAY))
    visits += [Visit(name=f"m{m}", day=_month_day(m)) for m in range(1, n_months + 1)]
    years = np.array(
        [(-10 - POST_DAY) / 365.25, -POST_DAY / 365.25, 0.0]
        + [m / 12 for m in range(1, n_months + 1)]
    )
    return tuple(visits), years


def _resolve_scenarios(scenarios) -> list[Scenario]:
    if isinstance(scenarios, (str, Scenario)):
        scenarios = [scenarios]
    out = []
    for i, s in enumerate(scenarios):
        if isinstance(s, str):
            if s not in SCENARIOS:
                raise ValidationError(
                    f"scenarios[{i}]", s, f"a Scenario or one of {sorted(SCENARIOS)}"
                )
            s = SCENARIOS[s]
        if not isinstance(s, Scenario):
            raise ValidationError(f"scenarios[{i}]", s, "a prt_sim.forecasting.Scenario or a name")
        out.append(s)
    names = [s.name for s in out]
    if not out or len(set(names)) != len(names):
        raise ValidationError("scenarios", names, "at least one scenario, with unique names")
    return out


def _design_of(idata, model) -> dict[str, Any]:
    from .inference.trial_model import trial_design

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


def forecast(
    idata,
    protocols=None,
    *,
    model=None,
    scenarios=DEFAULT_SCENARIOS,
    horizon_years: float = 5.0,
    n_patients: int | None = None,
    n_draws: int = 500,
    seed: int = 0,
    response: str | float = "trial",
    relapse: RelapseRule | None = None,
    group: str = "posterior",
    chunk_patients: int = 100_000,
    progress: bool | None = None,
) -> xr.Dataset:
    """Forecast pain, relief and relapse for years under posterior draws (full simulator).

    Parameters
    ----------
    idata : arviz.InferenceData
        A posterior from :meth:`prt_sim.TrialModel.fit`.
    protocols : None, sequence or mapping, optional
        What to forecast. None (default): the fitted trial's arms with their protocols (usual
        care gets its workbook and website after post, as in the trial). A sequence of arm names,
        built-in protocol names or :class:`~prt_sim.protocols.Protocol` objects, or a mapping
        label -> protocol. Protocols that are not a trial arm use the pooled cohort (no arm
        offset) and the arms' mean response rates.
    model : TrialModel, optional
        The model that produced ``idata`` (default: rebuilt from ``idata.attrs``).
    scenarios : sequence of Scenario or names
        Applied to every arm (default ``("as_randomized", "boosters", "no_treatment")``;
        built-ins in :data:`SCENARIOS`).
    horizon_years : float
        Years after post to forecast, 1/12 to 50 (monthly assessments).
    n_patients : int, optional
        Patients per posterior draw and arm, 1-100000. Default: each arm's randomized size,
        so the bands are what a trial arm of the original size would observe (posterior
        uncertainty, sampling of patients, measurement noise).
    n_draws : int
        Posterior draws used (evenly spaced over chains and draws), 1-100000.
    seed : int
        Seed of cohorts, simulation and measurement; same seed, same forecast, whatever
        ``chunk_patients`` or the number of threads.
    response : "trial" or float
        Probability an assessment is observed: the trial's per-arm rate of the latest visit
        (carried forward after 12 months) or a fixed probability, 0-1.
    relapse : RelapseRule, optional
        The relapse definition (default :class:`RelapseRule()`).
    group : {"posterior", "prior"}
        Which draws of ``idata`` to use ("prior": :meth:`TrialModel.sample_prior`).
    chunk_patients : int
        Patients simulated per kernel call, 1000-10**8: memory is bounded by this (or by one
        draw's patients when those alone are more).
    progress : bool, optional
        Progress bar (default: when more than 5e7 patient-days).

    Returns
    -------
    xarray.Dataset
        Over ``(draw, arm, scenario, time)``: ``mean_pain``, ``pain_free``, ``pain_free_itt``,
        ``reduction30``, ``reduction50``, ``relapsed``, ``responders_pain_free``,
        ``pain_free_days_per_year``, ``latent_pain``, ``belief``, ``fear``, ``avoidance``,
        ``catastrophizing`` (definitions in each variable's attrs and ``docs/forecasting.md``);
        ``relapse_median_years`` and ``n_at_risk`` over ``(draw, arm, scenario)``;
        ``subgroup_mean_pain``, ``subgroup_pain_free``, ``subgroup_relapsed`` over
        ``(draw, arm, scenario, subgroup, time)`` and ``subgroup_share`` over
        ``(draw, arm, scenario, subgroup)``.
        Coordinates: ``time`` (years after post), ``day`` and ``visit`` on ``time``;
        ``source_chain``/``source_draw`` on ``draw``. Attrs: provenance (version, config JSON,
        seed). Bands: :func:`forecast_bands`.
    """
    from .inference.trial_model import posterior_inputs, spaced_draws

    seed = check_seed(seed)
    n_draws = check_int("n_draws", n_draws, 1, 100_000)
    horizon_years = check_range("horizon_years", horizon_years, 1 / 12, 50.0)
    chunk_patients = check_int("chunk_patients", chunk_patients, 1000, 10**8)
    relapse = relapse or RelapseRule()
    if not isinstance(relapse, RelapseRule):
        raise ValidationError("relapse", relapse, "a prt_sim.forecasting.RelapseRule")
    design = _design_of(idata, model)
    arms = _resolve_arms(protocols, design)
    scens = _resolve_scenarios(scenarios)
    visits, years = _checkpoints(horizon_years)
    horizon_days = visits[-1].day
    days = [v.day for v in visits]

    sizes = []
    for _label, _, trial_arm in arms:
        if n_patients is not None:
            sizes.append(check_int("n_patients", n_patients, 1, 100_000))
        elif trial_arm is not None:
            sizes.append(int(design["n_randomized"][trial_arm]))
        else:
            sizes.append(int(round(np.mean(list(design["n_randomized"].values())))))
    # One calendar per (arm, scenario); every calendar starts on the same day.
    tls, resp, att, drop, upt = [], [], [], [], []
    for _label, proto, trial_arm in arms:
        for sc in scens:
            late = [m for m in sc.booster_months if _month_day(m) > horizon_days]
            if late:
                raise ValidationError(
                    f"Scenario[{sc.name}].booster_months",
                    late,
                    f"months after post within the horizon, at most {12 * horizon_years:g}",
                )
            p, stress = sc.apply(proto, horizon_days)
            tl = build_timeline(p, horizon_days=horizon_days, visits=visits, stress=stress)
            tls.append(tl)
            att.append(p.attendance)
            drop.append(p.dropout)
            upt.append(p.uptake)
            resp.append(_response_curve(design, trial_arm, days, response))
    start = {tl.start_day for tl in tls}
    if len(start) != 1:
        raise ValidationError(
            "protocols.sessions.day",
            sorted(start),
            "sessions on or after study day -10 (the eligibility visit)",
        )
    (start_day,) = start
    drives = {
        name: np.stack([getattr(tl, name) for tl in tls])
        for name in ("education", "exposure", "placebo", "session", "self_guided")
    }
    drives["flare_multiplier"] = np.stack([tl.flare_multiplier for tl in tls])
    attendance, dropout, uptake = np.array(att), np.array(drop), np.array(upt)
    response_gk = np.stack(resp)  # (group, checkpoint)

    if group not in ("posterior", "prior") or group not in idata.groups():
        raise ValidationError("group", group, "'posterior' or 'prior', a group of idata")
    post = idata[group]
    total = post.sizes["chain"] * post.sizes["draw"]
    flat = spaced_draws(total, n_draws)
    n_d, n_a, n_s, n_k = len(flat), len(arms), len(scens), len(visits)
    p_max = max(sizes)
    cfg = (
        json.loads(idata.attrs["config"]) if model is None else model.config()
    )  # fitted configuration
    inputs = posterior_inputs(
        idata,
        flat,
        priors=None if model is None else model.priors,
        params=None if model is None else model.params,
        spec=None if model is None else model.spec,
        group=group,
    )

    out = _allocate(n_d, n_a, n_s, n_k)
    draws_per_chunk = max(1, chunk_patients // (n_a * n_s * p_max))
    total_days = sum(sizes) * n_s * n_d * (horizon_days - start_day + 1)
    show = progress if progress is not None else total_days > 5e7
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_d, desc="forecast (full simulator)", unit="draw")
    plan = _Plan(
        flat=flat,
        inputs=inputs,
        arms=arms,
        sizes=sizes,
        n_s=n_s,
        seed=seed,
        start_day=start_day,
        drives=drives,
        attendance=attendance,
        uptake=uptake,
        dropout=dropout,
        response=response_gk,
        visits=visits,
        years=years,
        relapse=relapse,
        id_offsets=[_id_offset(label, trial_arm, design) for label, _, trial_arm in arms],
    )
    try:
        for lo in range(0, n_d, draws_per_chunk):
            hi = min(n_d, lo + draws_per_chunk)
            _run_chunk(plan, lo, hi, out)
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()

    config = {
        "fit_config": cfg,
        "design_source": design.get("source"),
        "arms": {label: p.to_dict() for label, p, _ in arms},
        "trial_arm": {label: a for label, _, a in arms},
        "scenarios": [s.to_dict() for s in scens],
        "horizon_years": horizon_years,
        "n_patients": dict(zip([a[0] for a in arms], sizes)),
        "n_draws": n_d,
        "group": group,
        "response": response,
        "relapse": relapse.to_dict(),
        "subgroups": [list(s) for s in SUBGROUPS],
    }
    chains, draws = flat // post.sizes["draw"], flat % post.sizes["draw"]
    return _to_dataset(out, arms, scens, visits, years, chains, draws, seed, config)


def _allocate(n_d, n_a, n_s, n_k) -> dict[str, np.ndarray]:
    shape = (n_d, n_a, n_s, n_k)
    out = {v: np.full(shape, np.nan, dtype=np.float32) for v in _SUMMARY_VARS}
    n_sub = 2 * len(SUBGROUPS)
    for v in ("mean_pain", "pain_free", "relapsed"):
        out[f"subgroup_{v}"] = np.full((n_d, n_a, n_s, n_sub, n_k), np.nan, dtype=np.float32)
    out["subgroup_share"] = np.full((n_d, n_a, n_s, n_sub), np.nan, dtype=np.float32)
    out["n_at_risk"] = np.zeros((n_d, n_a, n_s), dtype=np.int32)
    out["relapse_median_years"] = np.full((n_d, n_a, n_s), np.nan, dtype=np.float32)
    return out


def _run_chunk(plan: _Plan, lo: int, hi: int, out: dict[str, np.ndarray]) -> None:
    """Simulate posterior draws ``lo:hi`` and reduce them into ``out``."""
    arms, n_s, drives = plan.arms, plan.n_s, plan.drives
    traits, states, pids, member, group, keys_sim, keys_obs, keys_up = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    sg_scale, ptable, subgroup_base = [], [], []
    for r, k in enumerate(range(lo, hi)):
        params, specs, scale = plan.inputs[k]
        # The same derivation as the posterior predictive: draw k's simulation is exactly
        # ``simulate(cohort, protocol, seed=dseed, params=params)``.
        dseed = derive_key(plan.seed, "forecast", int(plan.flat[k])) % MAX_SEED
        keys_sim.append(derive_key(dseed, "simulate", "dynamics"))
        keys_obs.append(derive_key(dseed, "simulate", "observe"))
        keys_up.append(derive_key(dseed, "simulate", "uptake"))
        ptable.append(np.array(params.to_tuple(), dtype=np.float64))
        sg_scale.append(scale)
        for a, (_label, _proto, trial_arm) in enumerate(arms):
            spec = specs[trial_arm] if trial_arm is not None else _pooled(specs)
            n = plan.sizes[a]
            c = Cohort.from_trial_baseline(
                n, seed=dseed, spec=spec, params=params, id_offset=plan.id_offsets[a]
            )
            # every scenario simulates these same patients (common random numbers)
            c_traits, c_state = c.traits_array(), c.state_array()
            for s in range(n_s):
                traits.append(c_traits)
                states.append(c_state)
                pids.append(c.patient_id)
                member.append(np.full(n, r, dtype=np.int64))
                group.append(np.full(n, a * n_s + s, dtype=np.int64))
            subgroup_base.append(c.baseline)
    state = np.ascontiguousarray(np.concatenate(states, axis=1))
    trait = np.ascontiguousarray(np.concatenate(traits, axis=1))
    pid = np.concatenate(pids).astype(np.uint64)
    mem = np.concatenate(member)
    grp = np.concatenate(group)
    ku = np.array(keys_up, dtype=np.uint64)
    treating = uniform_keyed_array(ku, mem, pid, np.uint64(0)) < plan.uptake[grp]
    n = state.shape[1]
    attended = np.zeros(n, dtype=np.int32)
    pf_days = np.zeros(n, dtype=np.int64)
    ring = np.empty((7, n))
    ptab = np.stack(ptable)
    ks = np.array(keys_sim, dtype=np.uint64)
    ko = np.array(keys_obs, dtype=np.uint64)
    sgs = np.array(sg_scale, dtype=np.float64)
    obs = np.empty((7, len(plan.visits), n), dtype=np.float32)
    pf_at = np.zeros((len(plan.visits), n), dtype=np.int32)
    engine.prime_batch(state, trait, ring, ptab, mem)
    t = 0
    for j, v in enumerate(plan.visits):
        t_stop = v.day - plan.start_day + 1
        if t_stop > t:
            engine.advance_batch(
                state,
                trait,
                pid,
                mem,
                grp,
                ks,
                treating,
                attended,
                ring,
                pf_days,
                plan.start_day,
                t,
                t_stop,
                drives["education"],
                drives["exposure"],
                drives["placebo"],
                drives["session"],
                drives["self_guided"],
                drives["flare_multiplier"],
                plan.attendance,
                plan.dropout,
                ptab,
                sgs,
            )
            t = t_stop
        resp = np.ascontiguousarray(plan.response[:, j])
        engine.observe_batch(state, trait, ring, pid, mem, grp, ko, v.day, resp, ptab, obs, j)
        pf_at[j] = pf_days
    _reduce(plan, obs, pf_at, lo, hi, subgroup_base, out)


def _id_offset(label: str, trial_arm: str | None, design) -> int:
    """First patient id of an arm's cohort. A trial arm uses its index in the trial, as the
    posterior predictive check does, so its patients do not depend on which other arms are
    forecast or in what order; any other protocol gets an offset derived from its label."""
    if trial_arm is not None:
        return design["arms"].index(trial_arm) * 10**6
    return (100 + derive_key(0, "protocol", label) % 10**6) * 10**6


def _pooled(specs: Mapping[str, CohortSpec]) -> CohortSpec:
    """Cohort of a protocol that is not a trial arm: the arms' mean baseline pain (their
    posterior offsets averaged)."""
    first = next(iter(specs.values()))
    return first.replace(pain_mean=float(np.mean([s.pain_mean for s in specs.values()])))


def _reduce(plan: _Plan, obs, pf_at, lo, hi, bases, out) -> None:
    """Per-draw summaries of the patients of draws ``lo:hi`` (patients ordered draw, arm,
    scenario, patient)."""
    days = np.array([v.day for v in plan.visits])
    off = 0
    b = 0
    for r in range(lo, hi):
        for a, n in enumerate(plan.sizes):
            base = bases[b]
            b += 1
            for s in range(plan.n_s):
                sl = slice(off, off + n)
                off += n
                rep = obs[0, :, sl].astype(np.float64)  # (K, n)
                seen = obs[1, :, sl] > 0.5
                _summaries(plan, rep, seen, obs[:, :, sl], pf_at[:, sl], days, base, out, (r, a, s))


def _summaries(plan: _Plan, rep, seen, o, pf, days, base, out, idx) -> None:
    r, a, s = idx
    k_post, relapse, years = plan.k_post, plan.relapse, plan.years
    n_k, n = rep.shape
    nobs = seen.sum(axis=1)
    ok = nobs > 0
    free = rep <= 1.0
    baseline = 0.5 * (rep[0] + rep[1])
    red = (baseline[None, :] - rep) / np.maximum(baseline[None, :], 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_pain"][r, a, s] = np.where(ok, (rep * seen).sum(1) / nobs, np.nan)
        out["pain_free"][r, a, s] = np.where(ok, (free & seen).sum(1) / nobs, np.nan)
        out["pain_free_itt"][r, a, s] = (free & seen).sum(1) / n
        has_base = baseline > 0
        den = (seen & has_base[None, :]).sum(1)
        out["reduction30"][r, a, s] = np.where(
            den > 0, ((red >= 0.3) & seen & has_base[None, :]).sum(1) / den, np.nan
        )
        out["reduction50"][r, a, s] = np.where(
            den > 0, ((red >= 0.5) & seen & has_base[None, :]).sum(1) / den, np.nan
        )
    for v, k in (("latent_pain", 2), ("belief", 3), ("fear", 4), ("avoidance", 5),
                 ("catastrophizing", 6)):  # fmt: skip
        out[v][r, a, s] = o[k].mean(axis=1)
    # Time pain-free since post, per patient-year.
    elapsed = days - days[k_post]
    pf_since = pf - pf[k_post][None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pain_free_days_per_year"][r, a, s] = np.where(
            elapsed > 0, 365.25 * pf_since.mean(axis=1) / np.maximum(elapsed, 1), np.nan
        )
    # Relapse among post responders.
    risk = rep[k_post] <= relapse.responder_max
    event = _relapse_index(rep, k_post, relapse)  # (n,) checkpoint index or -1
    out["n_at_risk"][r, a, s] = int(risk.sum())
    rel, still = _relapse_curves(risk, event, free, n_k, k_post)
    out["relapsed"][r, a, s] = rel
    out["responders_pain_free"][r, a, s] = still
    out["relapse_median_years"][r, a, s] = _median_time(rel, years)
    # Subgroups (fixed cut-offs at the trial's baseline medians).
    values = {
        "tsk11": 11.0 + 33.0 * np.asarray(base["fear"]),
        "pcs": 52.0 * np.asarray(base["catastrophizing"]),
        "chronicity": np.asarray(base["chronicity"]),
        "pain": baseline,
    }
    for g, (_, var, cut, _) in enumerate(SUBGROUPS):
        high = values[var] > cut
        for h, mask in enumerate((~high, high)):
            j = 2 * g + h
            out["subgroup_share"][r, a, s, j] = mask.mean()
            if not mask.any():
                continue
            sm = seen[:, mask]
            no = sm.sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out["subgroup_mean_pain"][r, a, s, j] = np.where(
                    no > 0, (rep[:, mask] * sm).sum(1) / no, np.nan
                )
                out["subgroup_pain_free"][r, a, s, j] = np.where(
                    no > 0, (free[:, mask] & sm).sum(1) / no, np.nan
                )
            rel_g, _ = _relapse_curves(risk & mask, event, free, n_k, k_post)
            out["subgroup_relapsed"][r, a, s, j] = rel_g


def _relapse_index(rep, k_post, rule) -> np.ndarray:
    """Checkpoint at which a relapse is confirmed: the last of the first ``rule.confirm``
    consecutive assessments after post with reported pain >= threshold (-1 if none within the
    horizon). Dating it at the confirming assessment keeps every time point independent of the
    horizon (a run that starts in the last month is not yet a relapse anywhere)."""
    high = rep[k_post + 1 :] >= rule.threshold  # (M, n)
    m, n = high.shape
    c = rule.confirm
    if m < c:
        return np.full(n, -1)
    run = np.ones((m - c + 1, n), dtype=bool)
    for j in range(c):
        run &= high[j : m - c + 1 + j]
    any_ = run.any(axis=0)
    first = np.argmax(run, axis=0)
    return np.where(any_, first + (c - 1) + k_post + 1, -1)


def _relapse_curves(risk, event, free, n_k, k_post):
    """Cumulative relapsed share, and share still pain-free, among ``risk`` over checkpoints
    (NaN before post and when nobody is at risk)."""
    rel = np.full(n_k, np.nan)
    still = np.full(n_k, np.nan)
    n_risk = risk.sum()
    if n_risk == 0:
        return rel, still
    ev = event[risk]
    k = np.arange(k_post, n_k)
    rel[k_post:] = ((ev[None, :] >= 0) & (ev[None, :] <= k[:, None])).mean(axis=1)
    still[k_post:] = free[k_post:, risk].mean(axis=1)
    return rel, still


def _median_time(rel, years) -> float:
    """First time half the risk set has relapsed: +inf if not within the horizon, NaN if
    nobody was at risk."""
    if not np.isfinite(rel).any():
        return np.nan
    hit = np.flatnonzero(rel >= 0.5)
    return float(years[hit[0]]) if hit.size else np.inf


def _to_dataset(out, arms, scens, visits, years, chains, draws, seed, config) -> xr.Dataset:
    labels = [s[0] for s in SUBGROUPS]
    sub = [f"{name}:{lvl}" for name in labels for lvl in ("low", "high")]
    coords = {
        "draw": np.arange(len(chains)),
        "arm": [a[0] for a in arms],
        "scenario": [s.name for s in scens],
        "time": years,
        "subgroup": sub,
    }
    dims = ("draw", "arm", "scenario", "time")
    data = {}
    for v, (unit, doc) in _SUMMARY_VARS.items():
        data[v] = xr.Variable(dims, out[v], attrs={"units": unit, "long_name": doc})
    for v in ("mean_pain", "pain_free", "relapsed"):
        data[f"subgroup_{v}"] = xr.Variable(
            ("draw", "arm", "scenario", "subgroup", "time"),
            out[f"subgroup_{v}"],
            attrs={"long_name": f"{_SUMMARY_VARS[v][1]}, within a baseline subgroup"},
        )
    data["subgroup_share"] = xr.Variable(
        ("draw", "arm", "scenario", "subgroup"),
        out["subgroup_share"],
        attrs={"long_name": "share of the arm's patients in the subgroup"},
    )
    data["n_at_risk"] = xr.Variable(
        ("draw", "arm", "scenario"),
        out["n_at_risk"],
        attrs={"long_name": "patients pain-free at post (the relapse risk set)"},
    )
    data["relapse_median_years"] = xr.Variable(
        ("draw", "arm", "scenario"),
        out["relapse_median_years"],
        attrs={
            "units": "years after post",
            "long_name": "first time half the post responders of this draw have relapsed "
            "(inf: not within the horizon; NaN: nobody at risk)",
        },
    )
    ds = xr.Dataset(data, coords=coords)
    ds = ds.assign_coords(
        day=("time", np.array([v.day for v in visits], dtype=np.int64)),
        visit=("time", [v.name for v in visits]),
        source_chain=("draw", np.asarray(chains, dtype=np.int64)),
        source_draw=("draw", np.asarray(draws, dtype=np.int64)),
    )
    ds["time"].attrs.update(units="years after post (T2, study day 30)")
    ds.attrs.update(provenance("forecast", seed, config))
    return ds


def forecast_bands(ds: xr.Dataset, level: float = 0.9) -> xr.Dataset:
    """Median and ``level`` interval over posterior draws of every variable with a ``draw``
    dimension (except the censored ``relapse_median_years``); a new dimension ``stat`` =
    ("median", "lo", "hi"). Draws where a share is undefined (nobody at risk) are skipped."""
    level = check_range("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    q = [0.5, (1 - level) / 2, 1 - (1 - level) / 2]
    # relapse_median_years is censored at the horizon (inf): summarise it per draw instead
    vars_ = [v for v in ds.data_vars if "draw" in ds[v].dims and v != "relapse_median_years"]
    with warnings.catch_warnings():
        # relapse shares are NaN where nobody was at risk: such draws are skipped
        warnings.simplefilter("ignore", RuntimeWarning)
        qs = ds[vars_].astype(np.float64).quantile(q, dim="draw", skipna=True)
    qs = qs.rename(quantile="stat").assign_coords(stat=["median", "lo", "hi"])
    qs.attrs.update(ds.attrs, level=level)
    return qs


def save_forecast(ds: xr.Dataset, path) -> Any:
    """Write a forecast Dataset to netCDF atomically (lossless; attrs keep provenance)."""
    from pathlib import Path

    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE)
    return path


def load_forecast(path) -> xr.Dataset:
    """Load a forecast written by :func:`save_forecast` (fully into memory)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()
