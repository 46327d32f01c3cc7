"""Which parameters decide whether PRT's relief lasts? Sobol first-order and total indices of
the 5-year durability outcomes under PRT, over the mechanism's parameters and the constants the
model fixes by hand (each from half to twice its default), from a resumable Saltelli sweep.

Usage: ``python experiments/sensitivity.py [--out DIR] [--workers 2]`` (the sweep of
experiments/sensitivity.toml; writes docs/figures/sensitivity.png and DIR/summary.json; the last
line printed is a JSON object of the indices).
"""

from __future__ import annotations

from _common import finish, parse, run

NAME = "sensitivity"
# (outcome, study day, label): 1 and 5 years after post (day 30)
TARGETS = (
    ("pain_free", 1856, "pain-free share at 5 years"),
    ("pain", 1856, "mean pain at 5 years"),
    ("relapsed", 1856, "relapsed by 5 years (of post responders)"),
    ("pain_free", 395, "pain-free share at 1 year"),
)


def main() -> None:
    args = parse(NAME, __doc__)
    spec, res = run(NAME, args)

    import matplotlib.pyplot as plt

    from prt_sim.experiments.sensitivity import sweep_sobol
    from prt_sim.plotting.sensitivity import plot_sobol

    fig, axes = plt.subplots(2, 2, figsize=(12, 9), layout="constrained")
    rows, flags = [], {}
    for ax, (outcome, day, label) in zip(axes.flat, TARGETS):
        s = sweep_sobol(res.data, outcome, day=day, seed=spec.seed)
        plot_sobol(s, ax=ax, title=label)
        flags[f"{outcome}@{day}"] = {
            "converged": bool(s.attrs["converged"]),
            "max_change": round(float(s.attrs["max_change"]), 4),
            "flags": {
                f"{f}/{i}": str(s["flag"].sel(factor=f, index=i).item())
                for f in s["factor"].values
                for i in s["index"].values
                if str(s["flag"].sel(factor=f, index=i).item())
            },
        }
        for f in s["factor"].values:
            for i in s["index"].values:
                rows.append({
                    "outcome": outcome, "day": int(day), "factor": str(f), "index": str(i),
                    "mean": round(float(s["estimate"].sel(factor=f, index=i)), 4),
                    "se": round(float((s["high"] - s["low"]).sel(factor=f, index=i)) / 3.92, 4),
                    "low": round(float(s["low"].sel(factor=f, index=i)), 4),
                    "high": round(float(s["high"].sel(factor=f, index=i)), 4),
                })  # fmt: skip
    fig.suptitle(
        f"Sobol indices under PRT (Saltelli n = {spec.design.n}, {spec.n_patients} patients per "
        "point, common random numbers; bars: 95% bootstrap intervals)",
        fontsize=9,
    )
    finish(NAME, args, spec, res, fig, rows, extra={"checks": flags})


if __name__ == "__main__":
    main()
