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

__version__ = "0.1.0"

from . import data, dynamics, protocols, timeline  # noqa: E402
from .cohorts import Cohort, CohortSpec  # noqa: E402
from .errors import DataFormatError, PrtSimError, ValidationError  # noqa: E402
from .inference import Prior, TrialModel  # noqa: E402
from .params import ModelParams  # noqa: E402
from .protocols import Protocol, SelfGuided, Session  # noqa: E402
from .simulation import SimulationResult, simulate  # noqa: E402
from .timeline import StressPeriod, Visit, trial_visits  # noqa: E402

__all__ = [
    "__version__",
    "Cohort",
    "CohortSpec",
    "DataFormatError",
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
    "Visit",
    "data",
    "dynamics",
    "protocols",
    "simulate",
    "timeline",
    "trial_visits",
]
