"""Lesson 6: What if? Fewer sessions, boosters, or a more fearful population.

The question: a service wants to give PRT in fewer sessions, a manager asks whether boosters
are worth it, a clinician fears her patients are more fearful than the trial's. Which lever
moves the share pain-free (weekly pain 0-1 of 10) 12 months and 2 years after treatment most?
One small sweep of the library's experiments machinery (``prt_sim.experiments``,
docs/sweeps.md) answers all three: a grid over PRT therapy sessions (2, 4, 8 = the trial), each
run with three booster schedules and three populations (the trial's; "more fearful": TSK-11
fear one trial SD higher; "fear-avoidant": fear, catastrophizing and Oswestry disability each
one SD higher), the same patients everywhere (common random numbers). The model's default
parameters (hand-set, not fitted): these are the model's answers, not estimates.

Look at the figure: one panel per lever, the others held at the trial's PRT (8 sessions, no
booster, the trial's population); bars are pain-free shares 12 months and 2 years after post
(95% intervals over replicates), on one scale: the more a lever's bars differ, the more it
matters. The "more fearful" bars do not move: in this model fear reaches pain only through
avoidance, which raising ``fear_mean`` alone leaves as it is (docs/experiments.md).

Try: add 12 and 16 to ``SESSIONS`` (16 at most): do more sessions than the trial's keep paying
off at 2 years? The sweep is stored in ``<out>/06_what_if_sweep/``; a rerun only redraws.

Run with ``python examples/06_what_if.py [output_folder] [options]`` (about 25 s;
a minute the first time, while numba compiles).
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

import prt_sim as ps
from prt_sim.experiments import Arm, Design, Factor, Outcome, Population, SweepSpec, run_sweep
from prt_sim.plotting.sweep import plot_sweep

M6, M12, M24 = (ps.timeline.month_day(m) for m in (6, 12, 24))  # study days after post
SESSIONS = (2, 4, 8)  # PRT therapy sessions after the physician session; 8 is the trial
BOOSTERS = {"none": (), "6 months": (M6,), "6 + 12 months": (M6, M12)}
WHEN = ["12 months", "2 years"]
C = ps.CohortSpec()  # the trial's baseline population; "1 SD up" is its mean plus its SD
UP = {f: (f"{f}_mean", round(getattr(C, f"{f}_mean") + getattr(C, f"{f}_sd"), 3))
      for f in ("fear", "cat", "avoid")}  # fmt: skip
POPULATIONS = (
    Population("trial"),
    Population("more fearful", overrides=(UP["fear"],)),
    Population("fear-avoidant", overrides=tuple(UP.values())),  # catastrophizing, Oswestry too
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
    ap.add_argument("--patients", type=int, default=1000, help="patients per arm and task")
    ap.add_argument("--replicates", type=int, default=4, help="independent replicates")
    ap.add_argument("--executor", choices=("pool", "sequential"), default="pool",
                    help="pool: one process per CPU; sequential: this process (small runs)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=1, help="root seed of the sweep")
    args = ap.parse_args()
    if args.replicates < 2:
        ap.error("--replicates must be at least 2: the intervals come from their spread")
    out = Path(args.out)

    try:
        spec = SweepSpec(
            name="06_what_if",
            factors=(Factor("protocol.therapy_sessions", levels=SESSIONS, name="sessions"),),
            design=Design("grid"),  # every level; arms and populations run at every point
            arms=tuple(Arm(name, protocol="prt", boosters=d) for name, d in BOOSTERS.items()),
            populations=POPULATIONS,
            outcomes=(Outcome("pain_free", "pain_free", days=(M12, M24)),),
            replicates=args.replicates, n_patients=args.patients, horizon_days=M24, seed=args.seed,
            common_random_numbers=True,  # same patients everywhere: differences are the lever's
        )  # fmt: skip
        # One folder per spec: rerunning the same command resumes (or just redraws).
        run = run_sweep(spec, out / "06_what_if_sweep" / spec.hash, executor=args.executor)
    except ps.PrtSimError as e:
        raise SystemExit(f"error: {e}") from None
    if run.summary["failed_total"]:
        raise SystemExit(f"error: failed tasks: {run.data.attrs['failures']}")

    pf = run.data["pain_free"].rename(pain_free_day="after post")
    pf = pf.assign_coords({"after post": WHEN, "sessions": pf["sessions"].astype(int)})
    pf = pf.swap_dims(point="sessions")  # index the grid by its factor
    trial8 = pf.sel(sessions=8)  # the trial's 8 sessions
    levers = {  # lever: (results, the dimension it varies, the trial's level, axis label)
        "the number of sessions": (pf.sel(arm="none", population="trial"), "sessions", 8,
                                   "PRT therapy sessions"),
        "boosters": (trial8.sel(population="trial"), "arm", "none", "boosters (after post)"),
        "the population": (trial8.sel(arm="none"), "population", "trial",
                           "population (1 SD above the trial's)"),
    }  # fmt: skip

    # Each lever's change from the trial's PRT, replicate by replicate (the same patients).
    diff = {lv: 100 * (da - da.sel({x: ref})).drop_sel({x: ref})
            for lv, (da, x, ref, _) in levers.items()}  # fmt: skip
    mean = {lv: d.mean("replicate") for lv, d in diff.items()}
    half = max(float(d.std("replicate", ddof=1).max()) for d in diff.values())
    half *= 1.96 / args.replicates**0.5  # the widest 95% interval of any change
    swing = {lv: abs(m).max(levers[lv][1]).values for lv, m in mean.items()}  # largest change

    b = 100 * trial8.sel(arm="none", population="trial").mean("replicate").values
    print(f"Trial PRT (8 sessions, no booster), model defaults: {b[0]:.1f}% pain-free at "
          f"12 months, {b[1]:.1f}% at 2 years.")  # fmt: skip
    print(f"Changes in points at 12 months / 2 years (95% intervals within +/-{half:.1f}, "
          f"{args.replicates} replicates x {args.patients} patients):")  # fmt: skip
    for lv, m in mean.items():
        x = levers[lv][1]
        unit = " sessions" if x == "sessions" else ""
        print(f"  {lv}: " + "; ".join(f"{v}{unit} {a:+.1f} / {c:+.1f}"
                                      for v, (a, c) in zip(m[x].values, m.values)))  # fmt: skip
    for k, w in enumerate(WHEN):
        o = sorted(swing, key=lambda lv: swing[lv][k], reverse=True)
        tie = swing[o[1]][k] - swing[o[2]][k] < half  # closer than the intervals' width
        print(f"At {w}, {o[0]} matters most (up to {swing[o[0]][k]:.1f} points), then {o[1]} "
              f"({swing[o[1]][k]:.1f}){' and' if tie else ', then'} {o[2]} ({swing[o[2]][k]:.1f})"
              f"{', about equal' if tie else ''}.")  # fmt: skip
    fear = levers["the population"][0]
    if abs(100 * (fear.sel(population="more fearful") - fear.sel(population="trial"))).max() < 1:
        print("More fear alone changes almost nothing: in the model fear acts on pain only "
              "through avoidance, which that population keeps at the trial's level.")  # fmt: skip

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5), sharey=True, layout="constrained")
    for ax, (da, dim, _, label) in zip(axes, levers.values()):
        ylabel = "share pain-free (weekly pain <= 1)"
        plot_sweep(da, dim, hue="after post", kind="bar", ax=ax, ylabel=ylabel)
        ax.set_xlabel(label)
        ax.set_ylim(0, 1)  # one scale: the bars of all panels compare directly
    fig.suptitle(f"Which lever matters? Model defaults, {args.replicates} replicates x "
                 f"{args.patients} patients, 95% intervals over replicates", fontsize=10)  # fmt: skip
    path = out / "06_what_if.png"
    ps.io.save_figure(fig, path)
    print(f"wrote {path}")


if __name__ == "__main__":  # the sweep's worker processes import this file
    main()
