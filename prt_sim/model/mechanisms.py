"""Competing memory mechanisms of PRT's durability: named settings of the one daily update.

Every mechanism is the same :func:`~prt_sim.model.dynamics.daily_step` with some of its terms
switched on or off by parameter values, so the simulator, the skeleton and its adjoint, the
PyMC models, the forecasts and the posterior predictive checks all take a mechanism by taking
its parameters (:meth:`Mechanism.params`). The mechanisms (equations in ``docs/model.md``):

- ``inhibition``: a labile safety memory inhibits the damage schema; it fades with avoidance
  (``safety_decay``) and is knocked back by flares read as damage (``reinstatement``).
- ``consolidation``: practised safety memory moves into a stable trace
  (``consolidation_rate``) that forgets ``stable_decay_ratio`` times as fast: two time scales,
  so forgetting slows as time passes.
- ``schema_update``: treatment changes the damage schema itself: no forgetting without
  practice (``safety_decay`` = 0); only new threat evidence (flares read as damage) pulls
  the belief back.
- ``fear_mediated``: threat, and so pain, is read from fear of movement
  (``fear_threat_weight``) rather than from the belief directly: the chain the trial's
  mediation analysis tests.
- ``natural_course``: untreated patients are not pinned to a steady state: each patient's
  damage schema moves, before, during and after any treatment, toward a level of their own
  (logit units, between-patient SD ``course_sd``, mean 0) at rate ``drift_reversion`` (per
  year), instead of staying put or running to 0 or 1.
- ``contact``: each attended session with a clinician brings an expectancy of relief that
  removes a share ``contact_effect`` of the amplified pain and fades with e-folding time
  ``contact_duration`` once sessions stop: a non-specific effect of therapeutic contact, on
  pain only (it teaches nothing), so part of the change at the end of treatment is transient.

Mechanisms combine with ``+`` (``"consolidation+fear_mediated"``), except where the
combination makes no sense (see :data:`EXCLUSIVE`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ValidationError
from .params import ModelParams

__all__ = ["MECHANISMS", "EXCLUSIVE", "Mechanism", "mechanism", "mechanism_names"]

#: Each mechanism's parameter settings: fields it fixes, and fields it frees (with the value a
#: simulation uses when the given parameters leave them switched off).
MECHANISMS: dict[str, dict] = {
    "inhibition": {
        "doc": "labile safety memory that fades with avoidance and flares",
        "fixed": {
            "consolidation_rate": 0.0,
            "fear_threat_weight": 0.0,
            "course_sd": 0.0,
            "drift_reversion": 0.0,
            "contact_effect": 0.0,
        },
        "free": {},
    },
    "consolidation": {
        "doc": "labile safety memory consolidates into a stable, slowly forgetting trace",
        "fixed": {},
        "free": {"consolidation_rate": 0.01},
    },
    "schema_update": {
        "doc": "treatment moves the schema itself: no forgetting, only flares pull back",
        "fixed": {"safety_decay": 0.0, "consolidation_rate": 0.0},
        "free": {},
    },
    "fear_mediated": {
        "doc": "threat appraisal (and so pain) read from fear of movement",
        "fixed": {},
        "free": {"fear_threat_weight": 0.5},
    },
    "natural_course": {
        "doc": "each patient's schema moves to a level of their own, treated or not",
        "fixed": {},
        # The median of its prior (prt_sim.inference.priors.MECHANISM_PRIORS): used only by
        # simulations run without a fit.
        "free": {"course_sd": 0.3, "drift_reversion": 1.0},
    },
    "contact": {
        "doc": "sessions with a clinician bring a transient expectancy of relief",
        "fixed": {},
        # Near the medians of its priors (0.18 and 30 days; prt_sim.inference.priors).
        "free": {"contact_effect": 0.2, "contact_duration": 30.0},
    },
}

#: Pairs that cannot combine, and why.
EXCLUSIVE: dict[frozenset, str] = {
    frozenset({"schema_update", "consolidation"}): (
        "with no forgetting (schema_update) there is nothing for consolidation to protect"
    ),
}


def mechanism_names() -> tuple[str, ...]:
    """The single mechanisms, in documentation order."""
    return tuple(MECHANISMS)


@dataclass(frozen=True)
class Mechanism:
    """A mechanism or a combination of mechanisms (build with :func:`mechanism`).

    Attributes
    ----------
    name : str
        Canonical name: the parts joined by ``+`` in :data:`MECHANISMS` order.
    parts : tuple of str
    fixed : dict
        Parameter fields the mechanism fixes, and their values.
    free : dict
        Parameter fields the mechanism switches on, and the value a simulation uses when the
        given parameters leave them at 0.
    """

    name: str
    parts: tuple[str, ...]
    fixed: dict
    free: dict

    def params(self, base: ModelParams | None = None) -> ModelParams:
        """``base`` (default :class:`ModelParams()`) with this mechanism's settings: fixed
        fields set, switched-on fields given their default where ``base`` has them at 0."""
        base = base or ModelParams()
        values = dict(self.fixed)
        for name, default in self.free.items():
            if getattr(base, name) == 0.0:
                values[name] = default
        return base.replace(**values)

    def check(self, params: ModelParams, field: str = "params") -> None:
        """Refuse parameters that contradict this mechanism (a fixed field changed, or a
        switched-on field at 0), naming the field, its value and what the mechanism needs."""
        for name, value in self.fixed.items():
            if getattr(params, name) != value:
                raise ValidationError(
                    f"{field}.{name}",
                    getattr(params, name),
                    f"{value:g} under the {self.name!r} mechanism",
                )
        for name in self.free:
            if getattr(params, name) <= 0.0:
                raise ValidationError(
                    f"{field}.{name}", getattr(params, name), f"> 0 under {self.name!r}"
                )

    def __str__(self) -> str:
        return self.name


def mechanism(name: str | Mechanism) -> Mechanism:
    """The mechanism called ``name``: one of :data:`MECHANISMS`, or several joined by ``+``.

    Raises
    ------
    ValidationError
        An unknown name (the message lists the allowed ones), a repeated part, ``inhibition``
        combined with another (it is the base every other mechanism extends), or a combination
        in :data:`EXCLUSIVE`.
    """
    if isinstance(name, Mechanism):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("mechanism", name, f"one of {list(MECHANISMS)}, or joined by '+'")
    parts = [p.strip() for p in name.split("+")]
    for p in parts:
        if p not in MECHANISMS:
            raise ValidationError("mechanism", p, f"one of {list(MECHANISMS)} (combine with '+')")
    if len(set(parts)) != len(parts):
        raise ValidationError("mechanism", name, "each mechanism at most once")
    if "inhibition" in parts and len(parts) > 1:
        raise ValidationError(
            "mechanism",
            name,
            "'inhibition' alone: it is the base every other mechanism extends "
            f"(use {'+'.join(p for p in parts if p != 'inhibition')!r})",
        )
    for pair, why in EXCLUSIVE.items():
        if pair <= set(parts):
            raise ValidationError("mechanism", name, "a combination that makes sense", why)
    ordered = tuple(p for p in MECHANISMS if p in parts)
    # Every mechanism extends inhibition: its switches start off.
    fixed: dict = dict(MECHANISMS["inhibition"]["fixed"])
    free: dict = {}
    for p in ordered:
        fixed.update(MECHANISMS[p]["fixed"])
        free.update(MECHANISMS[p]["free"])
    # A part that switches a term on overrides another part's "off" for that field.
    for k in free:
        fixed.pop(k, None)
    return Mechanism("+".join(ordered), ordered, fixed, free)
