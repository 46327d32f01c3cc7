"""What an in-silico trial design is given: validated objects for its arms, sizes, visits, missing data, end point, analysis, parameters and sample-size target, read from TOML or built in Python.

A :class:`PowerSpec` is a whole power (or assurance) analysis: the design's generating model
(two arms as protocols, the trial population, the model parameters: fixed, or one posterior or
prior draw per simulated trial), the trial (patients per arm, assessment days, the probability a
follow-up assessment is missing), the primary end point (:class:`Endpoint`), the analysis
(:class:`Analysis`) and, optionally, a target to solve the sample size for (:class:`Solve`).
Every check runs on construction, so a bad spec is refused before any work, with an error naming
the key, the value and what is allowed; :func:`load_power_spec` reads the same thing from TOML.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import ValidationError, check_int, check_range
from ..io import config_hash, read_toml, to_jsonable
from ..model.cohorts import CohortSpec
from ..model.instruments import INSTRUMENTS, PAIN_FREE_MAX
from ..model.params import ModelParams
from ..model.rng import check_seed
from .analysis import ALTERNATIVES, ANALYSES
from .spec import Arm

__all__ = [
    "Endpoint",
    "Analysis",
    "Parameters",
    "Solve",
    "PowerSpec",
    "load_power_spec",
    "PARAMETER_SOURCES",
    "CURVES",
    "MAX_N_PER_ARM",
]

#: Where a design's model parameters come from.
PARAMETER_SOURCES = ("defaults", "fit", "prior")
#: Curves :class:`Solve` fits through the estimates at each n.
CURVES = ("auto", "probit", "isotonic")
#: Most patients per arm a design may ask for.
MAX_N_PER_ARM = 100_000
_MAX_DAY = 36_500


@dataclass(frozen=True)
class Endpoint:
    """The primary end point: an instrument read at one assessment day.

    Parameters
    ----------
    measure : str
        Instrument: "pain_avg" (weekly pain, 0-10), "tsk11" (11-44), "pcs" (0-52), "odi"
        (0-100) or "attrib_mb" (0-3).
    day : int
        Study day of the end point (one of the design's visits; 30 is post-treatment, 395 is 12
        months after post).
    """

    measure: str = "pain_avg"
    day: int = 395

    def __post_init__(self) -> None:
        if self.measure not in INSTRUMENTS:
            raise ValidationError("endpoint.measure", self.measure, f"one of {list(INSTRUMENTS)}")
        object.__setattr__(self, "day", check_int("endpoint.day", self.day, 1, _MAX_DAY))

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.measure, "day": self.day}


@dataclass(frozen=True)
class Analysis:
    """How each simulated trial is analysed (:mod:`prt_sim.experiments.analysis`).

    Parameters
    ----------
    kind : {"welch", "student", "ancova", "proportions", "fisher"}
        t-test (Welch's or Student's) on change from baseline; ANCOVA of the follow-up adjusting
        for baseline; or the share of responders (follow-up <= ``responder_max``) compared by the
        pooled two-proportion z-test or Fisher's exact test.
    alpha : float
        Significance level, in (0, 0.5].
    alternative : {"two-sided", "less", "greater"}
        About the estimate, treatment minus control ("less": the treatment lowers the measure
        more; "greater": more responders under treatment).
    responder_max : float
        Responder threshold in the measure's units (default 1: pain 0-1, "pain-free or nearly
        so").
    """

    kind: str = "welch"
    alpha: float = 0.05
    alternative: str = "two-sided"
    responder_max: float = PAIN_FREE_MAX

    def __post_init__(self) -> None:
        if self.kind not in ANALYSES:
            raise ValidationError("analysis.kind", self.kind, f"one of {list(ANALYSES)}")
        a = check_range("analysis.alpha", self.alpha, 0.0, 0.5, lo_open=True)
        object.__setattr__(self, "alpha", a)
        if self.alternative not in ALTERNATIVES:
            raise ValidationError(
                "analysis.alternative", self.alternative, f"one of {list(ALTERNATIVES)}"
            )
        r = check_range("analysis.responder_max", self.responder_max, 0.0, 100.0)
        object.__setattr__(self, "responder_max", r)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "alpha": self.alpha,
            "alternative": self.alternative,
            "responder_max": self.responder_max,
        }


@dataclass(frozen=True)
class Parameters:
    """Where the generating model's parameters come from.

    Parameters
    ----------
    source : {"defaults", "fit", "prior"}
        "defaults": the model's default parameters (:class:`~prt_sim.ModelParams`, with the
        spec's ``[params]`` and ``[population]`` overrides) in every trial: power. "fit": the
        draws of a saved fit (``fit``, an InferenceData .nc of :meth:`prt_sim.TrialModel.save`);
        "prior": draws from the prior of the model of the published Ashar 2022 figures
        (:meth:`prt_sim.TrialModel.sample_prior`, seeded by the spec's seed).
    fit : str, optional
        The saved fit ("fit" only).
    group : {"posterior", "prior"}
        Which group of the saved fit ("fit" only).
    at : {"draws", "mean"}
        "draws" (default): trial ``t`` runs under draw ``t`` (evenly spaced over the fit's chains
        and draws; cycled when there are more trials than draws): assurance. "mean": every trial
        at the draws' mean of each fitted quantity: power at the posterior (or prior) mean.
    self_guided_scale : float
        Multiplier of self-guided doses (the fitted engagement), 0-100, "defaults" only (draws
        carry their own).
    """

    source: str = "defaults"
    fit: str | None = None
    group: str = "posterior"
    at: str = "draws"
    self_guided_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.source not in PARAMETER_SOURCES:
            raise ValidationError(
                "parameters.source", self.source, f"one of {list(PARAMETER_SOURCES)}"
            )
        if self.source == "fit" and not self.fit:
            raise ValidationError("parameters.fit", self.fit, "the path of a saved fit (.nc)")
        if self.source != "fit" and self.fit is not None:
            raise ValidationError("parameters.fit", self.fit, "only with source = 'fit'")
        if self.group not in ("posterior", "prior"):
            raise ValidationError("parameters.group", self.group, "'posterior' or 'prior'")
        if self.at not in ("draws", "mean"):
            raise ValidationError("parameters.at", self.at, "'draws' or 'mean'")
        s = check_range("parameters.self_guided_scale", self.self_guided_scale, 0.0, 100.0)
        object.__setattr__(self, "self_guided_scale", s)
        if self.source != "defaults" and s != 1.0:
            raise ValidationError(
                "parameters.self_guided_scale", s, "1.0 unless source = 'defaults'"
            )

    @property
    def quantity(self) -> str:
        """ "power" (fixed parameters) or "assurance" (one draw per trial)."""
        return "power" if self.source == "defaults" or self.at == "mean" else "assurance"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fit": self.fit,
            "group": self.group,
            "at": self.at,
            "self_guided_scale": self.self_guided_scale,
        }


@dataclass(frozen=True)
class Solve:
    """A target to solve the sample size for: the smallest n per arm whose power (or assurance)
    reaches ``target``.

    Parameters
    ----------
    target : float
        Target power or assurance, in (0, 1).
    n_range : (int, int)
        Smallest and largest n per arm searched (each 2 to 100,000, lo < hi).
    grid : int
        Sizes evaluated over ``n_range`` (geometrically spaced, rounded), 3 to 50.
    curve : {"auto", "probit", "isotonic"}
        Curve fitted through the estimates: "probit" (``Phi^-1(power) = a + b sqrt(n)``, binomial
        maximum likelihood: what the power of a t-test follows), "isotonic" (monotone
        pool-adjacent-violators fit, interpolated on the probit scale: for assurance, which
        levels off below 1); "auto": probit for power, isotonic for assurance.
    bootstrap : int
        Bootstrap resamples of the trials for n's Monte Carlo uncertainty, 0 (none) to 10,000.
    """

    target: float = 0.8
    n_range: tuple[int, int] = (10, 400)
    grid: int = 8
    curve: str = "auto"
    bootstrap: int = 200

    def __post_init__(self) -> None:
        t = check_range("solve.target", self.target, 0.0, 1.0, lo_open=True, hi_open=True)
        object.__setattr__(self, "target", t)
        r = tuple(self.n_range)
        if len(r) != 2:
            raise ValidationError("solve.n_range", self.n_range, "a pair [lo, hi]")
        lo = check_int("solve.n_range[0]", r[0], 2, MAX_N_PER_ARM)
        hi = check_int("solve.n_range[1]", r[1], 2, MAX_N_PER_ARM)
        if lo >= hi:
            raise ValidationError("solve.n_range", [lo, hi], "lo < hi")
        object.__setattr__(self, "n_range", (lo, hi))
        object.__setattr__(self, "grid", check_int("solve.grid", self.grid, 3, 50))
        if self.curve not in CURVES:
            raise ValidationError("solve.curve", self.curve, f"one of {list(CURVES)}")
        object.__setattr__(
            self, "bootstrap", check_int("solve.bootstrap", self.bootstrap, 0, 10_000)
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        """The n per arm evaluated: ``grid`` sizes spaced geometrically over ``n_range``."""
        lo, hi = self.n_range
        return tuple(sorted({int(round(v)) for v in np.geomspace(lo, hi, self.grid)}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "n_range": list(self.n_range),
            "grid": self.grid,
            "curve": self.curve,
            "bootstrap": self.bootstrap,
        }


def _overrides(cls, x: Any, where: str) -> tuple[tuple[str, float], ...]:
    """Validated overrides of a parameter object's fields (the object is built to check)."""
    if isinstance(x, cls):
        base = cls().to_dict()
        x = {k: v for k, v in x.to_dict().items() if v != base[k]}
    if not isinstance(x, dict):
        x = dict(x)
    known = {f.name for f in fields(cls)}
    for k in x:
        if k not in known:
            raise ValidationError(f"{where}.{k}", x[k], f"one of the keys {sorted(known)}")
    x = {k: (math.inf if v == "inf" else v) for k, v in x.items()}
    try:
        cls.from_dict(dict(x))
    except ValidationError as e:
        name = e.field.split(".", 1)[-1]
        raise ValidationError(f"{where}.{name}", e.value, e.allowed) from None
    return tuple(sorted(x.items()))


@dataclass(frozen=True)
class PowerSpec:
    """A whole in-silico trial design: generating model, trial, end point, analysis, target.

    Parameters
    ----------
    arms : tuple of Arm
        Protocols (:class:`~prt_sim.experiments.Arm`); ``treatment`` and ``control`` name two of
        them (the others are not simulated).
    treatment, control : str
        The compared arms (estimates are treatment minus control).
    n_per_arm : tuple of int
        Patients randomized per arm to evaluate, each 2 to 100,000 (with :class:`Solve`, its
        grid is added).
    visits : tuple of int
        Assessment days after baseline (study day 0, T1, always observed), 1 to 36,500; the end
        point's day must be one of them (default: post, 1, 2, 3, 6 and 12 months after post).
    missing : float
        Probability that a follow-up assessment is missing (completely at random), in [0, 1).
    endpoint : Endpoint
        The primary end point.
    analysis : Analysis
        The test.
    parameters : Parameters
        Fixed parameters (power) or draws (assurance).
    params : tuple of (str, float)
        Overrides of :class:`~prt_sim.ModelParams` fields (TOML ``[params]``); with draws, the
        fitted quantities of each draw override these.
    population : tuple of (str, float)
        Overrides of :class:`~prt_sim.CohortSpec` fields (TOML ``[population]``): who is
        randomized (default: the Ashar 2022 baseline); with draws, fitted cohort fields
        override these.
    solve : Solve, optional
        Solve the n per arm reaching a target.
    trials : int
        Simulated trials per n, 10 to 10**6 (default 1,000: a Monte Carlo SE of at most 0.016).
    seed : int
        Root seed, 0 to 2**63 - 1: trial ``t`` draws its cohort and simulation seeds from
        ``SeedSequence(seed, spawn_key=(t, 0))``.
    name : str
        Label.
    """

    arms: tuple[Arm, ...] = ()
    treatment: str = "prt"
    control: str = "usual_care"
    n_per_arm: tuple[int, ...] = ()
    visits: tuple[int, ...] = (30, 61, 91, 121, 213, 395)
    missing: float = 0.0
    endpoint: Endpoint = field(default_factory=Endpoint)
    analysis: Analysis = field(default_factory=Analysis)
    parameters: Parameters = field(default_factory=Parameters)
    params: tuple[tuple[str, float], ...] = ()
    population: tuple[tuple[str, float], ...] = ()
    solve: Solve | None = None
    trials: int = 1000
    seed: int = 0
    name: str = "power"

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", check_seed(self.seed, "seed"))
        object.__setattr__(self, "trials", check_int("trials", self.trials, 10, 10**6))
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("name", self.name, "a non-empty string")
        for key, v, cls in (
            ("endpoint", self.endpoint, Endpoint),
            ("analysis", self.analysis, Analysis),
            ("parameters", self.parameters, Parameters),
        ):
            if not isinstance(v, cls):
                raise ValidationError(key, v, f"a prt_sim.experiments.{cls.__name__}")
        if self.solve is not None and not isinstance(self.solve, Solve):
            raise ValidationError("solve", self.solve, "a prt_sim.experiments.Solve or None")
        arms = tuple(self.arms) or (
            Arm(name="prt", protocol="prt", where="arms[0]"),
            Arm(name="usual_care", protocol="usual_care", where="arms[1]"),
        )
        for i, a in enumerate(arms):
            if not isinstance(a, Arm):
                raise ValidationError(f"arms[{i}]", a, "a prt_sim.experiments.Arm")
        names = [a.name for a in arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValidationError("arms.name", dup, "unique names")
        object.__setattr__(self, "arms", arms)
        for key in ("treatment", "control"):
            v = getattr(self, key)
            if v not in names:
                raise ValidationError(key, v, f"one of the arms {names}", "unknown arm")
        if self.treatment == self.control:
            raise ValidationError("control", self.control, "an arm other than the treatment")
        ns = self.n_per_arm
        ns = (ns,) if isinstance(ns, (int, np.integer)) else tuple(ns)
        ns = [check_int(f"n_per_arm[{i}]", n, 2, MAX_N_PER_ARM) for i, n in enumerate(ns)]
        if self.solve is not None:
            ns += list(self.solve.sizes)
        if not ns:
            raise ValidationError("n_per_arm", [], "at least one size (or a [solve] table)")
        object.__setattr__(self, "n_per_arm", tuple(sorted(set(ns))))
        vs = tuple(check_int(f"visits[{i}]", d, 1, _MAX_DAY) for i, d in enumerate(self.visits))
        if not vs:
            raise ValidationError("visits", [], "at least one assessment day after baseline")
        if len(set(vs)) != len(vs):
            raise ValidationError("visits", list(vs), "distinct days")
        object.__setattr__(self, "visits", tuple(sorted(vs)))
        if self.endpoint.day not in vs:
            raise ValidationError(
                "endpoint.day", self.endpoint.day, f"one of the visits {sorted(vs)}", "unknown day"
            )
        m = check_range("missing", self.missing, 0.0, 1.0, hi_open=True)
        object.__setattr__(self, "missing", m)
        object.__setattr__(self, "params", _overrides(ModelParams, self.params, "params"))
        object.__setattr__(
            self, "population", _overrides(CohortSpec, self.population, "population")
        )

    # -- derived --------------------------------------------------------------------------------
    @property
    def quantity(self) -> str:
        """What the rejection rate estimates: "power" or "assurance"."""
        return self.parameters.quantity

    @property
    def horizon_days(self) -> int:
        """Last simulated study day: the last visit."""
        return max(self.visits)

    @property
    def model_params(self) -> ModelParams:
        """:class:`~prt_sim.ModelParams` with the spec's overrides."""
        return ModelParams().replace(**dict(self.params))

    @property
    def cohort_spec(self) -> CohortSpec:
        """:class:`~prt_sim.CohortSpec` with the spec's population overrides."""
        return CohortSpec().replace(**dict(self.population))

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        return next(a for a in self.arms if a.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (what :meth:`from_dict` and TOML take)."""
        return to_jsonable(
            {
                "name": self.name,
                "seed": self.seed,
                "trials": self.trials,
                "treatment": self.treatment,
                "control": self.control,
                "n_per_arm": list(self.n_per_arm),
                "visits": list(self.visits),
                "missing": self.missing,
                "endpoint": self.endpoint.to_dict(),
                "analysis": self.analysis.to_dict(),
                "parameters": self.parameters.to_dict(),
                "params": dict(self.params),
                "population": dict(self.population),
                "solve": None if self.solve is None else self.solve.to_dict(),
                "arms": [a.to_dict() for a in self.arms],
            }
        )

    @property
    def hash(self) -> str:
        """Hash of :meth:`to_dict` (16 hex digits)."""
        return config_hash(self.to_dict())

    def replace(self, **changes: Any) -> PowerSpec:
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)

    def to_json(self) -> str:
        """Canonical JSON (what workers are sent)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PowerSpec:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PowerSpec:
        """Build from plain data (a parsed TOML file), naming any unknown or bad key."""
        if not isinstance(d, dict):
            raise ValidationError("spec", d, "a table")
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise ValidationError(k, d[k], f"one of the keys {sorted(known)}", "unknown key")
        kw: dict[str, Any] = {
            k: d[k] for k in ("name", "seed", "trials", "treatment", "control", "missing") if k in d
        }
        for k in ("n_per_arm", "visits"):
            if k in d:
                v = d[k]
                kw[k] = tuple(v) if isinstance(v, list) else v
        for k, cls_ in (
            ("endpoint", Endpoint),
            ("analysis", Analysis),
            ("parameters", Parameters),
        ):
            if k in d:
                kw[k] = _table(cls_, d[k], k)
        if d.get("solve") is not None:
            kw["solve"] = _table(Solve, d["solve"], "solve")
        for k in ("params", "population"):
            if k in d:
                if not isinstance(d[k], dict):
                    raise ValidationError(k, d[k], "a table of field = value")
                kw[k] = tuple(d[k].items())
        if "arms" in d:
            arms = d["arms"]
            if not isinstance(arms, list):
                raise ValidationError("arms", arms, "a list of tables ([[arms]] in TOML)")
            kw["arms"] = tuple(_arm(x, i) for i, x in enumerate(arms))
        return cls(**kw)


def _table(cls, x: Any, where: str):
    if not isinstance(x, dict):
        raise ValidationError(where, x, "a table")
    known = {f.name for f in fields(cls)}
    for k in x:
        if k not in known:
            raise ValidationError(f"{where}.{k}", x[k], f"one of the keys {sorted(known)}")
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in x.items()}
    return cls(**kw)


def _arm(x: Any, i: int) -> Arm:
    where = f"arms[{i}]"
    if not isinstance(x, dict):
        raise ValidationError(where, x, "a table")
    known = {f.name for f in fields(Arm)} - {"where"}
    for k in x:
        if k not in known:
            raise ValidationError(f"{where}.{k}", x[k], f"one of the keys {sorted(known)}")
    kw = dict(x)
    if isinstance(kw.get("sessions"), list):
        kw["sessions"] = tuple(tuple(s) if isinstance(s, list) else s for s in kw["sessions"])
    if isinstance(kw.get("boosters"), list):
        kw["boosters"] = tuple(kw["boosters"])
    return Arm(**kw, where=where)


def load_power_spec(path: str | os.PathLike) -> PowerSpec:
    """Read a :class:`PowerSpec` from a TOML file (a relative ``parameters.fit`` is taken
    relative to the file).

    Raises
    ------
    DataFormatError
        The file is missing or not valid TOML (names the file).
    ValidationError
        A key is unknown or a value is not allowed (names the key and what is allowed).
    """
    data = read_toml(path, relative=(("parameters", "fit"),))
    return PowerSpec.from_dict(data)
