"""Figures from results. Plotting only reads results: it never simulates or fits.

Every function takes ``ax=`` (a matplotlib Axes; a new figure is made when omitted), returns
``(fig, ax)`` and leaves matplotlib's backend alone. Arms and latent states have fixed colours
(:mod:`~prt_sim.plotting.style`).

- :mod:`~prt_sim.plotting.simulation`: simulation results;
- :mod:`~prt_sim.plotting.fit`: fits (posterior predictive, posteriors);
- :mod:`~prt_sim.plotting.forecast`: forecasts;
- :mod:`~prt_sim.plotting.sweep`, :mod:`~prt_sim.plotting.sensitivity`,
  :mod:`~prt_sim.plotting.power`: experiments (sweeps, Sobol indices, power curves);
- :mod:`~prt_sim.plotting.clinic`: care delivery.
"""

from .clinic import (
    plot_clinic_kpi,
    plot_population_pain,
    plot_queue,
    plot_sessions_by_format,
    plot_waits,
)
from .fit import plot_posterior, plot_ppc
from .forecast import (
    plot_forecast,
    plot_forecast_latent,
    plot_patient_forecast,
    plot_relapse_survival,
    plot_subgroups,
)
from .power import plot_power_curve
from .sensitivity import plot_sobol
from .simulation import plot_arm_means, plot_calendar, plot_daily, plot_latent, plot_pain_free
from .style import ARM_COLORS, STATE_COLORS, arm_color
from .sweep import plot_sweep

__all__ = [
    "ARM_COLORS",
    "STATE_COLORS",
    "arm_color",
    "plot_arm_means",
    "plot_pain_free",
    "plot_latent",
    "plot_daily",
    "plot_calendar",
    "plot_ppc",
    "plot_posterior",
    "plot_forecast",
    "plot_relapse_survival",
    "plot_forecast_latent",
    "plot_subgroups",
    "plot_patient_forecast",
    "plot_sweep",
    "plot_sobol",
    "plot_power_curve",
    "plot_clinic_kpi",
    "plot_waits",
    "plot_queue",
    "plot_sessions_by_format",
    "plot_population_pain",
]
