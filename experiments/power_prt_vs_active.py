"""Power and assurance of a new trial: PRT against an active comparator (attention-matched pain
education without exposure), ANCOVA of weekly pain 12 months after post.

Usage: ``python experiments/power_prt_vs_active.py [--out DIR] [--trials 1000]``

1. Power at the model's default parameters over n per arm (experiments/power_prt_vs_active.toml),
   and the n per arm for 80% power (probit curve, bootstrap over trials).
2. Assurance: the same design with one parameter draw per simulated trial: the draws of a saved
   fit if one exists under out/ (out/**/fit.nc), else draws from the prior of the model of the
   published Ashar 2022 figures (no fit is needed for a prior). Assurance at the same sizes and
   at the n solved for power, and the n for 80% assurance if it is reached.

Writes DIR/power.nc, DIR/assurance.nc, DIR/summary.json and docs/figures/power_prt_vs_active.png;
the last line printed is a JSON object of the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
NAME = "power_prt_vs_active"


def _rows(ds) -> list[dict]:
    q = ds.attrs["quantity"]
    return [
        {
            "n_per_arm": int(n),
            q: round(float(ds[q].sel(n_per_arm=n)), 4),
            "se": round(float(ds[f"{q}_se"].sel(n_per_arm=n)), 4),
            "mean_estimate": round(float(ds["mean_estimate"].sel(n_per_arm=n)), 3),
        }
        for n in ds["n_per_arm"].values
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "experiments" / NAME))
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / f"{NAME}.png"))
    ap.add_argument("--trials", type=int, default=None, help="default: the spec's (1000)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    import matplotlib.pyplot as plt

    from prt_sim.experiments import Parameters, load_power_spec, run_power
    from prt_sim.io import save_figure, write_json
    from prt_sim.plotting.power import plot_power_curve

    out = Path(args.out)
    spec = load_power_spec(ROOT / "experiments" / f"{NAME}.toml")
    if args.trials:
        spec = spec.replace(trials=args.trials)
    t0 = time.perf_counter()
    power = run_power(spec, out=out / "power.nc", progress=not args.quiet)
    t_power = time.perf_counter() - t0

    fits = sorted((ROOT / "out").rglob("fit.nc")) if (ROOT / "out").is_dir() else []
    if fits:
        par, source = Parameters(source="fit", fit=str(fits[0])), f"posterior of {fits[0]}"
    else:
        par = Parameters(source="prior")
        source = "prior of the published-data model (no saved fit under out/)"
    extra = (power.sample_size.n_required,) if power.sample_size.reached else ()
    a_spec = spec.replace(parameters=par, n_per_arm=spec.n_per_arm + extra)
    t1 = time.perf_counter()
    assurance = run_power(a_spec, out=out / "assurance.nc", progress=not args.quiet)
    t_assurance = time.perf_counter() - t1

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    plot_power_curve(power.data, ax=ax, label="power (default parameters)", color="#1f77b4")
    plot_power_curve(assurance.data, ax=ax, label="assurance (prior draws)" if not fits
                     else "assurance (posterior draws)", color="#d62728")  # fmt: skip
    ax.set_title(f"PRT vs education-only comparator, ANCOVA of pain at 12 months, "
                 f"{spec.trials} trials per n", fontsize=9)  # fmt: skip
    save_figure(fig, args.figure)

    ps, as_ = power.sample_size, assurance.sample_size
    summary = {
        "experiment": NAME,
        "design": spec.to_dict(),
        "power_parameters": "model defaults (prt_sim.ModelParams()), the Ashar 2022 baseline population",
        "assurance_parameters": source,
        "power": _rows(power.data),
        "n_for_power": ps.to_dict(),
        "assurance": _rows(assurance.data),
        "assurance_at_n_for_power": (
            {
                "n_per_arm": ps.n_required,
                "assurance": round(
                    float(assurance.data["assurance"].sel(n_per_arm=ps.n_required)), 4
                ),
                "se": round(float(assurance.data["assurance_se"].sel(n_per_arm=ps.n_required)), 4),
            }
            if ps.reached
            else None
        ),  # fmt: skip
        "n_for_assurance": as_.to_dict(),
        "wall_s_power": round(t_power, 1),
        "wall_s_assurance": round(t_assurance, 1),
        "patients_simulated": power.summary["patients_simulated"]
        + assurance.summary["patients_simulated"],
        "figure": str(Path(args.figure).relative_to(ROOT))
        if Path(args.figure).is_relative_to(ROOT)
        else args.figure,
    }
    write_json(out / "summary.json", summary)
    for what, rows in (("power", summary["power"]), ("assurance", summary["assurance"])):
        print(
            what
            + ": "
            + ", ".join(f"n={r['n_per_arm']}: {r[what]:.3f}+/-{r['se']:.3f}" for r in rows)
        )
    print(f"n for 80% power: {ps.to_dict()}")
    print(f"assurance at that n: {summary['assurance_at_n_for_power']}")
    print(f"n for 80% assurance: {as_.to_dict()}")
    print(json.dumps({k: v for k, v in summary.items() if k != "design"}))


if __name__ == "__main__":
    main()
