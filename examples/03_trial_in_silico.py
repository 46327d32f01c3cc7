"""Lesson 3: a trial in silico: how close is the model to Ashar 2022, and how much is luck?

The question: the trial's three arms (PRT, open-label placebo, usual care) simulated at its
size, about 50 patients each, follow-ups missing as often as in the trial, beside the published
figures; then the trial rerun with 500 seeds: how much does the PRT-minus-usual-care difference
move just because other patients and flare-ups are drawn (sampling variation)? The model runs at
its hand-set default parameters, not a fit to these figures (``prt-sim reproduce`` fits them):
the printout says plainly where the two differ.

Look at the figure: (a) mean pain per visit: published (circles), one simulated trial (lines,
90% interval of the mean) and a large cohort (dashed: the model's answer without sampling
noise); (b) the pain 0-1 share (missing counted as not pain-free, as published); (c, d) the
PRT-minus-usual-care difference in the 500 trials, the large cohort's value (black) and the
published one (red). A published figure at the spread's edge is one the model rarely gives.

Try: ``--visit m12`` for the spread of the difference at 12 months instead of post.

Run with ``python examples/03_trial_in_silico.py [output_folder] [options]`` (about 15 s; the
very first run also compiles the simulator and the trial batches, up to a minute).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim import plotting  # noqa: E402
from prt_sim.experiments import Endpoint, PowerSpec, simulate_trials  # noqa: E402

FOLLOW = ("post", "m1", "m2", "m3", "m6", "m12")
ap = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument("--seed", type=int, default=1, help="seed of the trial shown and of the spread")
ap.add_argument("--trials", type=int, default=500, help="in-silico trials for the spread (>= 10)")
ap.add_argument("--big", type=int, default=20000, help="patients per arm of the large cohort")
ap.add_argument("--visit", default="post", choices=FOLLOW, help="visit of the spread panels")
args = ap.parse_args()
out = Path(args.out)

pub = ps.data.published_ashar2022().summaries
ARMS = list(pub["arm"].values)  # prt, placebo, usual_care
n_rand = {a: int(pub["n_randomized"].sel(arm=a)) for a in ARMS}
day_of = {v: int(d) for v, d in zip(pub["visit"].values, pub["day"].values)}
n_seen = {(a, v): float(pub["pain_avg_n"].sel(arm=a, visit=v)) for a in ARMS for v in FOLLOW}
# Every figure is keyed (arm, "pain" or "pain 0-1", visit); pain 0-1 is a share of randomized.
published = {(a, "pain", v): float(pub["pain_avg_mean"].sel(arm=a, visit=v)) for a in ARMS
             for v in ("baseline", *FOLLOW)}  # fmt: skip
published |= {(a, "pain 0-1", v): float(pub["pain_free_k"].sel(arm=a, visit=v)) / n_rand[a]
              for a in ARMS for v in ("post", "m12")}  # fmt: skip


def run_arm(arm, n):
    """One arm of n patients (arms never share patients), follow-ups missing as in the trial."""
    visits = tuple(v.replace(response=n_seen.get((arm, v.name), n_rand[arm]) / n_rand[arm])
                   for v in ps.trial_visits(weekly=False))  # fmt: skip
    cohort = ps.Cohort.from_trial_baseline(n, seed=args.seed, id_offset=ARMS.index(arm) * 10**6)
    res = ps.simulate(cohort, arm, horizon_days=395, seed=args.seed, visits=visits)
    p = res.instruments["pain_avg"]  # the published figures' twins; baseline = (eligibility+T1)/2
    f = {(arm, "pain", "baseline"): float(p.sel(visit=["eligibility", "t1"]).mean())}
    f |= {(arm, "pain", v): float(p.sel(visit=v).mean()) for v in FOLLOW}
    return res, f | {(arm, "pain 0-1", v): float((p.sel(visit=v) <= 1).sum()) / n for v in FOLLOW}


try:
    out.mkdir(parents=True, exist_ok=True)  # fail early on a bad output folder
    runs = {a: run_arm(a, n_rand[a]) for a in ARMS}
    trial = {k: x for _, f in runs.values() for k, x in f.items()}
    big = {k: x for a in ARMS for k, x in run_arm(a, args.big)[1].items()}
    day = day_of[args.visit]
    spec = PowerSpec(n_per_arm=(50,), visits=(day,), trials=args.trials, seed=args.seed,
                     endpoint=Endpoint("pain_avg", day=day))  # fmt: skip
    _, follow = simulate_trials(spec, 0, args.trials)  # (trial, [prt, usual_care], patient)
except (ps.PrtSimError, OSError) as e:
    raise SystemExit(f"error: {e}") from None
# Follow-ups missing at each arm's published rate, as in the trial shown (a seeded generator).
share = np.array([[n_seen[a, args.visit] / n_rand[a]] for a in ("prt", "usual_care")])
follow[np.random.default_rng(args.seed).random(follow.shape) >= share] = np.nan

print(f"model defaults (hand-set, not fitted to these figures) vs Ashar 2022: published / "
      f"this trial (seed {args.seed}) / large cohort")  # fmt: skip
for a in ARMS:
    print(f"  {a}: " + "; ".join(f"{m} {v} " + " / ".join(
        f"{s[a, m, v]:.2f}" if m == "pain" else f"{s[a, m, v]:.0%}" for s in (published, trial,
        big)) for m in ("pain", "pain 0-1") for v in ("post", "m12")))  # fmt: skip
# The large cohort outside the published 95% interval of a mean (SD / sqrt(n)) or a share.
se = (pub["pain_avg_sd"] / np.sqrt(pub["pain_avg_n"])).to_series()
off = [f"{a} {m} {v} ({big[a, m, v]:.2f} vs {x:.2f})" for (a, m, v), x in published.items()
       if abs(big[a, m, v] - x)
       > 1.96 * (se[a, v] if m == "pain" else np.sqrt(x * (1 - x) / n_rand[a]))]  # fmt: skip
print("large cohort outside the published 95% interval: " + ("; ".join(off) or "nowhere"))

plt.rcParams["axes.titlesize"] = 9
fig, axes = plt.subplots(2, 2, figsize=(13, 9), layout="constrained")
fig.suptitle("Ashar 2022 in silico with the model's default parameters (not a fit)")
ax, VIS = axes[0, 0], ("baseline", *FOLLOW)
plotting.plot_arm_means({a: r for a, (r, _) in runs.items()}, "pain_avg", ax=ax, observed={
    a: {day_of[v]: published[a, "pain", v] for v in VIS} for a in ARMS})  # fmt: skip
for a in ARMS:
    ax.plot([day_of[v] for v in VIS], [big[a, "pain", v] for v in VIS], "--", lw=1,
            color=plotting.arm_color(a))  # fmt: skip
ax.legend(fontsize=7, ncol=2)
ax.set_ylim(0, 7.5)  # room for the legend above the data
ax.set_title(f"(a) mean pain: published (circles), one trial (lines), {args.big} per arm (dashed)")
for k, (src, lab) in enumerate(((published, "published"), (trial, "this trial"),
                                (big, "large cohort"))):  # fmt: skip
    for i, a in enumerate(ARMS):
        axes[0, 1].bar(np.array([0, 4]) + i + (k - 1) * 0.28, [100 * src[a, "pain 0-1", v] for v
                       in ("post", "m12")], 0.28, alpha=(1.0, 0.6, 0.3)[k],
                       color=plotting.arm_color(a), label=f"{a}: {lab}")  # fmt: skip
axes[0, 1].set(xticks=[1, 5], xticklabels=["post (day 30)", "12 months (day 395)"],
               ylabel="pain 0-1 (% of randomized)", ylim=(0, 95))  # fmt: skip
axes[0, 1].legend(fontsize=7, ncol=3)
axes[0, 1].set_title("(b) pain 0-1, missing counted as not pain-free (as published)")
# PRT minus usual care in each in-silico trial (pain 0-1 share of the 50 randomized).
diffs = {"pain": np.nanmean(follow[:, 0], 1) - np.nanmean(follow[:, 1], 1),
         "pain 0-1": (follow[:, 0] <= 1).sum(1) / 50 - (follow[:, 1] <= 1).sum(1) / 50}  # fmt: skip
for k, (ax, (m, d)) in enumerate(zip(axes[1], diffs.items())):
    ref = big["prt", m, args.visit] - big["usual_care", m, args.visit]
    lo, hi = np.percentile(d, [2.5, 97.5])
    text = (f"PRT - usual care, {m} at {args.visit}: large cohort {ref:+.2f}; over "
            f"{args.trials} seeds of a 50-per-arm trial SD {d.std():.2f}, 95% in {lo:+.2f} to "
            f"{hi:+.2f}")  # fmt: skip
    step = 0.1 if m == "pain" else 1 / 50  # a share of 50 patients moves in steps of 1/50
    ax.hist(d, bins=np.arange(d.min() - step / 2, d.max() + step, step), color="0.75")
    ax.axvline(ref, color="k", lw=2, label="large cohort")
    if ("prt", m, args.visit) in published:
        paper = published["prt", m, args.visit] - published["usual_care", m, args.visit]
        as_big = np.mean(d <= paper) if m == "pain" else np.mean(d >= paper)  # as large a benefit
        text += (f"; published {paper:+.2f}: {'in' if lo <= paper <= hi else 'OUT'}side that "
                 f"range, a benefit as large in {as_big:.0%} of trials")  # fmt: skip
        ax.axvline(paper, color="C3", lw=2, label="published")
    print(text)
    ax.set(xlabel=f"PRT - usual care at {args.visit}: {m} ("
           + ("points, 0-10)" if m == "pain" else "share of randomized)"),
           ylabel=f"in-silico trials (of {args.trials})")  # fmt: skip
    ax.legend(fontsize=8)
    ax.set_title(f"({'cd'[k]}) the same trial with {args.trials} seeds, 50 per arm each")
path = ps.io.save_figure(fig, out / "03_trial_in_silico.png")
print(f"wrote {path}")
