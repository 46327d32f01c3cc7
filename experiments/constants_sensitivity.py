"""How far does the 5-year forecast move with the constants the model fixes by hand?

Usage: ``python experiments/constants_sensitivity.py [--fits out/mechanisms] [--draws 100]
[--patients 1000] [--quick]``

For each patient-level fit of ``experiments/compare_mechanisms.py`` (by default the two
mechanisms with stacking weight: inhibition and consolidation), every constant the fit did not
estimate is set in turn to the low and the high end of its range, and the PRT arm is forecast
5 years after post with the same posterior draws, patients and seed (common random numbers):
the change in the pain-free share (pain 0-1, ITT) and in mean pain against the fit's own
constants is the constant's leverage on the forecast. The ranges are half to twice each default,
the ranges of experiments/sensitivity.toml (read from it, one source): none of these constants
has an external source in the project's notes. The fitted parameters are held at their
posterior: this is how much the forecast rests on each constant, not a refit under it.

Writes docs/constants_sensitivity.json and the ``constants-sensitivity`` block of
docs/forecasting.md; the last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning)

import numpy as np  # noqa: E402
from _common import mechanism_list  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim.forecasting import forecast  # noqa: E402
from prt_sim.inference.posterior import fit_configuration  # noqa: E402
from prt_sim.io import replace_block, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ashar2022"
#: The consolidated trace's forgetting relative to the labile one: hand-set (docs/model.md 4b).
EXTRA = {"stable_decay_ratio": (0.05, 0.2)}


def ranges(priors) -> dict[str, tuple[float, float]]:
    """Each fixed ``params.`` constant of experiments/sensitivity.toml that the fit does not
    estimate, with its (low, high); plus the consolidation ratio when the fit has that
    mechanism's rate."""
    spec = tomllib.loads((ROOT / "experiments" / "sensitivity.toml").read_text())
    out = {}
    for f in spec["factors"]:
        kind, _, name = f["target"].partition(".")
        if kind == "params" and name not in priors:
            out[name] = (float(f["range"][0]), float(f["range"][1]))
    if "consolidation_rate" in priors:
        out.update({k: v for k, v in EXTRA.items() if k not in priors})
    return out


def five_years(ds) -> dict[str, np.ndarray]:
    t = ds.sel(arm="prt", scenario="as_randomized").sel(time=5.0, method="nearest")
    return {"pain_free_itt": t["pain_free_itt"].values, "mean_pain": t["mean_pain"].values}


def q(v) -> dict[str, float]:
    lo, med, hi = np.nanquantile(v, [0.05, 0.5, 0.95])
    return {"median": round(float(med), 4), "lo": round(float(lo), 4), "hi": round(float(hi), 4)}


def run_fit(name: str, idata, data, args) -> dict:
    priors, params, spec = fit_configuration(idata)
    kw = dict(scenarios=["as_randomized"], horizon_years=5.0, n_patients=args.patients,
              n_draws=args.draws, seed=args.seed, progress=False)  # fmt: skip

    def fc(p):
        tm = ps.TrialModel(data, priors=priors, params=p, spec=spec, level="patient",
                           mechanism=name)  # fmt: skip
        return five_years(forecast(idata, ["prt"], model=tm, **kw))

    base = fc(params)
    rows = {}
    for const, (lo, hi) in ranges(priors).items():
        rows[const] = {"default": getattr(params, const)}
        for end, value in (("low", lo), ("high", hi)):
            got = fc(params.replace(**{const: value}))
            rows[const][end] = {
                "value": value,
                "pain_free_itt_change": q(got["pain_free_itt"] - base["pain_free_itt"]),
                "mean_pain_change": q(got["mean_pain"] - base["mean_pain"]),
            }
        print(f"  {name:<14s} {const:<20s} pain-free at 5 y: "
              + ", ".join(f"{e} {100 * rows[const][e]['pain_free_itt_change']['median']:+.1f}"
                          for e in ("low", "high")) + " points", file=sys.stderr)  # fmt: skip
    return {"base": {k: q(v) for k, v in base.items()}, "constants": rows}


def block(s: dict) -> str:
    lines = [
        "### How far the 5-year forecast moves with the constants fixed by hand",
        "",
        f"Measured {s['date']} by `experiments/constants_sensitivity.py` (prt_sim "
        f"{s['prt_sim_version']}, seed {s['seed']}, {s['draws']} posterior draws of a PRT arm of "
        f"{s['patients']} patients, 5 years after post). Each constant the patient-level fit "
        "did not estimate is set to half and to twice its default (the ranges of "
        "experiments/sensitivity.toml: an exploratory range, not one an external source "
        "gives), holding the fitted parameters at their posterior, the patients and the seed: the change in PRT's "
        "pain-free share (ITT) at 5 years, median [90% interval] over draws of the paired "
        "difference, in percentage points.",
        "",
    ]
    for name, r in s["fits"].items():
        b = r["base"]["pain_free_itt"]
        lines += [
            f"**{name}** (the fit's own constants: {100 * b['median']:.0f}% "
            f"[{100 * b['lo']:.0f}, {100 * b['hi']:.0f}]):",
            "",
            "| constant | default | at half | at twice |",
            "|---|---|---|---|",
        ]
        for c, row in sorted(
            r["constants"].items(),
            key=lambda kv: -max(abs(kv[1][e]["pain_free_itt_change"]["median"]) for e in ("low", "high")),
        ):  # fmt: skip
            cells = []
            for e in ("low", "high"):
                d = row[e]["pain_free_itt_change"]
                cells.append(
                    f"{100 * d['median']:+.1f} [{100 * d['lo']:+.1f}, {100 * d['hi']:+.1f}]"
                )
            lines.append(f"| `{c}` | {row['default']:g} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--fits", type=Path, default=ROOT / "out" / "mechanisms")
    ap.add_argument("--mechanisms", default="inhibition,consolidation")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--quick", action="store_true", help="4 draws of 100 patients, no docs")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.patients = 4, 100
    names = mechanism_list(args.mechanisms, ap)
    t0 = time.perf_counter()
    try:
        data = ps.data.load_ashar2022(args.data)
        fits = {}
        for m in names:
            path = args.fits / f"{m}.nc"
            if not path.exists():
                raise SystemExit(
                    f"error: no fit {path}: run `python experiments/compare_mechanisms.py` first"
                )
            fits[m] = run_fit(m, ps.TrialModel.load(path), data, args)
    except ps.PrtSimError as e:
        raise SystemExit(f"error: {e}") from None
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "prt_sim_version": ps.__version__,
        "seed": args.seed,
        "draws": args.draws,
        "patients": args.patients,
        "fits": fits,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    if not args.quick:
        write_json(args.out / "constants_sensitivity.json", summary)
        replace_block(args.out / "forecasting.md", "constants-sensitivity", block(summary))
    top = {
        m: max(
            (abs(r[e]["pain_free_itt_change"]["median"]), c)
            for c, r in f["constants"].items()
            for e in ("low", "high")
        )
        for m, f in fits.items()
    }
    print(json.dumps({"wall_s": summary["wall_s"],
                      "largest": {m: {"constant": c, "points": round(100 * v, 1)}
                                  for m, (v, c) in top.items()}}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
