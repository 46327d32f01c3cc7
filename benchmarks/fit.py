"""Fit benchmarks: NUTS on the skeleton (arm and patient level) vs SMC-ABC on the simulator.

Usage: ``python benchmarks/fit.py [--quick] [--skip-patient] [--skip-smc]``

Measures, on this machine:
(a) the arm-level fit of the published figures (4 chains x 1000 draws, 500 tuning, nutpie),
    everything included (model build, compile, sampling), once in a fresh process with an
    empty PyTensor compile cache (cold) and once with the cache filled (warm);
(b) the patient-level fit of the public data (151 patients, every visit), same settings;
(c) the same arm-level data fitted with ``pm.Simulator`` + SMC-ABC on the full stochastic
    simulator (the baseline a modeler would otherwise try), and effective samples per second
    of both methods side by side.
The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ashar2022"

_CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import prt_sim as ps
level, draws, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[4]
tune = None if sys.argv[3] == "default" else int(sys.argv[3])  # default: the model's own
if level == "arm":
    data = ps.data.published_ashar2022()
else:
    data = ps.data.load_ashar2022_wide(data_dir)
tm = ps.TrialModel(data, level=level)
t1 = time.perf_counter()
idata = tm.fit(draws=draws, tune=tune, chains=4, seed=1, progress=False)
t2 = time.perf_counter()
import arviz as az
d = tm.diagnostics(idata)
names = [v.name for v in tm.model.free_RVs]
ess = az.ess(idata, var_names=names).to_array()
print(json.dumps({"total_s": t2 - t0, "import_s": t1 - t0, "fit_s": t2 - t1,
                  "min_ess_bulk": d["min_ess_bulk"], "max_rhat": d["max_rhat"],
                  "divergences": d["divergences"], "converged": d["converged"],
                  "mean_leapfrog": float(idata.sample_stats["n_steps"].mean())}))
"""


class _Skip(Exception):
    pass


def run_fit(level: str, draws: int, tune: int, compiledir: str) -> dict:
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir}")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, level, str(draws), str(tune), str(DATA)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_smc(draws: int, max_seconds: float) -> dict:
    """SMC-ABC on the arm-level published means with the full simulator."""
    warnings.filterwarnings("ignore")
    import arviz as az
    import numpy as np
    import pymc as pm

    import prt_sim as ps
    from prt_sim.inference import DEFAULT_PRIORS
    from prt_sim.inference.checks import arm_stats
    from prt_sim.inference.trial_model import TrialModel

    data = ps.data.published_ashar2022()
    tm = TrialModel(data)
    s = data.summaries
    visits = ["baseline", "post", "m1", "m2", "m3", "m6", "m12"]
    obs = np.concatenate(
        [
            s["pain_avg_mean"].sel(visit=visits).values.ravel(),
            s["pain_free_k"].sel(visit=["post", "m12"]).values.ravel()
            / s["pain_free_n_observed"].sel(visit=["post", "m12"]).values.ravel(),
        ]
    )
    names = list(DEFAULT_PRIORS)
    calls = {"n": 0}
    from prt_sim.inference.posterior import design_visits

    pvisits, responses = design_visits(data)
    horizon = max(v.day for v in pvisits)

    def simulator(rng, *theta, size=None):
        calls["n"] += 1
        vals = dict(zip(names, (float(np.asarray(t).ravel()[0]) for t in theta)))
        params = tm.params.replace(
            **{k: v for k, v in vals.items() if DEFAULT_PRIORS[k].target == "params"}
        )
        spec = tm.spec.replace(
            **{k: v for k, v in vals.items() if DEFAULT_PRIORS[k].target == "spec"}
        )
        seed = int(rng.integers(0, 2**62))
        means, frees = [], []
        for a, arm in enumerate(data.arms):
            prot = data.protocols[arm]
            if prot.self_guided:
                from prt_sim.inference.posterior import scale_self_guided

                prot = scale_self_guided(prot, vals["self_guided_scale"])
            n = int(data.n_randomized[arm])
            cohort = ps.Cohort.from_trial_baseline(
                n, seed=seed, spec=spec, params=params, id_offset=a * 10**6
            )
            vv = tuple(
                ps.Visit(name=v.name, day=v.day, response=responses[arm][v.name]) for v in pvisits
            )
            res = ps.simulate(
                cohort, prot, horizon_days=horizon, seed=seed, params=params, visits=vv
            )
            st = {v: arm_stats(res.instruments, v, data.composite_visits) for v in visits}
            means.append([st[v]["pain_mean"] for v in visits])
            frees.append([st[v]["pain_free_share"] for v in ("post", "m12")])
        return np.concatenate([np.ravel(means), np.ravel(frees)])

    priors = tm.priors  # validated: truncated to each parameter's allowed range
    with pm.Model():
        theta = [priors[k].dist(k) for k in names]
        pm.Simulator(
            "y",
            simulator,
            params=theta,
            distance="gaussian",
            sum_stat="identity",
            epsilon=0.3,
            observed=obs,
        )
        t = time.perf_counter()
        idata = pm.sample_smc(
            draws=draws,
            chains=1,
            cores=1,
            progressbar=False,
            random_seed=1,
            compute_convergence_checks=False,
        )
        wall = time.perf_counter() - t
    ess = az.ess(idata, var_names=names).to_array().values
    return {
        "wall_s": wall,
        "draws": draws,
        "simulator_calls": calls["n"],
        "min_ess": float(np.min(ess)),
        "median_ess": float(np.median(ess)),
        "min_ess_per_s": float(np.min(ess) / wall),
        "stages": int(idata.sample_stats.sizes.get("stage", 0))
        if "stage" in idata.sample_stats.sizes
        else None,
        "over_budget": wall > max_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-patient", action="store_true")
    ap.add_argument("--skip-smc", action="store_true")
    ap.add_argument("--smc-draws", type=int, default=300, help="SMC particles (default 300)")
    ap.add_argument(
        "--skip-nuts",
        action="store_true",
        help="skip (a) and (b); give --nuts-ess-per-s from an earlier run instead",
    )
    ap.add_argument("--nuts-ess-per-s", type=float, default=None)
    args = ap.parse_args()
    draws, tune = (100, 100) if args.quick else (1000, "default")
    out: dict = {
        "quick": args.quick,
        "draws": draws,
        "tune": tune,
        "chains": 4,
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg()[0],
    }
    cache = tempfile.mkdtemp(prefix="prt_sim_bench_cache_")
    if args.skip_nuts:
        out["arm_ess_per_s"] = args.nuts_ess_per_s
    try:
        if args.skip_nuts:
            raise _Skip
        print("(a) arm-level fit, cold compile cache ...", flush=True)
        cold = run_fit("arm", draws, tune, cache)
        print("    ", cold, flush=True)
        print("(a) arm-level fit, warm compile cache ...", flush=True)
        warm = run_fit("arm", draws, tune, cache)
        print("    ", warm, flush=True)
        out["arm_cold_s"] = round(cold["total_s"], 1)
        out["arm_warm_s"] = round(warm["total_s"], 1)
        out["arm_warm_fit_s"] = round(warm["fit_s"], 1)
        out["arm_min_ess_bulk"] = warm["min_ess_bulk"]
        out["arm_max_rhat"] = warm["max_rhat"]
        out["arm_divergences"] = warm["divergences"]
        out["arm_mean_leapfrog"] = round(warm["mean_leapfrog"], 2)
        out["arm_ess_per_s"] = round(warm["min_ess_bulk"] / warm["total_s"], 2)
        out["target_arm_warm_s"] = 60
        out["met_arm_warm"] = warm["total_s"] <= 60
        if not args.skip_patient and DATA.exists():
            print("(b) patient-level fit (warm cache) ...", flush=True)
            run_fit("patient", 20, 20, cache) if not args.quick else None  # fill the cache
            pat = run_fit("patient", draws, tune, cache)
            print("    ", pat, flush=True)
            out["patient_s"] = round(pat["total_s"], 1)
            out["patient_min_ess_bulk"] = pat["min_ess_bulk"]
            out["patient_max_rhat"] = pat["max_rhat"]
            out["patient_divergences"] = pat["divergences"]
            out["patient_mean_leapfrog"] = round(pat["mean_leapfrog"], 2)
            out["target_patient_s"] = 600
            out["met_patient"] = pat["total_s"] <= 600
    except _Skip:
        pass
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if not args.skip_smc:
        print("(c) SMC-ABC with the full simulator ...", flush=True)
        smc = run_smc(draws=100 if args.quick else args.smc_draws, max_seconds=3600)
        print("    ", smc, flush=True)
        out.update(
            {f"smc_{k}": (round(v, 3) if isinstance(v, float) else v) for k, v in smc.items()}
        )
        out["nuts_vs_smc_ess_per_s"] = round(
            out["arm_ess_per_s"] / max(smc["min_ess_per_s"], 1e-12), 1
        )
    out["loadavg_after"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
