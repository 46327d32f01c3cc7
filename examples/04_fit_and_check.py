"""Lesson 4: Fit the model to the trial with PyMC, then check the fit against the trial.

The question: which parameter values make the model reproduce the published figures of the
Ashar 2022 trial (arm means, pain-free counts and questionnaires at every visit), and does the
fitted model, run through the full stochastic simulator, produce those figures again? A short
NUTS fit, its convergence diagnostics read aloud, a posterior predictive check, and how much the
data taught us about one parameter (posterior SD / prior SD).

Look at the figure: left, mean pain per arm over the trial: line and band are the median and
90% interval of trial-size replicates from the full simulator under posterior draws, open
circles the published figures (a good fit puts them inside the bands). Right, one parameter's
posterior (histogram) over its prior (line): the narrower the posterior, the more the data said.
This run is deliberately short: the printout says whether it converged (it usually has not).

Try: ``--draws 1000 --tune 500 --chains 4`` (a few minutes) and watch R-hat and ESS pass their
thresholds and the posterior settle.

Run with ``python examples/04_fit_and_check.py [output_folder] [options]`` (about 50 s; the
very first run on a machine also compiles the model: about 5 minutes).
"""

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim import plotting  # noqa: E402
from prt_sim.inference import DEFAULT_PRIORS  # noqa: E402
from prt_sim.inference.checks import ppc_coverage  # noqa: E402
from prt_sim.inference.patient_checks import contraction  # noqa: E402

MEASURES = ("pain_mean", "pain_free_share", "tsk11_mean", "pcs_mean")  # plot_ppc's measures

ap = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument("--draws", type=int, default=150, help="draws kept per chain (default 150)")
ap.add_argument("--tune", type=int, default=150, help="tuning draws per chain (default 150)")
ap.add_argument("--chains", type=int, default=2, help="chains (default 2, one per core)")
ap.add_argument("--ppc-draws", type=int, default=40, help="trial replicates (default 40)")
ap.add_argument("--measure", choices=MEASURES, default="pain_mean", help="figure's left panel")
ap.add_argument("--param", choices=sorted(DEFAULT_PRIORS), default="exposure_learning")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# 1. Fit the published arm-level figures (nutpie's NUTS; the likelihood runs the simulator's own
#    daily update on surrogate agents, docs/inference.md).
data = ps.data.published_ashar2022()
tm = ps.TrialModel(data)
t0 = time.perf_counter()
try:
    idata = tm.fit(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                   progress=False)  # fmt: skip
    t_fit = time.perf_counter() - t0
    # 2. Replicate the trial with the full stochastic simulator under posterior draws.
    idata = tm.sample_posterior_predictive(
        idata, n_draws=args.ppc_draws, seed=args.seed, progress=False
    )
except ps.PrtSimError as e:
    raise SystemExit(f"error: {e}") from None

# 3. Convergence, in plain words (tm.diagnostics: worst value over every fitted parameter).
d = tm.diagnostics(idata)
print(f"Fit: {d['chains']} chains x {d['draws']} draws after {args.tune} tuning draws, "
      f"{t_fit:.0f} s (model building and compiling included).")  # fmt: skip
print(f"  R-hat (do independent chains agree? want <= 1.01): worst {d['max_rhat']:.3f} "
      f"({d['worst_rhat']}).")  # fmt: skip
print(f"  bulk ESS (the draws are worth this many independent ones; want >= 400): lowest "
      f"{d['min_ess_bulk']:.0f} ({d['worst_ess']}).")  # fmt: skip
print(f"  divergences (steps where the sampler failed on sharp curvature; want 0): "
      f"{d['divergences']}.")  # fmt: skip
if d["converged"]:
    print("  Verdict: converged; the numbers below can be read as the posterior's.")
else:
    print("  Verdict: NOT converged; treat what follows as a sketch. Run longer (--draws 1000 "
          "--tune 500 --chains 4) or `prt-sim reproduce`, which does, before "
          "trusting it.")  # fmt: skip

# 4. Posterior predictive check: every published figure against its 90% predictive interval
#    (mean pain, pain 0-1 shares, TSK-11, PCS, Oswestry), counted by checks.ppc_coverage.
rows = tm.ppc_table(idata, level=0.9)
cov = ppc_coverage(rows)
misses = [f"{m['arm']} {m['visit']} {m['measure']} {m['observed']:.3g} vs "
          f"[{m['lo']:.3g}, {m['hi']:.3g}]" for m in cov["misses"]]  # fmt: skip
print(f"Posterior predictive ({args.ppc_draws} trial replicates with the full simulator; "
      "more replicates, firmer intervals): "
      f"{cov['inside']} of {cov['checked']} published figures inside their 90% "
      f"intervals (a calibrated model: about 90%). "
      f"Outside: {'; '.join(misses[:6]) or 'none'}"
      + (f" and {len(misses) - 6} more." if len(misses) > 6 else "."))  # fmt: skip
post = {r["arm"]: r["pain_free_itt"] for r in rows if r["visit"] == "post"}
print("  pain-free at post, all randomized: " + "; ".join(
    f"{a} observed {100 * c['observed']:.0f}%, predicted {100 * c['median']:.0f}% "
    f"[{100 * c['lo90']:.0f}, {100 * c['hi90']:.0f}]" for a, c in post.items()))  # fmt: skip

# 5. What the data said about each parameter: posterior SD / prior SD (1: nothing learned).
con = contraction(idata, seed=args.seed)
c = con[args.param]
print(f"{args.param}: prior median {c['prior_median']:.3g}, posterior median "
      f"{c['posterior_median']:.3g}; posterior SD / prior SD {c['ratio']:.2f} "
      f"({'informed by the data' if c['ratio'] < 0.7 else 'mostly the prior'}).")  # fmt: skip
flat = sorted(n for n, v in con.items() if v["ratio"] > 0.9)
print(f"Barely moved by the data (ratio > 0.9; their values are the priors'): "
      f"{', '.join(flat) or 'none'}.")  # fmt: skip

# 6. The figure: the check on the left, one parameter's prior and posterior on the right.
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
plotting.plot_ppc(idata, data, measure=args.measure, ax=axes[0])
plotting.plot_posterior(idata, args.param, prior=tm.priors[args.param], ax=axes[1], bins=25)
axes[1].set_title(f"{args.param}: posterior SD / prior SD = {c['ratio']:.2f}", fontsize="small")
state = "converged" if d["converged"] else "NOT converged: a sketch"
fig.suptitle(f"Short fit to the published trial figures ({state}; max R-hat "
             f"{d['max_rhat']:.2f}, min bulk ESS {d['min_ess_bulk']:.0f})")  # fmt: skip
print(f"wrote {ps.io.save_figure(fig, out / '04_fit_and_check.png')}")
