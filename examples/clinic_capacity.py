"""How many PRT therapists does a region need, and which format reaches most people?

Compares 2, 4 and 8 therapists and the four formats (individual in person, telehealth, groups,
self-guided material) for a region referring a given number of patients a month, with the same
random numbers in every scenario (common random numbers: the same referrals, the same patients,
the same no-show draws and flare-ups), and draws waits, utilisation, pain-free patients per
therapist-year and the cost per pain-free patient.

Run with ``python examples/clinic_capacity.py [output_folder] [--per-month 40]``; with the
defaults it takes about 15 seconds. The costs below are illustrative planner's inputs.
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt

from prt_sim.clinic import ClinicSpec, Group, Mix, Referrals, Staffing, Waitlist, run_clinic
from prt_sim.io import save_figure
from prt_sim.plotting import clinic as cplot

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("out", nargs="?", default="out/clinic_capacity", help="output folder")
ap.add_argument("--per-month", type=float, default=40.0, help="referrals per month")
ap.add_argument("--days", type=int, default=365, help="days of clinic operation")
ap.add_argument("--replications", type=int, default=3, help="replications per scenario")
ap.add_argument("--seed", type=int, default=1, help="seed shared by every scenario")
args = ap.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)

THERAPISTS = (2, 4, 8)
FORMATS = ("individual", "telehealth", "group", "self_guided")
base = ClinicSpec(
    days=args.days,
    warmup_days=56,  # 8 weeks to fill the caseloads from an empty clinic
    referrals=Referrals(per_month=(args.per_month,)),
    waitlist=Waitlist(patience_days=180.0),  # a planner's assumption: mean patience 6 months
    staffing=Staffing(caseload=15, cost_per_year=90_000.0),  # illustrative salary + overheads
    group=Group(groups_per_therapist=4),  # 4 of a therapist's 6 daily slots on meeting days
)

results, summaries = {}, {}
for n in THERAPISTS:
    for f in FORMATS:
        spec = base.replace(
            staffing=base.staffing.replace(therapists=n),
            mix=Mix(**{k: float(k == f) for k in FORMATS}),
        )
        label = f"{n} therapists / {f}"
        res = run_clinic(spec, seed=args.seed, replications=args.replications)
        results[label] = res
        summaries[label] = res.summary()

print(f"{args.per_month:g} referrals a month, {args.days} days, {args.replications} replications")
head = (
    f"{'scenario':<26s}{'wait (d)':>9s}{'> target':>9s}{'waiting@end':>12s}"
    f"{'places used':>12s}{'slots used':>11s}{'pain-free/therapist-yr':>23s}{'cost/pain-free':>16s}"
)
print(head)
for label, s in summaries.items():

    def m(v, fmt, scale=1.0, s=s):
        x = scale * float(s[v].sel(stat="mean"))
        return format(x, fmt) if x == x else "-"  # NaN: nobody waitlisted (self-guided)

    places = "seat_utilisation" if label.endswith("group") else "caseload_utilisation"
    print(
        f"{label:<26s}{m('wait_mean', '.1f'):>9s}{m('share_over_target', '.0%'):>9s}"
        f"{m('still_waiting', '.0f'):>12s}{m(places, '.0%'):>12s}"
        f"{m('hours_utilisation', '.0%'):>11s}{m('pain_free_per_therapist_year', '.1f'):>23s}"
        f"{m('cost_per_pain_free', ',.0f'):>16s}"
    )

fig, axes = plt.subplots(2, 2, figsize=(13, 8), layout="constrained")
for ax, kpi in zip(
    axes.flat,
    ("wait_mean", "hours_utilisation", "pain_free_per_therapist_year", "cost_per_pain_free"),
):
    cplot.plot_clinic_kpi(summaries, kpi, ax=ax)
save_figure(fig, out / "capacity.png")

busiest = results[f"{THERAPISTS[0]} therapists / individual"]
fig, axes = plt.subplots(1, 3, figsize=(15, 4), layout="constrained")
cplot.plot_queue(busiest, ax=axes[0])
cplot.plot_waits(busiest, ax=axes[1])
cplot.plot_population_pain(busiest, ax=axes[2])
save_figure(fig, out / "two_therapists_individual.png")
busiest.save(out / "two_therapists_individual.nc")
print(f"wrote capacity.png, two_therapists_individual.png and .nc to {out}")
