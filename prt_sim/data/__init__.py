"""Trial data: the container, the public files' loaders, the published figures, simulated trials.

- :mod:`~prt_sim.data.trial`: :class:`TrialData` (arm-level summaries or patient records);
- :mod:`~prt_sim.data.readers`: the validating CSV reader;
- :mod:`~prt_sim.data.ashar2022`: loaders of the trial's public patient-level files;
- :mod:`~prt_sim.data.published`: the published arm-level figures (facts, cited);
- :mod:`~prt_sim.data.simulated`: patient-level data from simulated arms;
- :mod:`~prt_sim.data.uptake`: each patient's probability of having started treatment.
"""

from . import published, uptake
from .ashar2022 import (
    ARM_CODES,
    ATTRIBUTION_CODES,
    HEALTHY_CONTROL,
    PUBLIC_FILES,
    TWO_VISIT_FILE,
    WIDE_FILE,
    WIDE_VISITS,
    load_ashar2022,
    load_ashar2022_two_visit,
    load_ashar2022_wide,
)
from .published import published_ashar2022
from .readers import MISSING_MARKERS
from .simulated import trial_from_simulations
from .trial import BASELINE_COMPOSITE, COVARIATES, MEASURES, RANGES, SUMMARY_MEASURES, TrialData
from .uptake import start_probabilities

__all__ = [
    "ARM_CODES",
    "ATTRIBUTION_CODES",
    "BASELINE_COMPOSITE",
    "COVARIATES",
    "HEALTHY_CONTROL",
    "MEASURES",
    "MISSING_MARKERS",
    "PUBLIC_FILES",
    "RANGES",
    "SUMMARY_MEASURES",
    "TWO_VISIT_FILE",
    "TrialData",
    "WIDE_FILE",
    "WIDE_VISITS",
    "load_ashar2022",
    "load_ashar2022_two_visit",
    "load_ashar2022_wide",
    "published",
    "published_ashar2022",
    "start_probabilities",
    "trial_from_simulations",
    "uptake",
]
