"""Benchmark of sweeps (``python benchmarks/sweep.py``): throughput on 1 and 2 workers, and the cost per task of the sweep machinery.

The workload: a Sobol design over two factors (a model parameter and a cohort field), each task
one PRT arm of ``--patients`` patients simulated to day 400 with two outcomes, ``--tasks``
tasks. Measured after warm-up (kernels compiled or loaded from the cache, workers started):

* tasks per minute on a local process pool with 1 and with 2 workers (each worker one numba
  thread; target: 2 workers at least 1.8x one);
* the overhead per task of :func:`run_sweep` (sequential executor: seeds, spec, outcome
  reading, one file per batch, marker, final assembly) against a plain loop that builds each
  task's cohort and calls :func:`prt_sim.simulate` directly, on one numba thread in this
  process (target: under 5%).

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_SPEEDUP = 1.8
TARGET_OVERHEAD = 0.05


def _spec(tasks: int, patients: int):
    from prt_sim.experiments import Design, Factor, Outcome, SweepSpec

    n = 1 << max(0, (tasks - 1).bit_length())  # sobol: a power of two, then the first `tasks`
    return SweepSpec(
        name="bench",
        factors=(
            Factor("params.exposure_learning", range=(0.05, 0.3)),
            Factor("cohort.cat_mean", range=(0.1, 0.4)),
        ),
        design=Design("sobol", n=n),
        outcomes=(
            Outcome("pain_free", "pain_free", days=(30, 395)),
            Outcome("relapsed", "relapse", days=(395,)),
        ),
        n_patients=patients,
        horizon_days=400,
        seed=1,
    )


def _direct(spec, keys, points) -> float:
    """The plain loop a modeler would write: build the cohort, call simulate."""
    import prt_sim as ps
    from prt_sim.experiments.seeds import task_seeds
    from prt_sim.experiments.task import _visits, point_inputs

    visits = _visits(spec)
    t0 = time.perf_counter()
    for p, r in keys:
        cseed, sseed = task_seeds(spec.seed, p, r)
        params, pops, protocols = point_inputs(spec, points.row(p))
        cohort = ps.Cohort.from_trial_baseline(
            spec.n_patients, seed=cseed, spec=pops[0], params=params
        )
        ps.simulate(cohort, protocols[0], horizon_days=spec.horizon_days, seed=sseed,
                    params=params, visits=visits, progress=False)  # fmt: skip
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=64, help="tasks (rounded up to a power of two)")
    ap.add_argument("--patients", type=int, default=1000, help="patients per task")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.tasks, args.patients = 8, 100

    import numba

    from prt_sim.experiments import PoolExecutor, SequentialExecutor, design_points, run_sweep

    spec = _spec(args.tasks, args.patients)  # the Sobol design's n: a power of two
    points = design_points(spec)
    keys = [(p, 0) for p in range(len(points))]
    n_tasks = len(keys)
    tmp = Path(tempfile.mkdtemp(prefix="prt_sweep_bench_"))
    load0 = os.getloadavg()[0]
    try:
        # one numba thread here too, so the direct loop and the sweep compare like for like
        numba.set_num_threads(1)
        _direct(spec, keys[:2], points)  # warm-up: kernels compiled or loaded
        direct_s, sweep_s = [], []
        for i in range(3):  # interleaved, best of three: both see the same machine load
            direct_s.append(_direct(spec, keys, points))
            run = run_sweep(spec, tmp / f"seq{i}", executor=SequentialExecutor(), batch_size=8,
                            progress=False)  # fmt: skip
            sweep_s.append(run.summary["wall_s"])
        direct_s, sweep_s = min(direct_s), min(sweep_s)
        overhead = (sweep_s - direct_s) / direct_s
        rate = {}
        for w in (1, 2):
            with PoolExecutor(w) as ex:
                run_sweep(_spec(2 * w, 50), tmp / f"warm{w}", executor=ex, batch_size=1,
                          progress=False)  # fmt: skip
                run = run_sweep(spec, tmp / f"pool{w}", executor=ex, batch_size=4, progress=False)
                rate[w] = run.summary["tasks_per_min"]
        speedup = rate[2] / rate[1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("tasks per sweep (patients x days each)", f"{n_tasks} ({args.patients} x 400)"),
        ("direct loop: cohort + simulate", f"{direct_s:.2f} s ({1e3 * direct_s / n_tasks:.0f} ms/task)"),
        ("run_sweep, sequential executor", f"{sweep_s:.2f} s ({1e3 * sweep_s / n_tasks:.0f} ms/task)"),
        ("overhead per task", f"{1e3 * (sweep_s - direct_s) / n_tasks:.1f} ms ({100 * overhead:.1f}%; target < 5%)"),
        ("pool, 1 worker", f"{rate[1]:.0f} tasks/min"),
        ("pool, 2 workers", f"{rate[2]:.0f} tasks/min ({speedup:.2f}x; target >= {TARGET_SPEEDUP}x)"),
        ("load average before / after", f"{load0:.2f} / {os.getloadavg()[0]:.2f}"),
    ]  # fmt: skip
    w = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{w}s}  {b}")
    out = {
        "tasks": n_tasks,
        "patients_per_task": args.patients,
        "horizon_days": 400,
        "direct_s": round(direct_s, 3),
        "sweep_sequential_s": round(sweep_s, 3),
        "overhead_ms_per_task": round(1e3 * (sweep_s - direct_s) / n_tasks, 2),
        "overhead_fraction": round(overhead, 4),
        "overhead_met": overhead < TARGET_OVERHEAD,
        "tasks_per_min_1_worker": rate[1],
        "tasks_per_min_2_workers": rate[2],
        "speedup_2_workers": round(speedup, 3),
        "speedup_met": speedup >= TARGET_SPEEDUP,
        "cpus": len(os.sched_getaffinity(0)),
        "load_before": round(load0, 2),
        "python": platform.python_version(),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
