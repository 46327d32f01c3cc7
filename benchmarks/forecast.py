"""Performance benchmark of :func:`prt_sim.forecasting.forecast` (``python benchmarks/forecast.py``).

The issue's workload: 3 trial arms x 1000 posterior draws x 100 patients per draw x 5 years of
daily steps (one scenario, as randomized), about 5.6e8 patient-days. Measured in a fresh
subprocess (so its peak RSS is the forecast's own), after a warm-up call that compiles the
numba kernels:

* wall time and patient-days/s (target: at most 60 s);
* where the time goes: cohorts + kernels + reductions (cProfile-free: wall time of the whole
  call and of the kernels, timed by wrapping them);
* peak RSS, next to what the full daily history would need (8 float32 variables per
  patient-day), to show memory is bounded by the summaries (streamed by chunks).

The draws come from a saved fit (``--fit PATH``, an InferenceData .nc) or, by default, from the
prior of the published-data model (:meth:`prt_sim.TrialModel.sample_prior`): the cost per
patient-day does not depend on the parameter values. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numba
import psutil

TARGET_S = 60.0


def _run(args: argparse.Namespace) -> dict:
    import prt_sim as ps
    from prt_sim import engine
    from prt_sim.forecasting import forecast

    tm = ps.TrialModel(ps.data.published_ashar2022())
    if args.fit:
        idata, group = ps.TrialModel.load(args.fit), "posterior"
        model = tm
    else:
        idata, group, model = tm.sample_prior(draws=args.draws, seed=1), "prior", None
    kw = dict(
        scenarios=["as_randomized"],
        horizon_years=args.years,
        n_patients=args.patients,
        seed=1,
        group=group,
        model=model,
        progress=False,
    )
    forecast(idata, n_draws=2, **kw)  # compile the kernels
    # the kernels forecasts run in (named *_batch before prt_sim 0.2)
    names = {
        "advance": "advance_batch" if hasattr(engine, "advance_batch") else "advance",
        "observe": "observe_batch" if hasattr(engine, "observe_batch") else "observe",
    }
    kernel_s = {n: 0.0 for n in names.values()}
    originals = {k: getattr(engine, k) for k in kernel_s}

    def timed(name):
        fn = originals[name]

        def wrapper(*a):
            t = time.perf_counter()
            out = fn(*a)
            kernel_s[name] += time.perf_counter() - t
            return out

        return wrapper

    for k in kernel_s:
        setattr(engine, k, timed(k))
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    ds = forecast(idata, n_draws=args.draws, **kw)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    for k, fn in originals.items():
        setattr(engine, k, fn)
    n_days = int(ds["day"].values[-1]) - (-17) + 1  # the calendar starts on study day -17
    patient_days = ds.sizes["draw"] * ds.sizes["arm"] * args.patients * n_days
    rss = psutil.Process().memory_info().rss
    peak = _peak_rss()
    return {
        "draws": ds.sizes["draw"],
        "arms": ds.sizes["arm"],
        "patients_per_draw": args.patients,
        "years": args.years,
        "simulated_days": n_days,
        "patient_days": patient_days,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "patient_days_per_s": round(patient_days / wall),
        "kernel_advance_s": round(kernel_s[names["advance"]], 2),
        "kernel_observe_s": round(kernel_s[names["observe"]], 2),
        "other_s": round(wall - sum(kernel_s.values()), 2),
        "peak_rss_mb": round(peak / 1e6, 1),
        "rss_after_mb": round(rss / 1e6, 1),
        "result_mb": round(ds.nbytes / 1e6, 1),
        "daily_history_would_need_mb": round(patient_days * 8 * 4 / 1e6),
        "draws_from": "fit" if args.fit else "prior",
    }


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--years", type=float, default=5.0)
    ap.add_argument("--fit", help="InferenceData .nc to take posterior draws from")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.draws, args.patients, args.years = 20, 20, 1.0
    if args.child:
        print(json.dumps(_run(args)))
        return
    cmd = [sys.executable, __file__, "--child", "--draws", str(args.draws)]
    cmd += ["--patients", str(args.patients), "--years", str(args.years)]
    if args.fit:
        cmd += ["--fit", args.fit]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(
        target_s=TARGET_S,
        meets_target=bool(res["wall_s"] <= TARGET_S),
        threads=numba.config.NUMBA_NUM_THREADS,
        cpus=os.cpu_count(),
        load_avg_1min=round(os.getloadavg()[0], 2),
        python=platform.python_version(),
        ram_gb=round(psutil.virtual_memory().total / 2**30, 1),
    )
    print(f"forecast: {res['arms']} arms x {res['draws']} draws x {res['patients_per_draw']} ")
    print(
        f"  patients x {res['simulated_days']} days = {res['patient_days']:.3g} patient-days "
        f"in {res['wall_s']:.1f} s ({res['patient_days_per_s']:.3g}/s; target <= {TARGET_S:.0f} s)"
    )
    print(
        f"  kernels: advance {res['kernel_advance_s']:.1f} s, observe "
        f"{res['kernel_observe_s']:.1f} s; cohorts and reductions {res['other_s']:.1f} s"
    )
    print(
        f"  peak RSS {res['peak_rss_mb']:.0f} MB (result {res['result_mb']:.0f} MB; the daily "
        f"history would need {res['daily_history_would_need_mb']:,} MB)"
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
