"""Durability forecasts: the full stochastic simulator run for years under posterior draws.

- :mod:`~prt_sim.forecasting.scenarios`: what happens after randomization (:class:`Scenario`)
  and when a responder has relapsed (:class:`RelapseRule`);
- :mod:`~prt_sim.forecasting.uptake`: treatment taken up after the trial (:class:`Uptake` of
  :class:`SelfDirectedPRT` or :class:`DeliveredPRT`), by arm, share and timing;
- :mod:`~prt_sim.forecasting.design`: the arms, calendars, checkpoints and cohorts of a
  forecast (:class:`RecordsCohort` for records);
- :mod:`~prt_sim.forecasting.run`: :func:`forecast`, :func:`save_forecast`,
  :func:`load_forecast`;
- :mod:`~prt_sim.forecasting.summaries`: per-draw summaries, relapse, subgroups,
  :func:`forecast_bands`.

Definitions (also in ``docs/forecasting.md``): **time** is years after the post-treatment
visit (T2, study day 30), with monthly assessments, so ``time = 1`` is the trial's 12-month
visit; **pain-free** is weekly-recall pain reported as 0 or 1 among patients observed at that
time (``pain_free_itt`` divides by everyone, missing = not pain-free); **relapse** follows
:class:`RelapseRule`; **time pain-free** counts days whose 7-day mean pain is below 1.5 per
patient-year since post.
"""

from .design import RecordsCohort
from .personal import forecast_patient
from .run import forecast, load_forecast, save_forecast
from .scenarios import DEFAULT_SCENARIOS, SCENARIOS, RelapseRule, Scenario
from .stacking import stack_forecasts
from .summaries import SUBGROUPS, forecast_bands
from .uptake import DeliveredPRT, SelfDirectedPRT, Uptake

__all__ = [
    "forecast_patient",
    "stack_forecasts",
    "DEFAULT_SCENARIOS",
    "SCENARIOS",
    "SUBGROUPS",
    "RecordsCohort",
    "RelapseRule",
    "Scenario",
    "Uptake",
    "SelfDirectedPRT",
    "DeliveredPRT",
    "forecast",
    "forecast_bands",
    "load_forecast",
    "save_forecast",
]
