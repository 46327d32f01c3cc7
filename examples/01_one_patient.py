"""Lesson 1: one patient, one year: what does PRT change from day to day?

The question: follow one simulated patient with chronic back pain for a year, once under usual
care and once under Pain Reprocessing Therapy (PRT). It is the same patient with the same
seed, so the same flare-ups fall on the same days; only the treatment differs. How do pain,
the belief that pain signals damage, fear of movement, catastrophizing and avoidance move?

Look at the figure: five panels share one day axis (day 0 = the trial's first visit, T1).
Blue is PRT, green usual care (which adds a self-help workbook after post, day 30). Grey
ticks are PRT's sessions (days 1-28), red dashed lines the flare-ups. Under PRT the damage
belief falls session by session; fear follows it about a week later and avoidance later
still (the fear-avoidance loop running backwards), and pain falls once the belief drops below
the threat threshold. A flare-up is a spike of pain that fades in days, and it nudges the
belief back up a little: learned safety is fragile. Pain also drifts down before day 0 in
both runs: patients enter a trial during a bad stretch, which passes (regression to the mean).

Try: ``--patient 2``, a patient who (with seed 1) never starts PRT, as one in ten do in
the model; or ``--versus placebo`` to compare with the open-label placebo.

Run with ``python examples/01_one_patient.py [output_folder] [options]`` (about 7 s; the very
first run also compiles the simulator, about 30 s).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim import plotting  # noqa: E402

ap = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument("--patient", type=int, default=14, help="patient id in the seed's cohort (>= 0)")
ap.add_argument("--seed", type=int, default=1, help="one seed for the patient and the year")
ap.add_argument("--days", type=int, default=365, help="days to simulate after T1")
ap.add_argument("--versus", default="usual_care", choices=["usual_care", "placebo", "none"],
                help="the protocol PRT is compared with")  # fmt: skip
args = ap.parse_args()
if args.patient < 0:
    ap.error(f"--patient must be a patient id >= 0, not {args.patient}")
out = Path(args.out)

STATES = {
    "pain": "pain (0-10)",
    "belief": "damage belief (0-1)",
    "fear": "fear of movement (0-1)",
    "catastrophizing": "catastrophizing (0-1)",
    "avoidance": "avoidance (0-1)",
}
try:
    out.mkdir(parents=True, exist_ok=True)  # fail early on a bad output folder
    # id_offset picks patient k of the seed's cohort without building the others.
    patient = ps.Cohort.from_trial_baseline(1, seed=args.seed, id_offset=args.patient)
    runs = {
        name: ps.simulate(patient, name, horizon_days=args.days, seed=args.seed, record="daily")
        for name in ("prt", args.versus)
    }
except (ps.PrtSimError, OSError) as e:
    raise SystemExit(f"error: {e}") from None

day = runs["prt"].daily["day"].values
traj = {name: {v: r.daily[v].values[0] for v in STATES} for name, r in runs.items()}
# A flare-up's onset sets the flare intensity to its cap of 1; the days do not depend on the
# protocol because every random number is keyed by (seed, patient, day).
flare_days = day[runs["prt"].daily["flare"].values[0] >= 1.0]
session_days = [s["day"] for s in runs["prt"].config["protocol"]["sessions"]]
attended = int(runs["prt"].patients["sessions_attended"].values[0])
before = day < 0  # the pre-treatment days (eligibility to T1)
after = day > day[-1] - 60  # the last two months


def mean_at(name, var, mask):
    return float(np.mean(traj[name][var][mask]))


def half_way_day(var):
    """First day after T1 on which a PRT state has made half of its largest fall."""
    x, d = traj["prt"][var], day >= 0
    start = x[day == 0][0]
    target = start - 0.5 * (start - x[d].min())
    return int(day[d][np.argmax(x[d] <= target)])


vs = args.versus.replace("_", " ")
print(f"patient {args.patient} (seed {args.seed}): pain {mean_at('prt', 'pain', before):.1f}/10"
      f" and damage belief {traj['prt']['belief'][day == 0][0]:.2f} before treatment; "
      f"attended {attended} of {len(session_days)} PRT sessions")  # fmt: skip
print(f"last two months: mean pain {mean_at('prt', 'pain', after):.1f} under PRT, "
      f"{mean_at(args.versus, 'pain', after):.1f} under {vs}; damage belief "
      f"{traj['prt']['belief'][-1]:.2f} vs {traj[args.versus]['belief'][-1]:.2f}")  # fmt: skip
if attended:
    lags = {v: half_way_day(v) for v in ("belief", "fear", "avoidance")}
    print("under PRT each state made half of its fall by day "
          + ", ".join(f"{v} {d}" for v, d in lags.items())
          + ": fear follows the belief, avoidance follows fear")  # fmt: skip
else:
    print("this patient never started PRT, so both lines differ only by what the other arm adds")
if len(flare_days):
    k = np.searchsorted(day, flare_days)
    k = k[(k > 0) & (k + 1 < len(day))]
    rise = np.mean(traj["prt"]["pain"][k] - traj["prt"]["pain"][k - 1])
    print(f"{len(flare_days)} flare-ups, on the same days in both runs: on average pain rose "
          f"by {rise:.1f} points on the onset day")  # fmt: skip
    # After the last session the belief moves only by decay and reinstatement, so its step
    # on an onset day is the flare-up's own effect.
    k = k[day[k] > max(session_days)]
    if len(k):
        jump = {n: np.mean(t["belief"][k + 1] - t["belief"][k]) for n, t in traj.items()}
        print(f"after treatment each flare-up pushed the damage belief back up by "
              f"{jump['prt']:+.3f} under PRT and {jump[args.versus]:+.3f} under {vs} "
              "(0-1 scale): small steps that add up")  # fmt: skip
else:
    print("no flare-up in this patient's year")

fig, axes = plt.subplots(len(STATES), 1, figsize=(9, 10), sharex=True, layout="constrained")
for ax, (var, label) in zip(axes, STATES.items()):
    for d in session_days:
        ax.axvline(d, color="0.75", lw=0.8, zorder=0)
    for d in flare_days:
        ax.axvline(d, color="tab:red", ls="--", lw=0.8, alpha=0.7, zorder=0)
    for name in runs:
        ax.plot(day, traj[name][var], lw=1.0 if var == "pain" else 1.6,
                color=plotting.arm_color(name), label="PRT" if name == "prt" else vs)  # fmt: skip
    ax.set_ylabel(label)
    # Fear, catastrophizing and avoidance are zoomed to their own range (still 0-1 scales).
    top = {"pain": 10, "belief": 1}.get(var, 1.2 * max(t[var].max() for t in traj.values()))
    ax.set_ylim(0, top)
axes[0].plot([], [], color="0.75", label="PRT session")
axes[0].plot([], [], color="tab:red", ls="--", label="flare-up onset")
axes[0].legend(ncol=4, fontsize="small", loc="upper right")
axes[-1].set_xlabel("study day (0 = T1)")
fig.suptitle(f"One simulated patient (id {args.patient}, seed {args.seed}): PRT vs {vs}, "
             "same flare-ups")  # fmt: skip
path = ps.io.save_figure(fig, out / "01_one_patient.png")
print(f"wrote {path}")
