"""Durability: how long does PRT's relief last, and do boosters or maintenance help?

Run with ``python examples/forecast_durability.py [output_folder] [--fit out/reproduce/fit.nc]
[--draws 250 --tune 250]``.
Without ``--fit`` it fits the published trial figures with a small sampling budget first (about
a minute; the diagnostics say whether that short run converged: use ``prt-sim reproduce`` for the
real thing).
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

import prt_sim as ps
from prt_sim import plotting
from prt_sim.forecasting import Scenario, forecast, forecast_bands, save_forecast

ap = argparse.ArgumentParser()
ap.add_argument("out", nargs="?", default="out/durability")
ap.add_argument("--fit", help="a saved fit (InferenceData .nc) to reuse")
ap.add_argument("--draws", type=int, default=250, help="draws per chain of the short fit (250)")
ap.add_argument("--tune", type=int, default=250, help="tuning draws per chain (250)")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

# 1. A posterior: reuse a saved fit, or fit the published arm-level figures briefly.
if args.fit:
    idata = ps.TrialModel.load(args.fit)
else:
    tm = ps.TrialModel(ps.data.published_ashar2022())
    idata = tm.fit(draws=args.draws, tune=args.tune, chains=2, seed=1, progress=False)
    d = tm.diagnostics(idata)
    print(
        f"short fit: max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
        f"{d['divergences']} divergences ({'converged' if d['converged'] else 'not converged'})"
    )

# 2. Scenarios: the PRT arm as randomized, with yearly boosters, with a self-guided app, and
#    through a stressful year; the same patients and flare-ups in every scenario.
scenarios = [
    "as_randomized",
    Scenario(name="yearly_boosters", booster_months=(6, 12, 24, 36)),
    Scenario(name="app", maintenance_dose=0.02, maintenance_half_life=365),
    Scenario(
        name="hard_year",
        stress=(ps.StressPeriod(start_day=400, duration_days=365, flare_multiplier=3.0),),
    ),
]
ds = forecast(idata, ["prt"], scenarios=scenarios, horizon_years=4, n_draws=100, seed=1)
save_forecast(ds, out / "forecast.nc")

# 3. Headline numbers: posterior median [90% interval] for a PRT arm of the trial's size.
b = forecast_bands(ds)
print("PRT, pain-free or nearly (0-1) and relapsed among post responders:")
for sc in ds["scenario"].values:
    for years in (1.0, 4.0):
        r = b.sel(arm="prt", scenario=sc, time=years)
        pf, rel = r["pain_free"], r["relapsed"]
        print(
            f"  {sc:<16s} {years:g} y: pain-free {100 * float(pf.sel(stat='median')):.0f}% "
            f"[{100 * float(pf.sel(stat='lo')):.0f}, {100 * float(pf.sel(stat='hi')):.0f}], "
            f"relapsed {100 * float(rel.sel(stat='median')):.0f}%"
        )

# 4. Any cohort under the same posterior: a more catastrophizing population (PCS about 18 at
#    entry instead of 13). Fields changed from the fit's population are set; the rest follow
#    each posterior draw.
worried = forecast(
    idata, ["prt"], cohort=ps.CohortSpec(cat_mean=0.35), horizon_years=1, n_draws=100, seed=1
)
r = forecast_bands(worried).sel(arm="prt", scenario="as_randomized", time=1.0, stat="median")
print(f"a more catastrophizing PRT arm, 1 y: pain-free {100 * float(r['pain_free']):.0f}%")

# 5. Pictures.
fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
plotting.plot_forecast(ds, "pain_free", ax=axes[0])
plotting.plot_relapse_survival(ds, ax=axes[1])
plotting.plot_forecast_latent(ds, "prt", scenario="as_randomized", ax=axes[2])
fig.savefig(out / "durability.png", dpi=100)
print(f"wrote {out / 'forecast.nc'} and {out / 'durability.png'}")
