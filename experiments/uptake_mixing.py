"""Does the treated/untreated mixture of the PRT arm slow the patient-level sampler?

Usage: ``python experiments/uptake_mixing.py [--data PATH] [--mechanism inhibition]
[--uptake 1.0] [--quick]``

45 of the 50 PRT patients started treatment, and the public records do not say which: the
patient-level likelihood mixes each PRT patient's treated and untreated trajectories with their
probability of having started (until 0.9.0 the protocol's uptake, 0.9, for every patient; since
0.10.0 from whether they left a record during treatment, :mod:`prt_sim.data.uptake`). This refits
one mechanism with the PRT arm's uptake set to ``--uptake`` (1.0: every patient treated, no
mixture; 4 x ``--draws`` draws, 500 tuning, seed 1) and sets its convergence beside that of the
mixture fit saved by experiments/compare_mechanisms.py (``out/mechanisms/<mechanism>.nc``),
parameter by parameter. A diagnostic of the sampler, not a
model to use: with uptake 1 the five patients who never started are read as treated.

The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import prt_sim as ps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WATCH = ("exposure_learning", "edu_efficacy_median", "edu_efficacy_log_sd", "safety_decay")


def with_uptake(data, uptake: float):
    """The same records with the PRT protocol's uptake replaced."""
    protocols = dict(data.protocols)
    protocols["prt"] = protocols["prt"].replace(uptake=uptake)
    return data.replace(protocols=protocols)


def ess_of(idata, names=WATCH) -> dict:
    import arviz as az

    s = az.summary(idata, var_names=list(names), kind="diagnostics", round_to="none")
    return {n: {"ess_bulk": float(s.loc[n, "ess_bulk"]), "r_hat": float(s.loc[n, "r_hat"])}
            for n in names}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ashar2022")
    ap.add_argument("--mechanism", default="inhibition", choices=ps.mechanism_names())
    ap.add_argument("--uptake", type=float, default=1.0)
    ap.add_argument("--fits", type=Path, default=ROOT / "out" / "mechanisms")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--draws", type=int, default=1000, help="draws per chain (1000)")
    ap.add_argument("--quick", action="store_true", help="2 x 30 draws (a smoke run)")
    args = ap.parse_args()
    draws, tune, chains = (30, 30, 2) if args.quick else (args.draws, 500, 4)
    data = with_uptake(ps.data.load_ashar2022(args.data), args.uptake)
    tm = ps.TrialModel(data, mechanism=args.mechanism)
    t0 = time.perf_counter()
    idata = tm.fit(draws=draws, tune=tune, chains=chains, seed=args.seed, progress="lines")
    out = {
        "prt_sim_version": ps.__version__,
        "mechanism": args.mechanism,
        "uptake": args.uptake,
        "wall_s": round(time.perf_counter() - t0, 1),
        "diagnostics": tm.diagnostics(idata),
        "watched": ess_of(idata),
    }
    saved = args.fits / f"{args.mechanism}.nc"
    if saved.exists() and not args.quick:
        mix = ps.TrialModel(ps.data.load_ashar2022(args.data), mechanism=args.mechanism)
        fit = mix.load_fit(saved)
        out["mixture_fit"] = {"diagnostics": mix.diagnostics(fit), "watched": ess_of(fit)}
    for name, row in out["watched"].items():
        before = out.get("mixture_fit", {}).get("watched", {}).get(name)
        print(f"{name:22s} bulk ESS {row['ess_bulk']:7.0f}"
              + (f"  (mixture fit: {before['ess_bulk']:.0f})" if before else ""))  # fmt: skip
    print(json.dumps(out, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
