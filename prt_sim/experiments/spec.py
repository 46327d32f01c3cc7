"""What a sweep is given: validated objects for its factors, design, arms, populations and outcomes, read from TOML or built in Python.

A :class:`SweepSpec` is the whole experiment: the parameters to vary (:class:`Factor`: model
parameters ``params.<field>``, cohort fields ``cohort.<field>``, protocol fields
``protocol.<field>``) with a :class:`Design` (grid, Latin hypercube, Sobol, Saltelli's A/B/AB
matrices for Sobol indices, or draws of a saved fit), the arms (:class:`Arm`: protocols), the
populations (:class:`Population`: cohort specs), the outcomes to record (:class:`Outcome`: name,
shape, dtype), replicates and the root seed. Every check runs on construction, so a bad spec is
refused before any work, with an error naming the key and what is allowed. :func:`load_spec`
reads the same thing from a TOML file (standard-library ``tomllib``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ValidationError, check_int, check_range
from ..forecasting.scenarios import RelapseRule
from ..io import config_hash, read_toml, to_jsonable
from ..model.calendar import ELIGIBILITY_DAY, POST_DAY, PRT_SESSION_DAYS
from ..model.cohorts import CohortSpec
from ..model.params import ModelParams
from ..model.protocols import BUILTIN, Protocol, Session
from ..model.protocols import get as get_protocol
from ..model.rng import check_seed

__all__ = [
    "Factor",
    "Design",
    "Arm",
    "Population",
    "Outcome",
    "SweepSpec",
    "load_spec",
    "target_bounds",
    "OUTCOME_KINDS",
    "DESIGN_KINDS",
    "PROTOCOL_TARGETS",
    "MAX_THERAPY_SESSIONS",
]

#: Designs a sweep can use.
DESIGN_KINDS = ("grid", "lhs", "sobol", "saltelli", "posterior")
#: Outcomes a sweep can record, and whether each is a value per requested day.
OUTCOME_KINDS = {
    "pain_mean": True,
    "pain_free": True,
    "mean": True,
    "relapse": True,
    "pain_free_time": False,
}
#: Protocol fields a factor can vary (besides uptake, attendance and dropout).
PROTOCOL_TARGETS = (
    "uptake",
    "attendance",
    "dropout",
    "therapy_sessions",
    "education_scale",
    "exposure_scale",
)
#: Most therapy sessions ``protocol.therapy_sessions`` can ask for.
MAX_THERAPY_SESSIONS = 16
_MAX_DOSE = 10.0  # a Session's largest dose (model/protocols.py)


def _numeric_fields(cls) -> dict[str, dict]:
    return {f.name: dict(f.metadata) for f in fields(cls) if "lo" in f.metadata}


def target_bounds(target: str, where: str = "target") -> dict[str, Any]:
    """The allowed values of a factor's target: ``lo``, ``hi``, ``lo_open``, ``hi_open``,
    ``integer`` (from the parameter's own declaration).

    Raises
    ------
    ValidationError
        The target is not ``params.<ModelParams field>``, ``cohort.<CohortSpec field>`` or
        ``protocol.<one of PROTOCOL_TARGETS>``; the message lists what is allowed.
    """
    group, _, name = str(target).partition(".")
    tables = {
        "params": _numeric_fields(ModelParams),
        "cohort": _numeric_fields(CohortSpec),
    }
    allowed = (
        f"params.<{'|'.join(tables['params'])}>, cohort.<{'|'.join(tables['cohort'])}> or "
        f"protocol.<{'|'.join(PROTOCOL_TARGETS)}>"
    )
    if group in tables and name in tables[group]:
        m = tables[group][name]
        return {k: m[k] for k in ("lo", "hi", "lo_open", "hi_open", "integer")}
    if group == "protocol" and name in PROTOCOL_TARGETS:
        if name in ("uptake", "attendance", "dropout"):
            m = _numeric_fields(Protocol)[name]
            return {k: m[k] for k in ("lo", "hi", "lo_open", "hi_open", "integer")}
        if name == "therapy_sessions":
            return dict(lo=0, hi=MAX_THERAPY_SESSIONS, lo_open=False, hi_open=False, integer=True)
        return dict(lo=0.0, hi=_MAX_DOSE, lo_open=False, hi_open=False, integer=False)
    raise ValidationError(where, target, allowed, "unknown parameter")


def _interval(b: dict) -> str:
    return f"{'(' if b['lo_open'] else '['}{b['lo']}, {b['hi']}{')' if b['hi_open'] else ']'}" + (
        " (integers)" if b["integer"] else ""
    )


def _inside(v: float, b: dict) -> bool:
    lo, hi = b["lo"], b["hi"]
    if lo is not None and (v < lo or (b["lo_open"] and v == lo)):
        return False
    return not (hi is not None and (v > hi or (b["hi_open"] and v == hi)))


@dataclass(frozen=True)
class Factor:
    """One quantity a sweep varies.

    Parameters
    ----------
    target : str
        ``params.<field>`` (:class:`~prt_sim.ModelParams`), ``cohort.<field>``
        (:class:`~prt_sim.CohortSpec`) or ``protocol.<field>``: ``uptake``, ``attendance``,
        ``dropout`` (probabilities), ``therapy_sessions`` (0-16: the physician education session
        then that many PRT therapy sessions twice weekly, replacing the arm's treatment
        sessions), ``education_scale`` / ``exposure_scale`` (multipliers of every session's
        dose; a session left with no dose is dropped).
    range : tuple of float, optional
        ``(lo, hi)`` with lo <= hi, inside the target's allowed range (Latin hypercube, Sobol
        and Saltelli designs).
    levels : tuple of float, optional
        The values of a grid design (at least one, each inside the allowed range).
    scale : {"linear", "log"}
        How a unit-cube coordinate maps to ``range`` (log needs lo > 0).
    name : str, optional
        Label of the factor in results (default: the field name).
    arms : tuple of str, optional
        Arms a protocol factor applies to (default: every arm).
    """

    target: str
    range: tuple[float, float] | None = None
    levels: tuple[float, ...] | None = None
    scale: str = "linear"
    name: str = ""
    arms: tuple[str, ...] | None = None
    where: str = field(default="factors[0]", compare=False, repr=False)

    def __post_init__(self) -> None:
        w = self.where
        b = target_bounds(self.target, f"{w}.target")
        if not self.name:
            object.__setattr__(self, "name", str(self.target).partition(".")[2])
        if self.scale not in ("linear", "log"):
            raise ValidationError(f"{w}.scale", self.scale, "'linear' or 'log'")
        if self.range is not None:
            r = tuple(self.range)
            if len(r) != 2:
                raise ValidationError(f"{w}.range", self.range, "a pair [lo, hi]")
            lo = check_range(f"{w}.range[0]", r[0])
            hi = check_range(f"{w}.range[1]", r[1])
            if lo > hi:
                raise ValidationError(f"{w}.range", [lo, hi], "lo <= hi")
            for v in (lo, hi):
                if not _inside(v, b):
                    raise ValidationError(
                        f"{w}.range",
                        [lo, hi],
                        f"a range inside {self.target}'s allowed {_interval(b)}",
                    )
            if self.scale == "log" and lo <= 0:
                raise ValidationError(f"{w}.range", [lo, hi], "lo > 0 on a log scale")
            object.__setattr__(self, "range", (lo, hi))
        if self.levels is not None:
            lv = tuple(self.levels)
            if not lv:
                raise ValidationError(f"{w}.levels", [], "at least one level")
            out = []
            for i, v in enumerate(lv):
                v = check_range(f"{w}.levels[{i}]", v)
                if not _inside(v, b) or (b["integer"] and not float(v).is_integer()):
                    raise ValidationError(
                        f"{w}.levels[{i}]", v, f"a value of {self.target} in {_interval(b)}"
                    )
                out.append(v)
            if len(set(out)) != len(out):
                raise ValidationError(f"{w}.levels", out, "distinct levels")
            object.__setattr__(self, "levels", tuple(out))
        if self.arms is not None:
            if not str(self.target).startswith("protocol."):
                raise ValidationError(f"{w}.arms", self.arms, "only on protocol.* factors")
            object.__setattr__(self, "arms", tuple(str(a) for a in self.arms))

    @property
    def integer(self) -> bool:
        """Whether the target takes whole numbers (continuous designs round to them)."""
        return bool(target_bounds(self.target)["integer"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "range": None if self.range is None else list(self.range),
            "levels": None if self.levels is None else list(self.levels),
            "scale": self.scale,
            "name": self.name,
            "arms": None if self.arms is None else list(self.arms),
        }


@dataclass(frozen=True)
class Design:
    """How the factors' values are chosen.

    Parameters
    ----------
    kind : {"grid", "lhs", "sobol", "saltelli", "posterior"}
        "grid": every combination of the factors' ``levels`` (``n`` unused); "lhs": ``n``
        Latin-hypercube points over the ranges; "sobol": the first ``n`` points of a scrambled
        Sobol sequence (n a power of two; doubling n keeps the first points); "saltelli": the
        A, B and AB matrices of Saltelli's scheme from ``n`` base rows (n a power of two,
        ``n * (d + 2)`` points, base row ``i`` at points ``i*(d+2) ... i*(d+2)+d+1``: what
        :func:`prt_sim.experiments.sensitivity.sobol_analysis` reads); "posterior": ``n`` draws
        of the fit in ``fit`` (its fitted parameters and cohort fields; evenly spaced over
        chains and draws).
    n : int
        Points (lhs, sobol, posterior) or base rows (saltelli), 1 to 2**24.
    seed : int, optional
        Seed of the design's scrambling (default: the sweep's root seed).
    fit : str, optional
        InferenceData .nc of :meth:`prt_sim.TrialModel.save` ("posterior" only).
    group : {"posterior", "prior"}
        Which draws of the fit ("posterior" only).
    """

    kind: str = "grid"
    n: int = 1
    seed: int | None = None
    fit: str | None = None
    group: str = "posterior"

    def __post_init__(self) -> None:
        if self.kind not in DESIGN_KINDS:
            raise ValidationError("design.kind", self.kind, f"one of {DESIGN_KINDS}")
        n = check_int("design.n", self.n, 1, 2**24)
        if self.kind in ("sobol", "saltelli") and n & (n - 1):
            lower = 1 << (n.bit_length() - 1)
            raise ValidationError(
                "design.n",
                n,
                f"a power of two for a {self.kind} design",
                f"try {lower} or {2 * lower}",
            )
        object.__setattr__(self, "n", n)
        if self.seed is not None:
            object.__setattr__(self, "seed", check_seed(self.seed, "design.seed"))
        if self.kind == "posterior":
            if not self.fit:
                raise ValidationError("design.fit", self.fit, "the path of a saved fit (.nc)")
            if self.group not in ("posterior", "prior"):
                raise ValidationError("design.group", self.group, "'posterior' or 'prior'")
        elif self.fit is not None:
            raise ValidationError("design.fit", self.fit, "only with kind = 'posterior'")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n": self.n,
            "seed": self.seed,
            "fit": self.fit,
            "group": self.group,
        }


def therapy_protocol(base: Protocol, k: int) -> Protocol:
    """``base`` with its treatment sessions replaced by the physician education session and
    ``k`` PRT therapy sessions twice weekly (days 4, 7, 11, 14, ... as in the trial, then on);
    boosters are kept. ``k = 0`` leaves the physician session alone."""
    days = list(PRT_SESSION_DAYS[1:])
    while len(days) < k:
        days.append(days[-2] + 7)
    sessions = [Session(day=PRT_SESSION_DAYS[0], education=1.0, label="physician education")]
    sessions += [
        Session(day=d, education=0.5, exposure=1.0, label=f"PRT {i + 1}")
        for i, d in enumerate(days[:k])
    ]
    boosters = [s for s in base.sessions if s.booster]
    return base.replace(sessions=tuple(sessions + boosters))


def scale_doses(base: Protocol, education: float = 1.0, exposure: float = 1.0) -> Protocol:
    """``base`` with every session's education and exposure dose multiplied (sessions left
    with no dose at all are dropped)."""
    out = []
    for s in base.sessions:
        e, x = s.education * education, s.exposure * exposure
        if e == 0 and x == 0 and s.placebo == 0:
            continue
        out.append(s.replace(education=e, exposure=x))
    return base.replace(sessions=tuple(out))


@dataclass(frozen=True)
class Arm:
    """One protocol every point of a sweep runs.

    Parameters
    ----------
    name : str
        Label (the ``arm`` coordinate).
    protocol : str
        A built-in protocol ("prt", "placebo", "usual_care", "none").
    sessions : tuple of (day, education, exposure), optional
        Replace the built-in's sessions with these.
    boosters : tuple of int
        Booster sessions (education + exposure, one session's dose each) on these study days,
        after the last treatment session.
    uptake, attendance, dropout : float, optional
        Override the protocol's (probabilities, 0-1).
    """

    name: str
    protocol: str = "prt"
    sessions: tuple[tuple[int, float, float], ...] | None = None
    boosters: tuple[int, ...] = ()
    uptake: float | None = None
    attendance: float | None = None
    dropout: float | None = None
    where: str = field(default="arms[0]", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"{self.where}.name", self.name, "a non-empty string")
        if self.protocol not in BUILTIN:
            raise ValidationError(
                f"{self.where}.protocol", self.protocol, f"one of {sorted(BUILTIN)}"
            )
        if self.sessions is not None:
            object.__setattr__(self, "sessions", tuple(tuple(s) for s in self.sessions))
        object.__setattr__(self, "boosters", tuple(self.boosters))
        try:
            self.build()
        except ValidationError as e:
            raise ValidationError(f"{self.where}.{e.field}", e.value, e.allowed) from None

    def build(self) -> Protocol:
        """The arm's :class:`~prt_sim.Protocol`."""
        p = get_protocol(self.protocol)
        if self.sessions is not None:
            ss = []
            for i, s in enumerate(self.sessions):
                if len(s) != 3:
                    raise ValidationError(f"sessions[{i}]", s, "[day, education, exposure]")
                ss.append(Session(day=s[0], education=s[1], exposure=s[2]))
            p = p.replace(sessions=tuple(ss))
        over = {
            k: getattr(self, k)
            for k in ("uptake", "attendance", "dropout")
            if getattr(self, k) is not None
        }
        if over:
            p = p.replace(**over)
        if self.boosters:
            p = p.with_boosters(self.boosters)
        return p.replace(name=self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "sessions": None if self.sessions is None else [list(s) for s in self.sessions],
            "boosters": list(self.boosters),
            "uptake": self.uptake,
            "attendance": self.attendance,
            "dropout": self.dropout,
        }


@dataclass(frozen=True)
class Population:
    """A population patients are drawn from: a name and the :class:`~prt_sim.CohortSpec`
    fields that differ from the trial's baseline."""

    name: str = "trial"
    overrides: tuple[tuple[str, float], ...] = ()
    where: str = field(default="populations[0]", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"{self.where}.name", self.name, "a non-empty string")
        over = dict(self.overrides)
        object.__setattr__(self, "overrides", tuple(sorted(over.items())))
        try:
            _ = self.spec
        except ValidationError as e:
            raise ValidationError(f"{self.where}.{e.field}", e.value, e.allowed) from None

    @property
    def spec(self) -> CohortSpec:
        """The population's :class:`~prt_sim.CohortSpec`."""
        return CohortSpec.from_dict(dict(self.overrides))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.overrides)}


@dataclass(frozen=True)
class Outcome:
    """One recorded outcome: a name, a kind, the days it is read on; shape and dtype follow.

    Parameters
    ----------
    name : str
        Variable name in the results.
    kind : str
        "pain_mean": mean reported weekly pain (0-10 points) at each day; "pain_free": share
        with reported pain <= 1 (0-1); "mean": mean of ``measure`` (an instrument: pain_avg,
        tsk11, pcs, odi, attrib_mb); "relapse": share of the patients pain-free at post (the
        sweep's relapse rule's risk set) whose relapse is confirmed by each day (monthly
        assessments after post); "pain_free_time": the share of monthly follow-up assessments
        after post at which patients were pain-free (0-1, a scalar).
    days : tuple of int
        Study days (day 30 is post; 395 is 12 months after post), inside the horizon.
    measure : str
        The instrument of a "mean" outcome.
    """

    name: str
    kind: str
    days: tuple[int, ...] = ()
    measure: str = "pain_avg"
    where: str = field(default="outcomes[0]", compare=False, repr=False)

    def __post_init__(self) -> None:
        from ..model.instruments import INSTRUMENTS

        w = self.where
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValidationError(f"{w}.name", self.name, "an identifier (letters, digits, _)")
        if self.kind not in OUTCOME_KINDS:
            raise ValidationError(f"{w}.kind", self.kind, f"one of {sorted(OUTCOME_KINDS)}")
        days = tuple(check_int(f"{w}.days[{i}]", d, 0, 36_500) for i, d in enumerate(self.days))
        if OUTCOME_KINDS[self.kind] and not days:
            raise ValidationError(f"{w}.days", [], f"at least one study day for '{self.kind}'")
        if not OUTCOME_KINDS[self.kind] and days:
            raise ValidationError(f"{w}.days", list(days), f"none: '{self.kind}' is a scalar")
        if self.kind == "relapse" and min(days) <= POST_DAY:
            raise ValidationError(f"{w}.days", list(days), f"days after post (day {POST_DAY})")
        if len(set(days)) != len(days):
            raise ValidationError(f"{w}.days", list(days), "distinct days")
        object.__setattr__(self, "days", days)
        if self.measure not in INSTRUMENTS:
            raise ValidationError(f"{w}.measure", self.measure, f"one of {sorted(INSTRUMENTS)}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one (point, replicate, arm, population) value."""
        return (len(self.days),) if OUTCOME_KINDS[self.kind] else ()

    @property
    def dtype(self) -> str:
        """Stored dtype (NaN where a task failed or a share has no patients)."""
        return "float64"

    @property
    def dims(self) -> tuple[str, ...]:
        """Dimensions beyond (point, replicate, arm, population)."""
        return (f"{self.name}_day",) if self.shape else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "days": list(self.days),
            "measure": self.measure,
        }


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep: what varies, how, what runs at each point, and what is recorded.

    Parameters
    ----------
    factors : tuple of Factor
        What varies (none only for a posterior design).
    design : Design
        How the points are chosen.
    outcomes : tuple of Outcome
        What is recorded (at least one; unique names).
    arms : tuple of Arm
        Protocols run at every point (default: PRT).
    populations : tuple of Population
        Populations run at every point (default: the trial's baseline).
    name : str
        Label.
    seed : int
        Root seed, 0 to 2**63 - 1: task (point, replicate) draws its cohort and simulation seeds
        from ``SeedSequence(seed, spawn_key=(point, replicate))``.
    replicates : int
        Independent replicates per point, 1 to 10**6.
    n_patients : int
        Patients per (task, arm, population), 1 to 10**7.
    horizon_days : int
        Last simulated study day, 31 to 36500 (day 395 is 12 months after post).
    response : float
        Probability an assessment is observed, 0-1.
    params : ModelParams
        Model parameters the factors start from.
    relapse : RelapseRule
        When a patient pain-free at post has relapsed.
    common_random_numbers : bool
        True: every point uses the seeds of point 0 (same patients and random numbers at every
        point, per replicate), which removes sampling noise from differences between points.
    """

    factors: tuple[Factor, ...] = ()
    design: Design = field(default_factory=Design)
    outcomes: tuple[Outcome, ...] = ()
    arms: tuple[Arm, ...] = ()
    populations: tuple[Population, ...] = ()
    name: str = "sweep"
    seed: int = 0
    replicates: int = 1
    n_patients: int = 200
    horizon_days: int = 400
    response: float = 1.0
    params: ModelParams = field(default_factory=ModelParams)
    relapse: RelapseRule = field(default_factory=RelapseRule)
    common_random_numbers: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed, "seed"))
        object.__setattr__(self, "replicates", check_int("replicates", self.replicates, 1, 10**6))
        object.__setattr__(self, "n_patients", check_int("n_patients", self.n_patients, 1, 10**7))
        h = check_int("horizon_days", self.horizon_days, POST_DAY + 1, 36_500)
        object.__setattr__(self, "horizon_days", h)
        object.__setattr__(self, "response", check_range("response", self.response, 0.0, 1.0))
        if not isinstance(self.params, ModelParams):
            raise ValidationError("params", self.params, "a prt_sim.ModelParams")
        if not isinstance(self.relapse, RelapseRule):
            raise ValidationError("relapse", self.relapse, "a RelapseRule")
        if not isinstance(self.design, Design):
            raise ValidationError("design", self.design, "a prt_sim.experiments.Design")
        if not isinstance(self.common_random_numbers, bool):
            raise ValidationError("common_random_numbers", self.common_random_numbers, "a bool")
        arms = tuple(self.arms) or (Arm(name="prt", protocol="prt"),)
        pops = tuple(self.populations) or (Population(),)
        for key, items, cls in (
            ("factors", self.factors, Factor),
            ("arms", arms, Arm),
            ("populations", pops, Population),
            ("outcomes", self.outcomes, Outcome),
        ):
            for i, x in enumerate(items):
                if not isinstance(x, cls):
                    raise ValidationError(f"{key}[{i}]", x, f"a {cls.__name__}")
            names = [x.name for x in items]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValidationError(f"{key}.name", dup, "unique names")
        object.__setattr__(self, "factors", tuple(self.factors))
        object.__setattr__(self, "arms", arms)
        object.__setattr__(self, "populations", pops)
        object.__setattr__(self, "outcomes", tuple(self.outcomes))
        if not self.outcomes:
            raise ValidationError("outcomes", [], "at least one outcome")
        self._check_design()
        arm_names = {a.name for a in arms}
        for i, f in enumerate(self.factors):
            for a in f.arms or ():
                if a not in arm_names:
                    raise ValidationError(f"factors[{i}].arms", a, f"one of {sorted(arm_names)}")
            if f.name in ("point", "replicate", "arm", "population") or f.name in {
                o.name for o in self.outcomes
            }:
                raise ValidationError(
                    f"factors[{i}].name", f.name, "a name no outcome or dimension uses"
                )
            if f.target in ("protocol.education_scale", "protocol.exposure_scale"):
                self._check_dose_scale(i, f)
        for i, o in enumerate(self.outcomes):
            late = [d for d in o.days if d > self.horizon_days]
            if late:
                raise ValidationError(
                    f"outcomes[{i}].days", late, f"days up to horizon_days ({self.horizon_days})"
                )

    def _check_design(self) -> None:
        d, kind = self.design, self.design.kind
        if kind == "posterior":
            if self.factors:
                raise ValidationError(
                    "factors",
                    [f.target for f in self.factors],
                    "none with a posterior design (the fit's draws are the points)",
                )
            return
        if not self.factors:
            raise ValidationError(
                "factors", [], f"at least one factor for a {kind} design (the design is empty)"
            )
        for i, f in enumerate(self.factors):
            if kind == "grid" and f.levels is None:
                raise ValidationError(f"factors[{i}].levels", None, "a list of levels (grid)")
            if kind != "grid" and f.range is None:
                raise ValidationError(f"factors[{i}].range", None, f"[lo, hi] ({kind} design)")
        if kind == "saltelli" and len(self.factors) < 2:
            raise ValidationError("factors", len(self.factors), "at least two (saltelli)")
        del d

    def _check_dose_scale(self, i: int, f: Factor) -> None:
        hi = max(f.range[1] if f.range else 0.0, max(f.levels) if f.levels else 0.0)
        key = "education" if f.target.endswith("education_scale") else "exposure"
        for a in self.arms:
            if f.arms is not None and a.name not in f.arms:
                continue
            top = max((getattr(s, key) for s in a.build().sessions), default=0.0)
            if top * hi > _MAX_DOSE:
                raise ValidationError(
                    f"factors[{i}].range",
                    hi,
                    f"at most {_MAX_DOSE / top:g} for arm {a.name!r} (its largest {key} dose "
                    f"{top:g} times the scale must stay <= {_MAX_DOSE:g})",
                )

    # -- derived --------------------------------------------------------------------------------
    @property
    def post_day(self) -> int:
        """The post-treatment visit: relapse's risk set is read there."""
        return POST_DAY

    @property
    def visit_days(self) -> tuple[int, ...]:
        """Every assessment day simulated: eligibility, T1, post, monthly after post to the
        horizon, and each outcome's days."""
        from ..model.calendar import month_day

        days = {ELIGIBILITY_DAY, 0, POST_DAY}
        m = 1
        while month_day(m) <= self.horizon_days:
            days.add(month_day(m))
            m += 1
        for o in self.outcomes:
            days.update(o.days)
        return tuple(sorted(days))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (what :meth:`from_dict` and TOML take)."""
        return to_jsonable(
            {
                "name": self.name,
                "seed": self.seed,
                "replicates": self.replicates,
                "n_patients": self.n_patients,
                "horizon_days": self.horizon_days,
                "response": self.response,
                "common_random_numbers": self.common_random_numbers,
                "params": self.params.to_dict(),
                "relapse": self.relapse.to_dict(),
                "design": self.design.to_dict(),
                "factors": [f.to_dict() for f in self.factors],
                "arms": [a.to_dict() for a in self.arms],
                "populations": [p.to_dict() for p in self.populations],
                "outcomes": [o.to_dict() for o in self.outcomes],
            }
        )

    def identity(self) -> dict[str, Any]:
        """What must match for stored results to be reused: everything but the number of
        points (``design.n``) and of replicates, which a sweep may grow."""
        d = self.to_dict()
        d.pop("replicates")
        d["design"].pop("n")
        return d

    @property
    def hash(self) -> str:
        """Hash of :meth:`identity` (16 hex digits)."""
        return config_hash(self.identity())

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spec") -> SweepSpec:
        """Build from plain data (a parsed TOML file), naming any unknown or bad key."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ValidationError(k, d[k], f"one of the keys {sorted(known)}", "unknown key")
        kw: dict[str, Any] = {}
        for k in (
            "name",
            "seed",
            "replicates",
            "n_patients",
            "horizon_days",
            "response",
            "common_random_numbers",
        ):
            if k in d:
                kw[k] = d[k]
        if "params" in d:
            kw["params"] = _table(ModelParams, d["params"], "params")
        if "relapse" in d:
            kw["relapse"] = _table(RelapseRule, d["relapse"], "relapse")
        if "design" in d:
            kw["design"] = _build(Design, d["design"], "design")
        kw["factors"] = tuple(_build(Factor, x, f"factors[{i}]") for i, x in _items(d, "factors"))
        kw["arms"] = tuple(_build(Arm, x, f"arms[{i}]") for i, x in _items(d, "arms"))
        kw["populations"] = tuple(
            Population(
                name=x.get("name", "trial"),
                overrides=tuple((k, v) for k, v in x.items() if k != "name"),
                where=f"populations[{i}]",
            )
            for i, x in _items(d, "populations")
        )
        kw["outcomes"] = tuple(
            _build(Outcome, x, f"outcomes[{i}]") for i, x in _items(d, "outcomes")
        )
        return cls(**kw)

    def to_json(self) -> str:
        """Canonical JSON (what workers are sent)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _items(d: dict, key: str) -> list[tuple[int, dict]]:
    v = d.get(key, [])
    if not isinstance(v, list):
        raise ValidationError(key, v, "a list of tables ([[" + key + "]] in TOML)")
    for i, x in enumerate(v):
        if not isinstance(x, dict):
            raise ValidationError(f"{key}[{i}]", x, "a table")
    return list(enumerate(v))


def _build(cls, x: Any, where: str):
    if not isinstance(x, dict):
        raise ValidationError(where, x, "a table")
    known = {f.name for f in fields(cls)} - {"where"}
    for k in x:
        if k not in known:
            raise ValidationError(f"{where}.{k}", x[k], f"one of the keys {sorted(known)}")
    kw = dict(x)
    for k in ("range", "levels", "arms", "days", "boosters"):
        if k in kw and isinstance(kw[k], list):
            kw[k] = tuple(kw[k])
    return cls(**kw, where=where) if "where" in {f.name for f in fields(cls)} else cls(**kw)


def _table(cls, x: Any, where: str):
    if not isinstance(x, dict):
        raise ValidationError(where, x, "a table")
    x = {k: (math.inf if v == "inf" else v) for k, v in x.items()}
    try:
        return cls.from_dict(x)
    except ValidationError as e:
        name = e.field.split(".", 1)[-1]
        raise ValidationError(f"{where}.{name}", e.value, e.allowed) from None


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read a :class:`SweepSpec` from a TOML file.

    Raises
    ------
    DataFormatError
        The file is missing or not valid TOML (names the file).
    ValidationError
        A key is unknown or a value is not allowed (names the key and what is allowed).
    """
    data = read_toml(path, relative=(("design", "fit"),))
    return SweepSpec.from_dict(data, source=str(path))
