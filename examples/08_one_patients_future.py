"""Lesson 8: one patient's future, from a row of the trial's public file.

The question: given what one patient reported at baseline (and, if you like, during
treatment), what does the model expect for them over five years under PRT, placebo or usual
care, and how much do their own records narrow that down? For each population draw, 256
candidate patients are weighed by how well they explain the patient's records (the fit's own
likelihood), resampled, and each kept candidate's future is simulated.

Look at the figure: the line is the median of the patient's expected weekly pain, the band
its 90% interval; left, from the baseline alone; right, from the records up to ``--upto``.
The printout gives the chance of pain 0-1 at 5 years under each protocol.

Without ``--fit`` the population comes from the model's priors (before it has seen the trial):
a lesson in how the records alone move a forecast, not a clinical prediction. With a
patient-level fit (``prt-sim fit --data ../shared/data/ashar2022 --level patient``, about 15
minutes, or ``experiments/compare_mechanisms.py``) it is the fitted posterior.

A patient who improves, but more slowly than the fitted PRT patients do, is read as a slower
learner (a lower ``edu_z``): their long-run forecast can get worse even as their pain falls.

Try: another ``--patient`` (a high-fear one), ``--upto week2``, or a fit with ``--fit``.

Run with ``python examples/08_one_patients_future.py [output_folder] [options]`` (about 40 s
from the priors).
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import prt_sim as ps
from prt_sim.forecasting import forecast_patient
from prt_sim.plotting import plot_patient_forecast

ROOT = Path(__file__).resolve().parents[1]
VISITS = ("t1", "week1", "week2", "week3", "week4", "post", "week5", "week6", "week7", "week8")
VISITS += ("m1", "m2", "m3", "m6", "m12")  # the public file's visits after the baseline
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument("--fit", help="a patient-level fit (.nc); default: the model's priors")
ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ashar2022"))
ap.add_argument("--patient", type=int, default=None, help="patient id (default: first PRT one)")
ap.add_argument("--upto", default="post", choices=VISITS, help="last visit of the records used")
ap.add_argument("--draws", type=int, default=30, help="population draws")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

try:
    data = ps.data.load_ashar2022(args.data)
    if args.fit:
        idata, group = ps.TrialModel.load(args.fit), "posterior"
    else:
        tm = ps.TrialModel(data, level="patient")
        idata, group = tm.sample_prior(draws=max(args.draws, 1), seed=args.seed), "prior"
    rec = data.records
    pid = args.patient
    if pid is None:
        pid = int(rec["patient"].values[np.flatnonzero(rec["arm"].values == "prt")[0]])
    kw = dict(n_draws=args.draws, n_effects=256, n_futures=20, seed=args.seed, group=group)
    base = forecast_patient(idata, data, pid, upto="t1", **kw)
    full = forecast_patient(idata, data, pid, upto=args.upto, **kw)
except ps.PrtSimError as e:  # a bad option or file: say what is allowed, no traceback
    raise SystemExit(f"error: {e}") from None

row = rec.sel(patient=pid)
seen = {v: int(p) for v, p in zip(row["visit"].values, row["pain_avg"].values) if p == p}
print(f"patient {pid} ({str(row['arm'].values)} arm); weekly pain recorded: {seen}")
print(f"population: {'the fit ' + args.fit if args.fit else 'the priors (no fit given)'}")
for label, ds in (("baseline only", base), (f"records up to {args.upto}", full)):
    print(f"from {label} (median importance ESS {float(ds['ess'].median()):.0f} of 256):")
    for proto in ds["protocol"].values:
        m = ds["mean_pain"].sel(protocol=proto).sel(time=5, method="nearest")
        lo, mid, hi = (float(m.quantile(q)) for q in (0.05, 0.5, 0.95))
        p5 = float(ds["pain_free"].sel(protocol=proto).sel(time=5, method="nearest").mean())
        print(f"  {proto:<11s} expected pain at 5 years {mid:.1f} [{lo:.1f}, {hi:.1f}]; "
              f"chance of pain 0-1 {100 * p5:.0f}%")  # fmt: skip

effects = [e for e in ("pain_z", "edu_z", "placebo_z", "floor_z", "drift_z") if e in full]
z = {e: (float(base[e].mean()), float(full[e].mean())) for e in effects}
print("their random effects (SD units from the population), baseline only -> with the records: "
      + ", ".join(f"{e} {a:+.2f} -> {b:+.2f}" for e, (a, b) in z.items()))  # fmt: skip
arm = str(row["arm"].values)
w0, w1 = (
    np.ptp(
        ds["mean_pain"]
        .sel(protocol=arm)
        .sel(time=5, method="nearest")
        .quantile([0.05, 0.95])
        .values
    )
    for ds in (base, full)
)
print(f"in the {arm} arm, the records up to {args.upto} move the 90% interval of pain at 5 years "
      f"from {float(w0):.2f} to {float(w1):.2f} points wide")  # fmt: skip
if not args.fit:  # why the band hardly narrows here
    print("most of that width is the priors' uncertainty about the whole population, which one "
          "patient's records cannot remove; a fit to the trial (--fit) does")  # fmt: skip

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
plot_patient_forecast(base, ax=axes[0])
axes[0].set_title(f"patient {pid}: from the baseline alone", fontsize=9)
plot_patient_forecast(full, ax=axes[1])
axes[1].set_title(f"patient {pid}: from the records up to {args.upto}", fontsize=9)
path = ps.io.save_figure(fig, out / "08_one_patients_future.png")
print(f"wrote {path}")
