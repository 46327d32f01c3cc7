"""How cost grows with the work (``python benchmarks/scaling.py``): simulator wall time and peak memory against patients, forecast time against posterior draws, sweep wall time against points on 1 and 2 workers, each curve with its fitted log-log exponent.

* **Simulator**: cohort build and :func:`prt_sim.simulate` (PRT, 365 simulated days, the default
  ``record="instruments"``) from 1e3 to 1e6 patients (``--max-patients 1e7`` adds 3e6 and 1e7),
  each size in a fresh subprocess after a warm-up call (kernels loaded from the cache). The peak
  RSS (``VmHWM``) is reset before the cohort build and again before ``simulate()`` (Linux
  ``/proc/self/clear_refs``), so each stage's peak is its own. ``simulate()``'s working memory is
  its peak less what it started with and the arrays its result must keep (instruments, who
  started treatment, sessions attended): bounded by ``chunk_size``, whatever the patients.
* **Forecasts**: :func:`prt_sim.forecasting.forecast` of the three trial arms, one scenario,
  100 patients per draw, ``--years`` after post, against 100, 200, 500 and 1000 posterior draws
  (``--draws``), drawn from the prior of the published-data model (the cost per patient-day does
  not depend on the values); one subprocess, after a warm-up.
* **Sweeps**: :func:`prt_sim.experiments.run_sweep` of a Sobol design (one PRT arm of
  ``--sweep-patients`` patients to day 400 per task) against 8 to 128 points, on a warmed process
  pool of 1 and of 2 workers.

The patient-level fit's scaling with trial size is not measured here (see docs/performance.md).
Each curve's exponent is the slope of a least-squares line through (log size, log cost). Writes
``docs/figures/scaling.png`` (``--figure``); prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MB = 1e6


def _vm(field: str) -> float:
    """A /proc/self/status memory figure in bytes (VmHWM: peak RSS, VmRSS: current)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) * 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def exponent(x, y) -> float:
    """Slope of the least-squares line through (log x, log y)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


# -- children (fresh processes) -----------------------------------------------------------------
def _child_simulate(n: int) -> dict:
    import prt_sim as ps

    warm = ps.Cohort.from_trial_baseline(200, seed=1)
    ps.simulate(warm, "prt", horizon_days=347, seed=1, progress=False)  # kernels loaded
    before = _vm("VmRSS")
    reset = _reset_peak()  # the peak from here on is this stage's (not the imports')
    t = time.perf_counter()
    cohort = ps.Cohort.from_trial_baseline(n, seed=1)
    t_cohort = time.perf_counter() - t
    cohort_peak, after_cohort = _vm("VmHWM"), _vm("VmRSS")
    _reset_peak()
    t = time.perf_counter()
    res = ps.simulate(cohort, "prt", horizon_days=347, seed=1, progress=False)
    t_sim = time.perf_counter() - t
    sim_peak = _vm("VmHWM")
    n_days = 347 + 17 + 1  # the trial schedule starts on study day -17: 365 simulated days
    # What simulate() must keep grows with n by design: the instruments and who started
    # treatment / how many sessions (the result's patient table otherwise wraps the cohort's own
    # arrays). The rest of its peak is working memory, bounded by chunk_size.
    pt = res.patients
    result_b = (
        res.instruments.nbytes + pt["started_treatment"].nbytes + pt["sessions_attended"].nbytes
    )
    cohort_b = sum(v.nbytes for v in (*cohort.traits, *cohort.state, *cohort.baseline.values(),
                                      cohort.patient_id))  # fmt: skip
    return {
        "patients": n,
        "days": n_days,
        "cohort_s": round(t_cohort, 4),
        "simulate_s": round(t_sim, 4),
        "patient_days_per_s": round(n * n_days / t_sim),
        "rss_before_mb": round(before / MB, 1),
        "cohort_build_peak_mb": round(cohort_peak / MB, 1),
        "rss_after_cohort_mb": round(after_cohort / MB, 1),
        "simulate_peak_mb": round(sim_peak / MB, 1),
        "peak_rss_mb": round(max(cohort_peak, sim_peak) / MB, 1),
        "peak_reset": reset,
        "result_mb": round(result_b / MB, 2),
        "cohort_mb": round(cohort_b / MB, 2),
        "simulate_working_mb": round((sim_peak - after_cohort - result_b) / MB, 1),
    }


def _child_forecast(draws: list[int], years: float, patients: int) -> dict:
    import prt_sim as ps
    from prt_sim.forecasting import forecast

    tm = ps.TrialModel(ps.data.published_ashar2022())
    idata = tm.sample_prior(draws=max(draws), seed=1)
    kw = dict(scenarios=["as_randomized"], horizon_years=years, n_patients=patients, seed=1,
              group="prior", progress=False)  # fmt: skip
    forecast(idata, n_draws=2, **kw)  # warm-up: kernels loaded
    out = []
    for d in draws:
        t = time.perf_counter()
        ds = forecast(idata, n_draws=d, **kw)
        out.append({"draws": int(ds.sizes["draw"]), "wall_s": round(time.perf_counter() - t, 3)})
    return {"forecast": out, "peak_rss_mb": round(_vm("VmHWM") / MB, 1)}


def _sweep_spec(points: int, patients: int):
    from prt_sim.experiments import Design, Factor, Outcome, SweepSpec

    return SweepSpec(
        name="scaling",
        factors=(
            Factor("params.exposure_learning", range=(0.05, 0.3)),
            Factor("cohort.cat_mean", range=(0.1, 0.4)),
        ),
        design=Design("sobol", n=points),
        outcomes=(Outcome("pain_free", "pain_free", days=(30, 395)),),
        n_patients=patients,
        horizon_days=400,
        seed=1,
    )


def _sweeps(points: list[int], patients: int) -> list[dict]:
    from prt_sim.experiments import PoolExecutor, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="prt_scaling_"))
    rows = []
    try:
        for w in (1, 2):
            with PoolExecutor(w) as ex:
                run_sweep(_sweep_spec(2 * w, 50), tmp / f"warm{w}", executor=ex, batch_size=1,
                          progress=False)  # fmt: skip
                for n in points:
                    t = time.perf_counter()
                    run = run_sweep(_sweep_spec(n, patients), tmp / f"w{w}_n{n}", executor=ex,
                                    progress=False)  # fmt: skip
                    rows.append({"workers": w, "points": n, "wall_s": round(time.perf_counter() - t, 3),
                                 "tasks_per_min": run.summary["tasks_per_min"]})  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _run_child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the figure ----------------------------------------------------------------------------------
def _figure(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prt_sim.io import save_figure

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout="constrained")
    sim = res["simulate"]
    n = [r["patients"] for r in sim]
    ax = axes[0, 0]
    for key, label in (("simulate_s", "simulate()"), ("cohort_s", "cohort build")):
        y = [r[key] for r in sim]
        ax.loglog(n, y, "o-", label=f"{label}: exponent {exponent(n, y):.2f}")
    ax.set(xlabel="patients (365 simulated days)", ylabel="wall time (s)",
           title="Simulator wall time")  # fmt: skip
    ax = axes[0, 1]
    peak = [r["peak_rss_mb"] for r in sim]
    need = [r["result_mb"] + r["cohort_mb"] for r in sim]
    ax.loglog(n, peak, "o-", label=f"peak RSS of the process: exponent {exponent(n, peak):.2f}")
    above = [max(1e-3, r["peak_rss_mb"] - r["rss_before_mb"]) for r in sim]
    ax.loglog(n, above, "o-", label=f"peak above the start: exponent {exponent(n, above):.2f}")
    ax.loglog(n, need, "s--", label=f"result + cohort arrays: exponent {exponent(n, need):.2f}")
    work = [max(0.1, r["simulate_working_mb"]) for r in sim]
    ax.loglog(n, work, "^-", label=f"simulate() working memory (max {max(work):.0f} MB)")
    ax.loglog(n, [r["rss_before_mb"] for r in sim], ":", color="0.5",
              label="before the run (interpreter, libraries)")  # fmt: skip
    ax.set(xlabel="patients", ylabel="MB", title='Simulator peak memory (record="instruments")')
    ax = axes[1, 0]
    d = [r["draws"] for r in res["forecast"]]
    y = [r["wall_s"] for r in res["forecast"]]
    ax.loglog(d, y, "o-", label=f"exponent {exponent(d, y):.2f}")
    ax.set(xlabel="posterior draws", ylabel="wall time (s)",
           title=f"Forecast: 3 arms x 100 patients x {res['forecast_years']:g} years")  # fmt: skip
    ax = axes[1, 1]
    for w in (1, 2):
        rows = [r for r in res["sweep"] if r["workers"] == w]
        p, y = [r["points"] for r in rows], [r["wall_s"] for r in rows]
        ax.loglog(
            p, y, "o-", label=f"{w} worker{'s' if w > 1 else ''}: exponent {exponent(p, y):.2f}"
        )
    ax.set(xlabel="sweep points (tasks)", ylabel="wall time (s)",
           title=f"Sweep: {res['sweep_patients']} patients x 400 days per task")  # fmt: skip
    for ax in axes.flat:
        ax.legend(frameon=False, fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-patients", type=float, default=1e6,
                    help="largest simulator size: 1e6 (default) or up to 1e7")  # fmt: skip
    ap.add_argument("--draws", default="100,200,500,1000", help="forecast draws")
    ap.add_argument("--years", type=float, default=5.0, help="forecast years after post")
    ap.add_argument("--points", default="8,16,32,64,128", help="sweep points (powers of two)")
    ap.add_argument("--sweep-patients", type=int, default=500, help="patients per sweep task")
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "scaling.png"))
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "simulate":
            print(json.dumps(_child_simulate(int(rest[0]))))
        else:
            draws = [int(v) for v in rest[0].split(",")]
            print(json.dumps(_child_forecast(draws, float(rest[1]), int(rest[2]))))
        return
    top = int(args.max_patients)
    if not 1e3 <= top <= 1e7:
        raise SystemExit("--max-patients must be between 1e3 and 1e7")
    sizes = [int(v) for v in (1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7) if v <= top]
    draws = args.draws
    points = [int(v) for v in args.points.split(",")]
    if args.quick:
        sizes, draws, points, args.years, args.sweep_patients = (
            [1000, 3000, 10000],
            "10,20",
            [4, 8],
            0.5,
            100,
        )
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    sim = []
    for n in sizes:
        r = _run_child(["simulate", str(n)])
        sim.append(r)
        print(f"simulate {n:>10,d} patients: cohort {r['cohort_s']:7.2f} s, simulate "
              f"{r['simulate_s']:7.2f} s ({r['patient_days_per_s']:.3g} patient-days/s), peak RSS "
              f"{r['peak_rss_mb']:8.1f} MB (before {r['rss_before_mb']:.0f}; cohort build peak "
              f"{r['cohort_build_peak_mb']:.0f}; result {r['result_mb']:.1f}, cohort "
              f"{r['cohort_mb']:.1f}; simulate() working {r['simulate_working_mb']:.1f})",
              flush=True)  # fmt: skip
    fc = _run_child(["forecast", draws, str(args.years), "100"])
    for r in fc["forecast"]:
        print(f"forecast {r['draws']:>5d} draws: {r['wall_s']:7.2f} s", flush=True)
    sw = _sweeps(points, args.sweep_patients)
    for r in sw:
        print(f"sweep {r['points']:>4d} points on {r['workers']} worker(s): {r['wall_s']:7.2f} s "
              f"({r['tasks_per_min']:.0f} tasks/min)", flush=True)  # fmt: skip
    n = [r["patients"] for r in sim]
    working = [r["simulate_working_mb"] for r in sim]
    res = {
        "simulate": sim,
        "forecast": fc["forecast"],
        "forecast_years": args.years,
        "forecast_patients_per_draw": 100,
        "forecast_peak_rss_mb": fc["peak_rss_mb"],
        "sweep": sw,
        "sweep_patients": args.sweep_patients,
        "exponents": {
            "simulate_time_vs_patients": round(exponent(n, [r["simulate_s"] for r in sim]), 3),
            "cohort_time_vs_patients": round(exponent(n, [r["cohort_s"] for r in sim]), 3),
            "peak_rss_vs_patients": round(exponent(n, [r["peak_rss_mb"] for r in sim]), 3),
            "peak_above_start_vs_patients": round(
                exponent(n, [max(1e-3, r["peak_rss_mb"] - r["rss_before_mb"]) for r in sim]), 3
            ),  # fmt: skip
            "forecast_time_vs_draws": round(
                exponent(
                    [r["draws"] for r in fc["forecast"]], [r["wall_s"] for r in fc["forecast"]]
                ),
                3,
            ),  # fmt: skip
            **{
                f"sweep_time_vs_points_{w}_worker{'s' if w > 1 else ''}": round(
                    exponent(
                        [r["points"] for r in sw if r["workers"] == w],
                        [r["wall_s"] for r in sw if r["workers"] == w],
                    ),
                    3,
                )  # fmt: skip
                for w in (1, 2)
            },
        },
        "simulate_large_n_exponent": round(
            exponent(n[-3:], [r["simulate_s"] for r in sim][-3:]), 3
        ),
        "simulate_working_memory_mb": working,
        "max_simulate_working_memory_mb": max(working),
        "bytes_per_patient_above_start_at_max": round(
            1e6 * (sim[-1]["peak_rss_mb"] - sim[-1]["rss_before_mb"]) / n[-1], 1
        ),  # fmt: skip
        "patient_level_fit_scaling": "not measured",
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpus": len(os.sched_getaffinity(0)),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "figure": args.figure,
    }
    _figure(res, Path(args.figure))
    for k, v in res["exponents"].items():
        print(f"exponent {k:<40s} {v:6.3f}")
    print(f"simulate() working memory beyond its result: {working} MB")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
