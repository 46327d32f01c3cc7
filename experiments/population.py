"""Population: PRT and usual care in populations with low or high baseline fear of movement and
catastrophizing (one trial SD below or above the Ashar 2022 means), pain-free share at post,
12 months and 5 years; model defaults otherwise.

Usage: ``python experiments/population.py [--out DIR] [--workers 2]`` (a resumable sweep of
experiments/population.toml; writes docs/figures/population.png and DIR/summary.json; the last
line printed is a JSON object of the numbers).
"""

from __future__ import annotations

from _common import finish, parse, run, table

NAME = "population"


def main() -> None:
    args = parse(NAME, __doc__)
    spec, res = run(NAME, args)
    ds = res.data.isel(population=0)
    lvl = {0.255: "low", 0.515: "high", 0.12: "low", 0.38: "high"}
    label = [f"fear {lvl[round(float(f), 3)]}, cat. {lvl[round(float(c), 3)]}"
             for f, c in zip(ds["fear"].values, ds["catastrophizing"].values)]  # fmt: skip
    ds = ds.assign_coords(group=("point", label))

    import matplotlib.pyplot as plt

    from prt_sim.plotting.sweep import plot_sweep

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    for ax, day, what in ((axes[0], 30, "post"), (axes[1], 1856, "5 years after post")):
        plot_sweep(ds["pain_free"].sel(pain_free_day=day).drop_vars(["fear", "catastrophizing"]),
                   "group", hue="arm", ax=ax, ylabel=f"pain-free share, {what}")  # fmt: skip
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Baseline fear and catastrophizing (model defaults; 4 replicates x 3,000 patients "
                 "per arm, 95% MC intervals)", fontsize=9)  # fmt: skip
    diff = ds["pain_free"].sel(arm="prt") - ds["pain_free"].sel(arm="usual_care")
    rows = table(ds["pain_free"], outcome="pain_free") + table(ds["pain"], outcome="pain")
    rows += table(diff, outcome="pain_free_prt_minus_usual_care")
    finish(NAME, args, spec, res, fig, rows)


if __name__ == "__main__":
    main()
