"""Lesson 5: How long do PRT's gains last? It depends on what the treatment changed in memory.

The question: the trial stopped at 12 months; what follows depends on how learned safety is
stored. prt_sim has five answers (docs/mechanisms.md, docs/model.md 4b), each the same daily
update with terms switched on or off: inhibition (safety fades with avoidance and flares),
consolidation (practised safety moves into a trace that forgets 10x slower), schema_update (no
forgetting; only flares read as damage pull back), fear_mediated (pain read through fear),
natural_course (inhibition, and each patient's schema moves to a level of their own, treated or
not). We run PRT and usual care for 5 years under each with FIXED ILLUSTRATIVE parameters
(defaults plus each mechanism's own default, its prior median; not fitted), then print what the
real comparison of patient-level fits (PSIS-LOO, stacking; docs/mechanisms.json) concluded.

Look at the figure: pain-free share (left) and mean pain (right) per mechanism (colour; stacking
weight in the legend), PRT solid, usual care dashed. The PRT curves stay close through the
trial's 12 months and fan out after them (shaded): the trial can hardly tell them apart. Under
consolidation usual care improves too; the fitted mechanisms differ less than these
illustrative ones (the printout sets each beside its fitted 5-year forecast).

Try: ``--mechanisms inhibition natural_course``: the same memory with and without each
patient's own drift; what does a drift of mean 0 do to usual care's pain-free share?

Run with ``python examples/05_how_long_gains_last.py [output_folder] [options]`` (about 10 s;
the very first run also compiles the simulator, about 30 s).
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import prt_sim as ps  # noqa: E402

COMPARISON = Path(__file__).resolve().parents[1] / "docs" / "mechanisms.json"
ARMS = {"prt": ps.protocols.PRT(), "usual_care": ps.protocols.UsualCare()}
POST = ps.timeline.POST_DAY  # study day of the post-treatment visit (day 0 = T1)
N = sum(ps.data.published_ashar2022().n_randomized.values())  # the trial's patients

ap = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument(
    "--mechanisms", nargs="+", choices=ps.mechanism_names(), default=ps.mechanism_names()
)
ap.add_argument("--n", type=int, default=3000, help="patients per arm (default 3000)")
ap.add_argument("--years", type=float, default=5.0, help="years after treatment (default 5)")
ap.add_argument("--comparison", type=Path, default=COMPARISON, help="compare_mechanisms output")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# 1. The same patients (same seed) under each mechanism, so only the memory differs. params()
#    sets the terms a mechanism fixes and gives those it switches on their default; the cohort
#    takes the params too (each patient's baseline is their untreated steady state).
end = POST + round(365 * args.years)
days = sorted({0, *range(POST, end, 61), end})  # baseline, post, then about every 2 months
visits = tuple(ps.Visit(name=f"day{d}", day=d) for d in days)
years = (np.array(days) - POST) / 365
default = ps.ModelParams()
curves, own = {}, {}
try:
    for name in args.mechanisms:
        mech = ps.mechanism(name)
        params = mech.params()
        own[name] = [f"{k} {getattr(params, k):g}" for k in {**mech.fixed, **mech.free}
                     if getattr(params, k) != getattr(default, k)]  # fmt: skip
        cohort = ps.Cohort.from_trial_baseline(args.n, seed=args.seed, params=params)
        for arm, protocol in ARMS.items():
            s = ps.simulate(cohort, protocol, horizon_days=end, seed=args.seed, params=params,
                            visits=visits).summary()  # fmt: skip
            curves[name, arm] = (100 * s["pain_free"].values, s["pain_avg_mean"].values)
except ps.PrtSimError as e:
    raise SystemExit(f"error: {e}") from None
# 2. The real comparison (patient-level fits, about an hour): read, never rerun here.
try:
    comp = json.loads(args.comparison.read_text())
except (OSError, ValueError):
    comp = None
fits = comp["mechanisms"] if comp else {}
key = comp.get("stacking_from", "comparison") if comp else "comparison"  # the weights used
# the stacked forecast's weights (converged fits only)
weights = (comp.get("stacking_weights") or {m: c["weight"] for m, c in comp[key].items()}) if comp else {}  # fmt: skip

# 3. What was found.
d = default
print(f"Illustrative parameters, not fitted: defaults (safety_decay {d.safety_decay:g}/day, "
      f"reinstatement {d.reinstatement:g}, stable_decay_ratio {d.stable_decay_ratio:g}); "
      f"{args.n} patients per arm, seed {args.seed}.")  # fmt: skip
i1 = int(np.argmin(abs(years - 1)))
for name in args.mechanisms:
    (pf, _), (uc, _) = curves[name, "prt"], curves[name, "usual_care"]
    fitted = ""
    if name in fits:
        f5 = {k: 100 * v for k, v in fits[name]["forecast"]["prt"]["5"]["pain_free"].items()}
        fitted = f"; fitted, PRT at 5 y: {f5['median']:.0f}% [{f5['lo90']:.0f}, {f5['hi90']:.0f}]"
    print(f"  {name} ({', '.join(own[name]) or 'defaults only'}): PRT pain-free {pf[1]:.0f}% at "
          f"post, {pf[i1]:.0f}% at 1 y, {pf[-1]:.0f}% at {years[-1]:g} y; usual care "
          f"{uc[1]:.0f}% -> {uc[-1]:.0f}%{fitted}")  # fmt: skip
if comp is None:  # say how to make it rather than fail: the simulation above stands alone
    print(f"No model comparison at {args.comparison}: produce it with "
          "`python experiments/compare_mechanisms.py` (about an hour on 2 cores).")  # fmt: skip
else:
    rows = sorted(comp[key].items(), key=lambda kv: kv[1]["rank"])
    behind = "; ".join(f"{m} {c['elpd_diff']:.1f} ± {c['dse']:.1f} behind" + (
        " (under 2 SE: no clear difference)" if c["elpd_diff"] < 2 * c["dse"] else "")
        for m, c in rows[1:])  # fmt: skip
    stack = ", ".join(f"{m} {weights.get(m, c['weight']):.2f}" for m, c in rows)
    print(f"Model comparison (PSIS-LOO, patient-level fits{', random effects integrated out' if key != 'comparison' else ''}, prt_sim {comp['prt_sim_version']}): "
          f"{rows[0][0]} predicts left-out patients best; {behind}. "
          f"Stacking weights: {stack}.")  # fmt: skip
    ks = [f["integrated_loo" if key != "comparison" else "loo"]["pareto_k_gt_0.7"]
          for f in fits.values()]  # fmt: skip
    bad = [f"{m} (min bulk ESS {f['diagnostics']['min_ess_bulk']:.0f} < 400)"
           for m, f in fits.items() if not f["converged"]]  # fmt: skip
    print(f"Caveats: Pareto k > 0.7 for {min(ks)}-{max(ks)} of the {N} patients per fit"
          + (", so these LOO estimates are unreliable" if max(ks) > N // 10 else "")
          + f"; not converged (so not stacked): {', '.join(bad) or 'none'}. Stacking picks the "
          "mix that predicts best, so close mechanisms can get no weight: read the elpd "
          "differences and their SEs, not the weights alone.")  # fmt: skip

# 4. The figure: one colour per mechanism, solid PRT, dashed usual care.
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
for name in args.mechanisms:
    label = f"{name} (stacking weight {weights[name]:.2f})" if name in weights else name
    for arm, style in (("prt", "-"), ("usual_care", "--")):
        for ax, y in zip(axes, curves[name, arm], strict=True):
            ax.plot(
                years,
                y,
                style,
                color=f"C{ps.mechanism_names().index(name)}",
                label=label if arm == "prt" else None,
            )
for ax, ylabel in zip(axes, ("pain 0-1 (% of patients)", "mean pain (0-10 points)"), strict=True):
    ax.axvspan(1.0, years[-1], color="0.92", lw=0, zorder=0, label="beyond the trial's 12 months")
    ax.set_xlabel("years after post-treatment (baseline at left)")
    ax.set_ylabel(ylabel)
axes[0].plot([], [], "k-", label="PRT")
axes[0].plot([], [], "k--", label="usual care")
axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize="x-small", loc="upper right")
title = "Each memory mechanism, illustrative parameters (not fitted); stacking weights from "
fig.suptitle(title + "patient-level fits (docs/mechanisms.json)", fontsize="medium")
print(f"wrote {ps.io.save_figure(fig, out / '05_how_long_gains_last.png')}")
