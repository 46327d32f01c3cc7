"""prt_sim: simulation of pain-belief dynamics under Pain Reprocessing Therapy.

An agent-based model of primary chronic back pain in which pain is amplified by threat
appraisal, the belief that pain signals damage is reappraised by education and disconfirmed by
exposure, and flare-ups read as damage reinstate it. See ``docs/model.md``.

>>> import prt_sim as ps
>>> cohort = ps.Cohort.from_trial_baseline(n=200, seed=1)
>>> res = ps.simulate(cohort, protocol=ps.protocols.PRT(), horizon_days=60, seed=1)
>>> sorted(res.instruments.data_vars)
['attrib_mb', 'odi', 'pain_avg', 'pcs', 'tsk11']
"""

from . import clinic, data, experiments, forecasting  # noqa: E402
from ._version import __version__
from .errors import (  # noqa: E402
    DataFormatError,
    DifferentModelError,
    PrtSimError,
    ValidationError,
    VersionWarning,
)
from .inference import Prior, TrialModel  # noqa: E402
from .model import dynamics, protocols, timeline  # noqa: E402
from .model.cohorts import Cohort, CohortSpec  # noqa: E402
from .model.mechanisms import Mechanism, mechanism, mechanism_names  # noqa: E402
from .model.params import ModelParams  # noqa: E402
from .model.protocols import Protocol, SelfGuided, Session  # noqa: E402
from .model.timeline import StressPeriod, Visit, trial_visits  # noqa: E402
from .simulation import SimulationResult, simulate  # noqa: E402

__all__ = [
    "__version__",
    "Cohort",
    "CohortSpec",
    "DataFormatError",
    "DifferentModelError",
    "Mechanism",
    "ModelParams",
    "Prior",
    "Protocol",
    "PrtSimError",
    "SelfGuided",
    "Session",
    "SimulationResult",
    "StressPeriod",
    "TrialModel",
    "ValidationError",
    "VersionWarning",
    "Visit",
    "clinic",
    "data",
    "dynamics",
    "experiments",
    "forecasting",
    "mechanism",
    "mechanism_names",
    "protocols",
    "simulate",
    "timeline",
    "trial_visits",
]
