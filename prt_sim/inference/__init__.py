"""Bayesian calibration of the patient model with PyMC, and the checks every fit gets.

- :mod:`~prt_sim.inference.grid`: the skeleton's time grid;
- :mod:`~prt_sim.inference.skeleton`: surrogate agents run with the simulator's daily update
  and its adjoint, as a PyTensor Op;
- :mod:`~prt_sim.inference.priors`: fitted parameters and their priors;
- :mod:`~prt_sim.inference.observation`: what an agent predicts about each recorded measure;
- :mod:`~prt_sim.inference.arm_model`, :mod:`~prt_sim.inference.patient_model`: the PyMC
  models of arm-level figures and of patient records;
- :mod:`~prt_sim.inference.sampler`, :mod:`~prt_sim.inference.nutpie_cache`: NUTS with progress
  in logs, and nutpie's compiled model cached across processes;
- :mod:`~prt_sim.inference.posterior`: posterior draws as simulator inputs;
- :mod:`~prt_sim.inference.checks`: posterior predictive replicates, PPC table, mediation;
- :mod:`~prt_sim.inference.patient_checks`, :mod:`~prt_sim.inference.loo`: a patient-level
  fit's patients replayed, and leave-one-patient-out with random effects integrated out;
- :mod:`~prt_sim.inference.prior_sensitivity`: how far each prior moves a fit's conclusions;
- :mod:`~prt_sim.inference.trial_model`: :class:`TrialModel` (configuration, fit, diagnostics,
  checks, forecasts, save/load).
"""

from .loo import integrated_log_likelihood
from .priors import DEFAULT_PRIORS, Prior, prior_table
from .trial_model import SAMPLERS, TrialModel

__all__ = [
    "DEFAULT_PRIORS",
    "Prior",
    "SAMPLERS",
    "TrialModel",
    "integrated_log_likelihood",
    "prior_table",
]
