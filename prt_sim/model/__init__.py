"""The patient model: every fact about one patient, written once.

Parameters and their spec (:mod:`~prt_sim.model.params`, :mod:`~prt_sim.model.spec`), the daily
update (:mod:`~prt_sim.model.dynamics`), its competing mechanisms (:mod:`~prt_sim.model.mechanisms`)
and its derivative (:mod:`~prt_sim.model.adjoint`), the
instruments (:mod:`~prt_sim.model.instruments`), the builder of traits and initial states
(:mod:`~prt_sim.model.baseline`), cohorts (:mod:`~prt_sim.model.cohorts`), protocols
(:mod:`~prt_sim.model.protocols`), the trial calendar (:mod:`~prt_sim.model.calendar`,
:mod:`~prt_sim.model.timeline`) and keyed random numbers (:mod:`~prt_sim.model.rng`). Everything
else in prt_sim imports from here; nothing here imports from the rest (but the error types, the
compiler helper and the elementwise math shim).
"""

from . import (
    adjoint,
    baseline,
    calendar,
    dynamics,
    instruments,
    mechanisms,
    protocols,
    rng,
    timeline,
)
from .cohorts import Cohort, CohortSpec
from .dynamics import Drive, Shocks, State, Traits, daily_step
from .instruments import INSTRUMENTS, PAIN_FREE_MAX
from .mechanisms import Mechanism, mechanism
from .params import DynParams, ModelParams
from .protocols import Protocol, SelfGuided, Session
from .timeline import StressPeriod, Timeline, Visit, build_timeline, trial_visits

__all__ = [
    "INSTRUMENTS",
    "PAIN_FREE_MAX",
    "Cohort",
    "CohortSpec",
    "Drive",
    "Mechanism",
    "DynParams",
    "ModelParams",
    "Protocol",
    "SelfGuided",
    "Session",
    "Shocks",
    "State",
    "StressPeriod",
    "Timeline",
    "Traits",
    "Visit",
    "adjoint",
    "baseline",
    "mechanism",
    "mechanisms",
    "build_timeline",
    "calendar",
    "daily_step",
    "dynamics",
    "instruments",
    "protocols",
    "rng",
    "timeline",
    "trial_visits",
]
