"""Lesson 7: Access: too few therapists, and what waiting costs in pain.

The question: a region opens a PRT service and refers 40 patients a month to it. With 1, 2, 3
or 4 therapists, how long do patients wait, and how much pain do they carry because of it?
``prt_sim.clinic`` (docs/clinic.md) runs a SimPy clinic in which referred patients queue for a
place in a therapist's caseload, while the model's engine advances every referred patient's
pain day by day, waiting or treated. Every staffing level sees the same referrals and the same
patients (common random numbers), so the differences are the staffing's. The model's default
parameters; the clinic's settings are illustrative planner's inputs (docs/clinic.md).

Look at the figure: left, the mean wait (referral to a place) of those who got one, by number
of therapists; middle, patients on the waitlist through the year; right, the mean 7-day pain
of everyone referred so far. Below the clinic's capacity (roughly 15 new patients a month per
therapist with these settings) the list grows all year and the population's pain stays high;
above it, more therapists change little. Waiting does not make pain worse in the model: it
delays the relief.

Try: ``--format group`` (rolling groups of 8, two per therapist): does the same staff still
leave people waiting?

Run with ``python examples/07_access.py [output_folder] [options]`` (about 15 s).
"""

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import prt_sim as ps
from prt_sim.clinic import FORMATS, ClinicSpec, Mix, Referrals, Staffing, run_clinic
from prt_sim.plotting.clinic import plot_clinic_kpi

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
ap.add_argument("out", nargs="?", default="out/lessons", help="output folder")
ap.add_argument("--per-month", type=float, default=40.0, help="referrals per month")
ap.add_argument("--therapists", type=int, nargs="+", default=[1, 2, 3, 4], help="staffing levels")
ap.add_argument("--format", choices=FORMATS, default="individual", help="how PRT is delivered")
ap.add_argument("--days", type=int, default=365, help="days the clinic runs (from opening)")
ap.add_argument("--replications", type=int, default=10, help="replications per staffing level")
ap.add_argument("--seed", type=int, default=1, help="seed shared by every staffing level")
args = ap.parse_args()
if args.replications < 2:
    ap.error("--replications must be at least 2: the intervals come from their spread")
out = Path(args.out)
staff = sorted(set(args.therapists))

results = {}
for n in staff:
    try:
        spec = ClinicSpec(
            days=args.days,  # a new service: it opens on day 0 with nobody waiting
            referrals=Referrals(per_month=(args.per_month,)),
            staffing=Staffing(therapists=n, caseload=15),  # what 6 sessions a day hold at 2/week
            mix=Mix(**{f: float(f == args.format) for f in FORMATS}),  # one format for all
        )
        results[n] = run_clinic(spec, seed=args.seed, replications=args.replications)
    except ps.PrtSimError as e:
        raise SystemExit(f"error: {e}") from None


def per_patient_pain_days(w):
    """Pain carried by the referred population (points x days), per referred patient, mean
    over replications: each week's mean pain x people referred so far x days in the week."""
    days = np.minimum(7.0, args.days - w["day"])
    total = (w["pain_all"].fillna(0) * w["referred_so_far"] * days).sum("week")
    return float((total / w["referred_so_far"].isel(week=-1)).mean())


best = staff[-1]  # the reference: the most therapists asked for
ref_pain = per_patient_pain_days(results[best].weekly)
rows = {}
for n, res in results.items():
    s, end = res.summary(), res.weekly.isel(week=-1).mean("replication")
    rows[n] = (
        s["wait_mean"].values,  # mean, lower, upper: 95% interval over replications
        float(s["still_waiting"].sel(stat="mean")),
        float(end["pain_free_share"]),  # of everyone referred so far
        per_patient_pain_days(res.weekly) - ref_pain,
    )
referred = float(end["referred_so_far"])  # the same referrals at every staffing level
print(f"{args.per_month:g} referrals a month, {args.format} format, {args.days} days from "
      f"opening, {args.replications} replications; {referred:.0f} referred in all.")  # fmt: skip
cols = ["therapists", "wait of those seen, days (95% CI)", "waiting at the end",
        "pain-free at the end", f"extra pain-days each (vs {best})"]  # fmt: skip
print(" | ".join(cols))
for n, (wait, still, pain_free, extra) in rows.items():
    ci = f"{wait[0]:.1f} ({max(wait[1], 0):.1f}-{wait[2]:.1f})"  # t interval, clipped at 0
    ci = "no waitlist" if np.isnan(wait[0]) else ci  # self-guided: nobody waits
    cells = [str(n), ci, f"{still:.0f}", f"{pain_free:.0%}", f"{extra:+.0f}"]
    print(" | ".join(c.rjust(len(h)) for c, h in zip(cells, cols)))
lo = staff[0]
print(f"With {lo} therapist{'s' * (lo > 1)} instead of {best}, each referred patient carries "
      f"{rows[lo][3]:.0f} more pain-days (points of pain x days) over {args.days} days, and "
      f"{rows[lo][2]:.0%} of all referred are pain-free at the end, against {rows[best][2]:.0%}.")  # fmt: skip
t = results[lo].table("patients")
long = t["wait"] > 90  # seen after waiting over 3 months
if long.any():
    print(f"Waiting delays the relief rather than adding pain: those who waited over 3 months had "
          f"pain {np.mean(t['pain_referral'][long]):.1f}/10 at referral and "
          f"{np.mean(t['pain_intake'][long]):.1f} when seen (regression to the mean).")  # fmt: skip

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), layout="constrained")
summaries = {f"{n} / {args.format}": res.summary() for n, res in results.items()}
plot_clinic_kpi(summaries, "wait_mean", ax=axes[0])
axes[0].set(xlabel="therapists", ylabel="mean wait of those seen (days)",
            title="wait from referral to a place (95% interval)")  # fmt: skip
colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(staff)))
for n, c in zip(staff, colors):
    w = results[n].weekly
    label = f"{n} therapist{'s' * (n > 1)}"
    axes[1].plot(w["day"], w["queue"].mean("replication"), color=c, label=label)
    pain = w["pain_all"]
    axes[2].plot(w["day"], pain.mean("replication"), color=c, label=label)
    axes[2].fill_between(w["day"], pain.quantile(0.05, "replication"),
                         pain.quantile(0.95, "replication"), color=c, alpha=0.15, lw=0)  # fmt: skip
axes[1].set(xlabel="days since the clinic opened", ylabel="patients waiting (mean)",
            title="waitlist length", ylim=(0, None))  # fmt: skip
axes[2].set(xlabel="days since the clinic opened", ylabel="mean 7-day pain (0-10)",
            title="everyone referred so far (band: 90% of replications)")  # fmt: skip
for ax in axes[1:]:
    ax.legend(fontsize="small")
fig.suptitle(f"{args.per_month:g} referrals a month, {args.format} PRT, "
             f"{args.replications} replications, same patients at every staffing level")  # fmt: skip
path = out / "07_access.png"
ps.io.save_figure(fig, path)
print(f"wrote {path}")
