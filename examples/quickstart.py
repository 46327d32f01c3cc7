"""Quickstart: simulate the Ashar 2022 trial arms and look at the results.

Run with ``python examples/quickstart.py [output_folder]``; it takes a few seconds.
"""

import sys
from pathlib import Path

import prt_sim as ps
from prt_sim import plotting

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/quickstart")

# 1. A cohort like the trial's sample at baseline (pain, fear, catastrophizing, beliefs...).
cohort = ps.Cohort.from_trial_baseline(n=3000, seed=1)

# 2. Simulate each arm day by day through the 12-month follow-up.
arms = {
    "prt": ps.protocols.PRT(),
    "placebo": ps.protocols.OpenLabelPlacebo(),
    "usual_care": ps.protocols.UsualCare(),
}
results = {
    name: ps.simulate(cohort, protocol=p, horizon_days=400, seed=1) for name, p in arms.items()
}

# 3. Results are labeled xarray Datasets: instruments over (patient, visit).
post = results["prt"].instruments.sel(visit="post")
print(
    f"PRT at post: mean pain {float(post.pain_avg.mean()):.2f}, "
    f"pain 0-1 in {100 * float((post.pain_avg <= 1).mean()):.0f}% of patients"
)
summary = results["prt"].summary()[["pain_avg_mean", "pain_free", "tsk11_mean"]]
print(summary.to_dataframe().astype(float).round(2))  # float32 in storage: shown as decimals

# 4. A custom protocol: PRT plus booster sessions at 6 and 12 months, simulated for 2 years.
boosted = ps.protocols.PRT().with_boosters([180, 365])
two_years = ps.simulate(
    cohort, boosted, horizon_days=730, seed=1, visits=ps.trial_visits(extra_days=(540, 730))
)
print(
    "pain at 2 years with boosters:",
    round(float(two_years.instruments.pain_avg.sel(visit="day730").mean()), 2),
)

# 5. Full daily history for a few patients, and figures.
daily = ps.simulate(cohort[:6], protocol=arms["prt"], horizon_days=120, seed=1, record="daily")
out.mkdir(parents=True, exist_ok=True)
fig, ax = plotting.plot_arm_means(results, "pain_avg")  # every plot returns (fig, ax)
fig.savefig(out / "pain_by_arm.png")
fig, ax = plotting.plot_daily(daily, patients=6)
fig.savefig(out / "daily_prt.png")

# 6. Save and load losslessly (netCDF with provenance).
results["prt"].save(out / "prt.nc")
again = ps.SimulationResult.load(out / "prt.nc")
assert again.instruments.identical(results["prt"].instruments)
print(f"wrote figures and prt.nc to {out}")
