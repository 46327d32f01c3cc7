"""What happens after randomization in a forecast: scenarios (boosters, maintenance, stress, no treatment, treatment taken up after the trial) and the relapse rule.

A :class:`Scenario` is applied on top of each arm's protocol (:meth:`Scenario.apply`); the
built-in ones are in :data:`SCENARIOS`. Treatment that patients take up on their own after the
trial is a :class:`~prt_sim.forecasting.uptake.Uptake` attached to a scenario. A
:class:`RelapseRule` defines when a patient who was pain-free at post has relapsed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError, check_range
from ..model.calendar import POST_DAY, month_day
from ..model.protocols import NoTreatment, Protocol, SelfGuided
from ..model.spec import Validated, spec
from ..model.timeline import StressPeriod
from .uptake import SelfDirectedPRT, Uptake

__all__ = ["Scenario", "RelapseRule", "SCENARIOS", "DEFAULT_SCENARIOS", "resolve_scenarios"]


@dataclass(frozen=True)
class Scenario(Validated):
    """What happens after randomization, applied on top of each arm's protocol.

    Every patient of an arm gets the same scenario, except for treatment taken up after the
    trial (``uptake``): each patient takes it up, or not, by a draw of their own.

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
    uptake : Uptake, optional
        Treatment taken up after the trial (:class:`~prt_sim.forecasting.uptake.Uptake`): the
        share of each arm's patients who start a course (0-1), the window of months after post
        in which they start it (within 0-600 months and the forecast's horizon), and what it
        delivers (self-directed PRT material or delivered PRT sessions). None (default): nobody.
        The Dataset's ``uptake_share`` gives the share who did, per draw.
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
    uptake: Uptake | None = None

    def _check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("Scenario.name", self.name, "a non-empty string")
        months = tuple(self.booster_months)
        for i, m in enumerate(months):
            check_range(f"Scenario.booster_months[{i}]", m, 0.0, 600.0)
        days = [month_day(m) for m in months]
        if len(set(days)) != len(days):
            raise ValidationError(
                "Scenario.booster_months", months, "distinct months (at most one booster a day)"
            )
        object.__setattr__(self, "booster_months", tuple(float(m) for m in months))
        for i, sp in enumerate(self.stress):
            if not isinstance(sp, StressPeriod):
                raise ValidationError(f"Scenario.stress[{i}]", sp, "a prt_sim.StressPeriod")
        object.__setattr__(self, "stress", tuple(self.stress))
        if self.uptake is not None and not isinstance(self.uptake, Uptake):
            raise ValidationError(
                "Scenario.uptake", self.uptake, "None or a prt_sim.forecasting.Uptake"
            )
        if self.booster_months and self.booster_education == 0 and self.booster_exposure == 0:
            raise ValidationError(
                "Scenario.booster_education/exposure", 0.0, "a dose > 0 when boosters are given"
            )

    def apply(self, protocol: Protocol, horizon_days: int) -> tuple[Protocol, tuple]:
        """The protocol and stress periods this scenario gives an arm."""
        p = protocol if self.treatment else NoTreatment().replace(uptake=protocol.uptake)
        if self.booster_months:
            days = [month_day(m) for m in self.booster_months]
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
                        start_day=month_day(self.maintenance_start_month),
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
        d["uptake"] = None if self.uptake is None else self.uptake.to_dict()
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
    # An assumption, not a finding (docs/forecasting.md, "After the trial: treatment uptake"):
    # no source in the project gives how many control patients sought PRT after the trial.
    "long_term_follow_up": Scenario(
        name="long_term_follow_up",
        uptake=Uptake(
            share={"placebo": 0.2, "usual_care": 0.2},
            start_month=12,
            window_months=24,
            course=SelfDirectedPRT(),
        ),
    ),
}
#: What :func:`forecast` runs by default.
DEFAULT_SCENARIOS = ("as_randomized", "boosters", "no_treatment")


def resolve_scenarios(scenarios) -> list[Scenario]:
    """Scenarios from names (:data:`SCENARIOS`) or :class:`Scenario` objects, unique names."""
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
