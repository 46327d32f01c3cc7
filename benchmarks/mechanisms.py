"""Simulator throughput under each memory mechanism (run: ``python benchmarks/mechanisms.py``).

For each mechanism of :mod:`prt_sim.model.mechanisms` (and one combination), 1,000,000 patients
x 365 simulated days under PRT with the default ``record="instruments"``: wall time (best of a
few repeats, compile excluded by a warm-up call), patient-days per second, and patient-days per
CPU-second (all threads; far less sensitive than wall time to other processes on the machine).
Each mechanism's switched-on parameters take their defaults (``Mechanism.params()``).

Prints a table, then as the last line one JSON object with the figures. ``--quick`` shrinks the
sizes for smoke tests. Target (issue 10): >= 3.5e7 patient-days/s for every mechanism.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numba

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simulate import horizon_for  # noqa: E402

import prt_sim  # noqa: E402
from prt_sim import Cohort, mechanism, simulate  # noqa: E402
from prt_sim.model.mechanisms import MECHANISMS  # noqa: E402

TARGET_RATE = 3.5e7
VARIANTS = (*MECHANISMS, "consolidation+fear_mediated")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="patients")
    ap.add_argument("--days", type=int, default=365, help="simulated days")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.n, args.days, args.repeats = 20_000, 60, 1
    horizon = horizon_for(args.days)
    out = {"n_patients": args.n, "days": args.days, "threads": numba.get_num_threads()}
    print(f"prt_sim {prt_sim.__version__}, {args.n:,} patients x {args.days} days, "
          f"{numba.get_num_threads()} threads, {platform.processor() or platform.machine()}")  # fmt: skip
    print(f"{'mechanism':32s} {'wall s':>8s} {'patient-days/s':>15s} {'per CPU-s':>12s}")
    for name in VARIANTS:
        params = mechanism(name).params()
        cohort = Cohort.from_trial_baseline(args.n, seed=1, params=params)
        simulate(cohort[:1000], "prt", horizon_days=horizon, seed=1, params=params)  # compile
        best = best_cpu = float("inf")
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            simulate(cohort, "prt", horizon_days=horizon, seed=1, params=params, progress=False)
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, time.process_time() - c)
        rate = args.n * args.days / best
        out[name] = {
            "wall_s": round(best, 3),
            "patient_days_per_s": rate,
            "patient_days_per_cpu_s": args.n * args.days / best_cpu,
            "meets_target": bool(rate >= TARGET_RATE),
        }
        print(f"{name:32s} {best:8.2f} {rate:15.3g} {out[name]['patient_days_per_cpu_s']:12.3g}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
