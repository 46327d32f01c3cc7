"""Bayesian calibration of the patient model with PyMC.

- :mod:`~prt_sim.inference.grid`: the skeleton's time grid;
- :mod:`~prt_sim.inference.skeleton`: surrogate agents run with the simulator's daily update
  and its adjoint, as a PyTensor Op;
- :mod:`~prt_sim.inference.priors`: fitted parameters and their priors;
- :mod:`~prt_sim.inference.model`: the PyMC model of a trial;
- :mod:`~prt_sim.inference.trial_model`: :class:`TrialModel` (fit, diagnostics, posterior
  predictive with the full simulator, save/load).
"""

from .priors import DEFAULT_PRIORS, Prior, prior_table
from .trial_model import SAMPLERS, TrialModel

__all__ = ["DEFAULT_PRIORS", "Prior", "SAMPLERS", "TrialModel", "prior_table"]
