"""Dose-response of PRT: pain-free share at post, 12 months and 5 years against the number of PRT
therapy sessions (0-16), with the model's default parameters.

Usage: ``python experiments/dose_response.py [--out DIR] [--workers 2]`` (a resumable sweep of
experiments/dose_response.toml; writes docs/figures/dose_response.png and DIR/summary.json;
the last line printed is a JSON object of the numbers).
"""

from __future__ import annotations

from _common import finish, parse, run, table

NAME = "dose_response"


def main() -> None:
    args = parse(NAME, __doc__)
    spec, res = run(NAME, args)
    ds = res.data.isel(arm=0, population=0)

    import matplotlib.pyplot as plt

    from prt_sim.plotting.sweep import plot_sweep

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    labels = {30: "post (day 30)", 61: "day 61 (a month after 16 sessions)",
              395: "12 months after post", 1856: "5 years after post"}  # fmt: skip
    pf = ds["pain_free"].assign_coords(pain_free_day=[labels[int(d)] for d in
                                                      ds["pain_free_day"].values])  # fmt: skip
    plot_sweep(pf, "sessions", hue="pain_free_day", ax=axes[0], ylabel="pain-free share (pain 0-1)")
    axes[0].set_xlabel("PRT therapy sessions (after the physician education session)")
    axes[0].axvline(8, color="0.6", lw=0.8, ls=":")
    axes[0].legend(title=None, frameon=False, fontsize=8)
    plot_sweep(ds["pain"], "sessions", hue="pain_day", ax=axes[1], ylabel="mean weekly pain (0-10)",
               hue_format="day {}")  # fmt: skip
    axes[1].set_xlabel("PRT therapy sessions")
    axes[1].axvline(8, color="0.6", lw=0.8, ls=":")
    fig.suptitle("Dose-response (model defaults; mean of 4 replicates x 2,000 patients, 95% MC intervals; "
                 "dotted: the trial's 8)", fontsize=9)  # fmt: skip
    rows = table(ds["pain_free"], outcome="pain_free") + table(ds["pain"], outcome="pain")
    finish(NAME, args, spec, res, fig, rows)


if __name__ == "__main__":
    main()
