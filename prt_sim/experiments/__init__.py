"""Experiments at scale: declarative sweeps that resume after a crash and give the same numbers on any number of workers, Sobol sensitivity from their stored outputs, and in-silico trial design (power, assurance and the n per arm).

>>> from prt_sim.experiments import load_spec, run_sweep            # doctest: +SKIP
>>> run = run_sweep(load_spec("examples/sweep_sensitivity.toml"), "results/sens")  # doctest: +SKIP
>>> from prt_sim.experiments import load_power_spec, run_power      # doctest: +SKIP
>>> run_power(load_power_spec("experiments/power_prt_vs_active.toml")).sample_size  # doctest: +SKIP
"""

from .design import Points, design_points
from .executors import DaskExecutor, PoolExecutor, SequentialExecutor, make_executor
from .power import (
    PowerRun,
    SampleSize,
    load_power,
    rates_from_outcomes,
    run_power,
    save_power,
    simulate_trials,
    solve_n,
)
from .power_spec import Analysis, Endpoint, Parameters, PowerSpec, Solve, load_power_spec
from .runner import SweepRun, load_sweep, run_sweep
from .seeds import task_seeds
from .spec import Arm, Design, Factor, Outcome, Population, SweepSpec, load_spec
from .store import SweepStore

__all__ = [
    "Analysis",
    "Arm",
    "DaskExecutor",
    "Design",
    "Endpoint",
    "Factor",
    "Outcome",
    "Parameters",
    "Points",
    "PoolExecutor",
    "Population",
    "PowerRun",
    "PowerSpec",
    "SampleSize",
    "SequentialExecutor",
    "Solve",
    "SweepRun",
    "SweepSpec",
    "SweepStore",
    "design_points",
    "load_power",
    "load_power_spec",
    "load_spec",
    "load_sweep",
    "make_executor",
    "rates_from_outcomes",
    "run_power",
    "run_sweep",
    "save_power",
    "simulate_trials",
    "solve_n",
    "task_seeds",
]
