"""One patient's future: a personalized 5-year forecast from a row of the trial's public file.

Run with ``python examples/forecast_patient.py FIT.nc [--data PATH] [--patient ID] [--out DIR]``.

FIT.nc is a patient-level fit, e.g. from
``prt-sim fit --data ../shared/data/ashar2022 --level patient --out out/patient_fit.nc``
(about 15 minutes on 2 cores) or ``experiments/compare_mechanisms.py`` (out/mechanisms/).

The question: given what one patient reported at baseline (and, if you like, during
treatment), what does the model expect for them over five years under PRT, placebo or usual
care? Look at the figure: the line is the posterior median of their expected weekly pain, the
band the 90% interval over the fitted population's posterior draws; the printout compares the
forecast from the baseline alone with the one that also uses their treatment-phase records.
Try: another ``--patient`` (a high-fear one), or ``--upto week2``.
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import prt_sim as ps
from prt_sim.forecasting import forecast_patient
from prt_sim.plotting import plot_patient_forecast

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
ap.add_argument("fit", help="a patient-level fit (.nc)")
ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ashar2022"))
ap.add_argument("--patient", type=int, default=None, help="patient id (default: first PRT one)")
ap.add_argument("--upto", default="post", help="last visit of the records used (after: t1)")
ap.add_argument("--draws", type=int, default=60, help="posterior draws")
ap.add_argument("--out", default="out/patient")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

try:
    idata = ps.TrialModel.load(args.fit)
    data = ps.data.load_ashar2022(args.data)
    rec = data.records
    pid = args.patient
    if pid is None:
        pid = int(rec["patient"].values[np.flatnonzero(rec["arm"].values == "prt")[0]])
    row = rec.sel(patient=pid) if pid in rec["patient"].values else None
    kw = dict(n_draws=args.draws, n_effects=256, n_futures=20, seed=1)
    base = forecast_patient(idata, data, pid, upto="t1", **kw)
    full = forecast_patient(idata, data, pid, upto=args.upto, **kw)
except ps.PrtSimError as e:  # a bad option or file: say what is allowed, no traceback
    raise SystemExit(f"error: {e}") from None

pain = row["pain_avg"].values
seen = {v: int(p) for v, p in zip(row["visit"].values, pain) if np.isfinite(p)}
print(f"patient {pid} ({str(row['arm'].values)} arm); weekly pain recorded: {seen}")
for label, ds in (("baseline only", base), (f"records up to {args.upto}", full)):
    print(f"\nfrom {label} (median importance ESS {float(ds['ess'].median()):.0f} of 256):")
    for proto in ds["protocol"].values:
        m = ds["mean_pain"].sel(protocol=proto)
        f = ds["pain_free"].sel(protocol=proto)
        y1, y5 = (float(m.sel(time=t, method="nearest").median()) for t in (1, 5))
        p5 = float(f.sel(time=5, method="nearest").mean())
        print(f"  {proto:<11s} expected pain {y1:.1f} at 1 year, {y5:.1f} at 5 years; "
              f"chance of pain 0-1 at 5 years {100 * p5:.0f}%")  # fmt: skip

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
plot_patient_forecast(base, ax=axes[0])
axes[0].set_title(f"patient {pid}: from the baseline alone", fontsize=9)
plot_patient_forecast(full, ax=axes[1])
axes[1].set_title(f"patient {pid}: from the records up to {args.upto}", fontsize=9)
ps.io.save_figure(fig, out / "patient_forecast.png")
print(f"\nwrote {out / 'patient_forecast.png'}")
