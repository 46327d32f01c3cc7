"""Where the replays' late responders come from: learning after treatment, or noise?

Usage: ``python experiments/late_responders.py [--data PATH] [--mechanism inhibition] [--quick]``

The trial had no late responder in PRT: of the 11 PRT patients observed at both visits and not
pain 0-1 (pain 0-1: a report of 0 or 1) at post, none was pain 0-1 at 12 months; in the control
arms a fifth to a quarter were. The replays of the patient-level fits have about a third of
PRT's post non-responders pain 0-1 at 12 months (docs/mechanisms.md). A model can make a late
responder in two ways: a patient who keeps learning after treatment (everyday exposure under
the safety frame), or a patient whose reports scatter across the 0-1 line by chance.

This script tells them apart. The same fitted patients are replayed by the full simulator
(``patient_checks.replay_patients``: their own baseline, random effects and posterior
probability of having started; the same random numbers in every row) with the sources of
within-patient scatter switched off one at a time (``overrides``): the report noise
(``pain_report_sd``), the day-to-day fluctuation (``fluct_sd``), the flare-ups
(``flare_rate``), and all three. With all three off, what is left is the latent course of
each patient's pain, and attendance and adherence drawn per session.

For each row: the post x 12-month responder table by arm (median [90%] over replays) and the
mean correlation of pain between consecutive follow-up visits, beside the trial. Writes
docs/late_responders.json and the ``late-responders`` block of docs/validation.md; the last
line printed is a JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
from _common import one_fit_args  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim.inference import patient_checks as pc  # noqa: E402
from prt_sim.inference.checks import interval  # noqa: E402
from prt_sim.io import replace_block, to_jsonable, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: The replays: a label, and the parameters set in every draw (none: the fit's own replay).
SETTINGS = {
    "the fit": {},
    "no report noise": {"pain_report_sd": 0.0},
    "no day-to-day fluctuation": {"fluct_sd": 0.0},
    "no flare-ups": {"flare_rate": 0.0},
    "none of the three": {"pain_report_sd": 0.0, "fluct_sd": 0.0, "flare_rate": 0.0},
}
COLUMNS = (*pc.RESPONDER_CLASSES, "late_response_share")
#: The follow-up visits over which each patient's mean pain and its scatter are read.
FOLLOW_UPS = ("m1", "m2", "m3", "m6", "m12")
#: Bands of a patient's mean pain over :data:`FOLLOW_UPS` (points; lower edge included).
LEVELS = (0.0, 1.0, 2.0, 3.0, 4.0, 10.01)


def by_level(pain: np.ndarray, arm: np.ndarray) -> dict:
    """Patients observed at every follow-up, by the band of their mean pain (:data:`LEVELS`):
    per arm ("all" too), how many, and the mean of their own SDs over the follow-ups.
    ``pain``: [patient, visit] over :data:`FOLLOW_UPS`."""
    seen = np.isfinite(pain).all(axis=1)
    full = np.where(seen[:, None], pain, 0.0)  # the others are not counted
    mean, sd = full.mean(axis=1), full.std(axis=1, ddof=1)
    band = np.digitize(mean, LEVELS) - 1
    out = {}
    for a in ["all", *dict.fromkeys(arm)]:
        sel = seen & ((arm == a) if a != "all" else True)
        out[str(a)] = {
            "n": [int((sel & (band == b)).sum()) for b in range(len(LEVELS) - 1)],
            "sd": [
                float(sd[sel & (band == b)].mean()) if (sel & (band == b)).any() else np.nan
                for b in range(len(LEVELS) - 1)
            ],
        }
    return out


def _median(v: np.ndarray) -> float:
    """Median of the finite values (NaN if none: a band no replay had a patient in)."""
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def level_check(rep, data) -> dict:
    """:func:`by_level` of the trial beside the replays' (median [90%] of the counts over
    draws, median of the mean SDs)."""
    arm = np.array([str(a) for a in data.records["arm"].values])
    trial = by_level(data.records["pain_avg"].sel(visit=list(FOLLOW_UPS)).values, arm)
    draws = [by_level(p, arm) for p in rep["pain_avg"].sel(visit=list(FOLLOW_UPS)).values]
    out = {}
    for a, t in trial.items():
        n = np.array([d[a]["n"] for d in draws], float)
        sd = np.array([d[a]["sd"] for d in draws], float)
        out[a] = {
            "trial_n": t["n"],
            "trial_sd": t["sd"],
            "replay_n": [interval(n[:, b], t["n"][b]) for b in range(n.shape[1])],
            "replay_sd": [_median(sd[:, b]) for b in range(sd.shape[1])],
        }
    return out


def measure(idata, data, n_draws: int, seed: int) -> dict:
    """The responder table and the follow-up correlation of each replay of :data:`SETTINGS`."""
    rows = {}
    for label, overrides in SETTINGS.items():
        rep = pc.replay_patients(idata, data, n_draws=n_draws, seed=seed, overrides=overrides)
        rows[label] = {
            "overrides": overrides,
            "responders": pc.responder_check(rep, data),
            "follow_up_correlation": pc.correlation_check(rep, data),
        }
        if not overrides:  # the fit's own replay: where the patients' follow-up pain lies
            rows[label]["by_level"] = level_check(rep, data)
    return to_jsonable(rows)


def _pct(v) -> str:
    """A share as a percentage; "n/a" where it is undefined (no post non-responder)."""
    return "n/a" if v is None or v != v else f"{100 * v:.0f}%"


def _num(v, fmt: str = ".2f") -> str:
    """A number, or "n/a" where it is undefined (e.g. a correlation of steady reports)."""
    return "n/a" if v is None or v != v else f"{v:{fmt}}"


def _cell(d: dict, column: str) -> str:
    if column == "late_response_share":
        if d["median"] is None:
            return "n/a"
        return f"{_pct(d['median'])} [{100 * d['lo90']:.0f}, {100 * d['hi90']:.0f}]"
    return f"{d['median']:g} [{d['lo90']:g}, {d['hi90']:g}]"


def _observed(d: dict, column: str) -> str:
    return _pct(d["observed"]) if column == "late_response_share" else f"{d['observed']:g}"


def reading(s: dict) -> str:
    """What the rows say, in words, from the numbers alone."""
    fit, quiet = s["rows"]["the fit"], s["rows"]["none of the three"]
    out = []
    for arm, row in fit["responders"].items():
        a, b = row["m12_only"], quiet["responders"][arm]["m12_only"]
        la, lb = row["late_response_share"], quiet["responders"][arm]["late_response_share"]
        out.append(
            f"{arm}: the trial {a['observed']:g} patients pain 0-1 at 12 months only "
            f"({_pct(la['observed'])} of post non-responders); the fit's replays "
            f"{a['median']:g} [{a['lo90']:g}, {a['hi90']:g}] ({_pct(la['median'])}), with "
            f"no report noise, fluctuation or flare-ups {b['median']:g} [{b['lo90']:g}, "
            f"{b['hi90']:g}] ({_pct(lb['median'])})"
        )
    prt_fit = fit["responders"]["prt"]["m12_only"]["median"]
    prt_quiet = quiet["responders"]["prt"]["m12_only"]["median"]
    share = 1.0 - prt_quiet / prt_fit if prt_fit > 0 else float("nan")
    quiet_r = ", ".join(
        f"{arm} {_num(c['median'])}" for arm, c in quiet["follow_up_correlation"].items()
    )
    fit_r = ", ".join(
        f"{arm} {_num(c['median'])}, trial {_num(c['observed'])}"
        for arm, c in fit["follow_up_correlation"].items()
    )
    levels = fit.get("by_level", {}).get("prt")
    where = ""
    if levels:
        t, r = levels["trial_n"], levels["replay_n"]
        where = (
            f" Over the five follow-ups, {t[0]} PRT patients of the trial average 0-1 and "
            f"{t[1]} average 1-2 (the replays: {r[0]['median']:g} [{r[0]['lo90']:g}, "
            f"{r[0]['hi90']:g}] and {r[1]['median']:g} [{r[1]['lo90']:g}, {r[1]['hi90']:g}]), "
            f"{sum(t[2:])} average 2 or more (the replays: "
            f"{sum(x['median'] for x in r[2:]):g}, sum of medians)"
            + (
                ": the trial's PRT arm splits into patients near 0 and patients in pain, the "
                "model's response is graded and fills the band whose scatter crosses the 0-1 "
                "line."
                if r[1]["median"] > t[1] and not r[1]["inside"]
                else "."
            )
        )
    return (
        f"By arm, {'; '.join(out)}. So {_pct(share)} of the PRT late responders of the "
        "replays (median over draws) are within-patient scatter crossing the 0-1 line, and the "
        "rest a change of the latent course between post and 12 months (learning that goes on "
        "after treatment). Without the scatter, the replays' correlation of pain across "
        f"follow-up visits is {quiet_r} (the fit's: {fit_r})." + where
    )


def block(s: dict) -> str:
    arms = list(s["rows"]["the fit"]["responders"])
    lines = [
        "### Where the replays' late responders come from",
        "",
        f"Measured {s['date']} by `experiments/late_responders.py` (prt_sim "
        f"{s['prt_sim_version']}, mechanism `{s['mechanism']}`, {s['n_draws']} posterior draws, "
        f"seed {s['seed']}): the fitted patients replayed with the sources of within-patient "
        "scatter switched off (`patient_checks.replay_patients(..., overrides=...)`; the same "
        "random numbers in every row). Patients observed at post and 12 months, by pain 0-1 at "
        "each: the trial's count, then the replays' median [90%]. *Late*: the share of post "
        "non-responders pain 0-1 at 12 months; *r*: mean correlation of pain between "
        "consecutive follow-up visits.",
        "",
        "| arm | replay | both | post only | 12 months only | neither | late | r |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        first = s["rows"]["the fit"]
        lines.append(
            f"| {arm} | trial | "
            + " | ".join(_observed(first["responders"][arm][c], c) for c in COLUMNS)
            + f" | {_num(first['follow_up_correlation'][arm]['observed'])} |"
        )
        for label, row in s["rows"].items():
            c = row["follow_up_correlation"][arm]
            lines.append(
                f"| {arm} | {label} | "
                + " | ".join(_cell(row["responders"][arm][k], k) for k in COLUMNS)
                + f" | {_num(c['median'])} [{_num(c['lo90'])}, {_num(c['hi90'])}] |"
            )
    lines += ["", s["reading"]]
    levels = s["rows"]["the fit"].get("by_level")
    if levels:
        bands = [f"{lo:g}-{min(hi, 10):g}" for lo, hi in zip(LEVELS[:-1], LEVELS[1:])]
        lines += [
            "",
            "Where the patients' follow-up pain lies: patients observed at all five follow-ups "
            "(1, 2, 3, 6, 12 months) by the band of their mean pain over them (points), the "
            "trial's count and the fit's replays' median [90%]; in brackets below, the mean of "
            "the patients' own SDs over the five visits, trial / replays' median.",
            "",
            "| arm | " + " | ".join(bands) + " |",
            "|---|" + "---|" * len(bands),
        ]
        for a, row in levels.items():
            cells = [
                f"{n} / {_cell(r, 'n')} ({_num(tsd)} / {_num(rsd)})"
                for n, r, tsd, rsd in zip(
                    row["trial_n"], row["replay_n"], row["trial_sd"], row["replay_sd"]
                )
            ]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    args = one_fit_args(__doc__, n_draws=100, quick_draws=4)
    t0 = time.perf_counter()
    data = ps.data.load_ashar2022(args.data)
    s = {"date": time.strftime("%Y-%m-%d"), "prt_sim_version": ps.__version__,
         "mechanism": args.mechanism, "n_draws": args.n_draws, "seed": args.seed}  # fmt: skip
    s["rows"] = measure(ps.TrialModel.load(args.fit), data, args.n_draws, args.seed)
    s["reading"] = reading(s)
    s["wall_s"] = round(time.perf_counter() - t0, 1)
    if not args.quick:
        write_json(ROOT / "docs" / "late_responders.json", s)
        replace_block(ROOT / "docs" / "validation.md", "late-responders", block(s))
    print(s["reading"], file=sys.stderr)
    prt = {k: r["responders"]["prt"]["m12_only"]["median"] for k, r in s["rows"].items()}
    print(json.dumps({"wall_s": s["wall_s"], "prt_m12_only_median": prt}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
