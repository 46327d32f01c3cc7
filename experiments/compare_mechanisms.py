"""Compare the competing memory mechanisms on the trial's patient-level data, and forecast with each.

Usage: ``python experiments/compare_mechanisms.py [--data PATH] [--quick] [--mechanisms a,b]``

For each mechanism (:mod:`prt_sim.model.mechanisms`):

1. a patient-level fit to the public Ashar 2022 records (4 chains x 1500 draws by default),
   with its convergence diagnostics and wall time;
2. PSIS-LOO leaving out one patient, twice: with the patient's random effects integrated out
   and on the fit's own ``patient_loglik`` (random effects as fitted), with Pareto k;
3. the fitted patients replayed by the full simulator (each with their own baseline and random
   effects): the trial's post-treatment and follow-up figures, the post x 12-month responder
   table, the correlation of pain across follow-up visits and how much each patient's pain
   scatters over them, beside 90% intervals;
4. new trial-size cohorts from the fitted population, checked on the same figures;
5. posterior SD / prior SD of every fitted population parameter;
6. the natural-course check: untreated trial-like patients followed 4 years, trajectories
   classified and set beside the HUNT cohort's shares;
7. a 5-year forecast of the three arms (the full simulator, as randomized).

The inhibition mechanism is also fitted to the published arm-level figures, and the two fits'
posteriors are set side by side.

Then ``arviz.compare`` (elpd differences with SEs, stacking weights), twice: on each patient's
log likelihood with their random effects integrated out
(:func:`prt_sim.inference.loo.integrated_log_likelihood`) and on the fit's own per-patient
log likelihood; the one with fewer unreliable Pareto k gives the weights that stack the
forecasts; a stacked forecast, and
``docs/mechanisms.md`` + ``docs/mechanisms.json`` + ``docs/figures/mechanisms_forecast.png``.
Every number written is measured in this run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import numpy as np  # noqa: E402
from _common import SPLIT_BY, mechanism_list  # noqa: E402

import prt_sim as ps  # noqa: E402
from prt_sim.inference import patient_checks as pc  # noqa: E402
from prt_sim.inference.checks import ppc_rows  # noqa: E402
from prt_sim.inference.loo import integrated_log_likelihood  # noqa: E402
from prt_sim.inference.natural_course import TRAJECTORY_CLASSES, natural_course  # noqa: E402
from prt_sim.io import replace_block, to_jsonable, write_json, write_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ashar2022"
VARIANTS = ps.mechanism_names()
YEARS = (1, 2, 3, 5)
SPLIT_NOTE = (
    "The patients pain 0-1 at post: how many, and their pain at post, grouped by each "
    "replay's own reports (grouping the replays by the trial's reports would choose the "
    "trial's noise: regression to the mean, `patient_checks.split_check`); the patients pain "
    "0-1 at 1 month: their pain at post, the same patients replayed. Trial / replays' median "
    "[90%]."
)
POST_VISITS = ("post", "m1", "m2", "m3", "m6", "m12")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _q(v) -> dict:
    v = np.asarray(v, float).ravel()
    v = v[np.isfinite(v)]
    if not v.size:
        return {"median": None, "lo90": None, "hi90": None}
    lo, med, hi = np.quantile(v, [0.05, 0.5, 0.95])
    return {"median": float(med), "lo90": float(lo), "hi90": float(hi)}


def _rows_inside(rows, visits=POST_VISITS) -> dict:
    """Counts of checks inside their 90% interval at the post-treatment visits, and the misses."""
    n = inside = 0
    misses = []
    for r in rows:
        if r["visit"] not in visits:
            continue
        for k, v in r.items():
            if isinstance(v, dict) and "inside" in v:
                n += 1
                inside += bool(v["inside"])
                if not v["inside"]:
                    misses.append(f"{r['arm']} {r['visit']} {k}: {v['observed']:.3g} "
                                  f"vs [{v['lo90']:.3g}, {v['hi90']:.3g}]")  # fmt: skip
    return {"n": n, "inside": inside, "misses": misses}


def _forecast_table(ds) -> dict:
    """Per arm and year after post: mean pain, pain 0-1 among observed and ITT (90% bands)."""
    out = {}
    sub = ds.sel(scenario="as_randomized") if "scenario" in ds.dims else ds
    for arm in [str(a) for a in sub["arm"].values]:
        a = sub.sel(arm=arm)
        out[arm] = {}
        for y in YEARS:
            t = a.sel(time=y, method="nearest")
            out[arm][str(y)] = {
                "mean_pain": _q(t["mean_pain"].values),
                "pain_free": _q(t["pain_free"].values),
                "pain_free_itt": _q(t["pain_free_itt"].values),
            }
    return out


#: Labels of the fits this run reused (made by an earlier run with the same settings).
REUSED: list[str] = []
#: Labels of the fits whose checks this run reused (:func:`checks_or_reuse`).
REUSED_CHECKS: list[str] = []
#: Draws per chain where they differ from the default (1500 for a patient-level fit: 1000 left
#: the 0.10.0 inhibition fit at bulk ESS 366 on exposure_learning, 2026-12-02; natural_course
#: had 35 with 4 x 2000 in 0.5.0, 2026-12-01). The arm-level fit converges with 1000.
DRAWS = {"arm_inhibition": 1000, "natural_course": 2000}


def fit_or_reuse(tm, label: str, args):
    """Fit ``tm``, or reuse the fit saved under ``label`` by an earlier run with the same
    configuration, version and sampler settings. Returns (idata, fit wall seconds)."""
    saved = Path(args.save) / f"{label}{'_quick' if args.quick else ''}.nc"
    draws = args.draws if args.quick else DRAWS.get(label, args.draws)
    if saved.exists():
        try:
            # A fit of an earlier version is reused only if this version reproduces its log
            # density at its draws (TrialModel.load_fit); it is then stamped and written back.
            idata = tm.load_fit(saved, upgrade=True)
            made = tuple(int(idata.attrs[k]) for k in ("draws", "tune", "chains", "seed"))
            if made != (draws, args.tune, args.chains, args.seed):
                raise ps.DifferentModelError(f"sampled with (draws, tune, chains, seed) {made}")
            wall = float(idata.attrs["wall_time_s"])
            _log(f"{label}: reusing the fit in {saved} ({wall:.0f} s when made)")
            REUSED.append(label)
            return idata, wall
        except ps.PrtSimError as e:
            _log(f"{label}: not reusing {saved}: {e}")
    _log(f"{label}: fitting ({args.chains} x {draws} draws, {args.tune} tuning)")
    idata = tm.fit(draws=draws, tune=args.tune, chains=args.chains, seed=args.seed,
                   progress="lines" if not args.quiet else "none")  # fmt: skip
    ps.TrialModel.save(idata, saved)
    # The checks run on the fit as saved, as a later run reads it (its checks key included);
    # its wall time is the fit's own record, as when it is reused.
    idata = tm.load_fit(saved, upgrade=True)
    return idata, float(idata.attrs["wall_time_s"])


def run_variant(name, data, args):
    """Fit (or reuse the fit of) one mechanism and run (or reuse) its checks. Returns (the fit,
    what :func:`checks_or_reuse` returns)."""
    tm = ps.TrialModel(data, mechanism=name)
    idata, wall = fit_or_reuse(tm, name, args)
    return idata, checks_or_reuse(tm, idata, wall, data, args, name)


#: The settings the checks of a fit depend on (beyond the fit, the data and the sources).
CHECK_SETTINGS = ("seed", "ppc_draws", "forecast_draws", "nc_draws", "nc_patients",
                  "loo_draws", "loo_effects", "horizon")  # fmt: skip


def checks_key(idata, data, args) -> str:
    """What the checks of one fit are a function of: the fit's posterior draws, the records,
    the check settings and the sources (this script, ``_common.py`` and every ``prt_sim``
    module this script imports), as a SHA-256 (16 hex characters)."""
    from prt_sim.jit import source_hash

    h = hashlib.sha256()
    h.update(source_hash(__file__).encode())
    h.update(Path(__file__).with_name("_common.py").read_bytes())
    h.update(json.dumps({k: getattr(args, k) for k in CHECK_SETTINGS}, sort_keys=True).encode())
    h.update(json.dumps(dict(idata.attrs), sort_keys=True, default=str).encode())
    for group in (idata.posterior, data.records):
        for v in sorted(group.data_vars):
            h.update(str(v).encode() + b"\0")
            h.update(np.ascontiguousarray(group[v].values).tobytes())
    return h.hexdigest()[:16]


def checks_or_reuse(tm, idata, wall: float, data, args, label: str):
    """:func:`check_variant`, or its results saved by an earlier run beside the fit
    (``<save>/<label>.checks/``) when :func:`checks_key` is unchanged. A run stopped after the
    checks of some fits loses none of them; a changed source, setting, fit or record reruns
    them. The folder is written whole, then renamed into place."""
    import arviz as az

    folder = Path(args.save) / f"{label}{'_quick' if args.quick else ''}.checks"
    key = checks_key(idata, data, args)
    try:
        saved = json.loads((folder / "checks.json").read_text())
        if saved["key"] == key:
            out = saved["results"]
            # the fit's own wall time (a reused fit keeps the time it took when made)
            out["fit_wall_s"] = round(wall, 1)
            # arviz.loo reads the posterior too (its ESS sets the relative efficiency): the
            # fit's own, beside the saved log likelihood
            ll = az.from_netcdf(folder / "loo.nc").log_likelihood
            loo = az.InferenceData(posterior=idata.posterior, log_likelihood=ll)
            il = az.from_netcdf(folder / "integrated_loo.nc")
            fc = ps.io.load_dataset(folder / "forecast.nc", saved["forecast_kind"])
            _log(f"{label}: reusing the checks in {folder} (key {key})")
            REUSED_CHECKS.append(label)
            return out, (loo, il), fc
        _log(f"{label}: the checks in {folder} are of other sources, settings or draws")
    except FileNotFoundError:
        pass
    except (KeyError, ValueError, OSError, ps.PrtSimError) as e:
        _log(f"{label}: not reusing the checks in {folder}: {type(e).__name__}: {e}")
    out, (loo, il), fc = check_variant(tm, idata, wall, data, args)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # the log likelihood only: a reuse sets it beside the fit's posterior
    az.InferenceData(log_likelihood=loo.log_likelihood).to_netcdf(str(tmp / "loo.nc"))
    il.to_netcdf(str(tmp / "integrated_loo.nc"))
    ps.io.save_dataset(fc, tmp / "forecast.nc")
    saved = {"key": key, "forecast_kind": fc.attrs["kind"], "results": to_jsonable(out)}
    write_json(tmp / "checks.json", saved)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return json.loads(json.dumps(saved["results"])), (loo, il), fc


def check_variant(tm, idata, wall: float, data, args) -> tuple[dict, tuple, object]:
    """Every check of one fit: diagnostics, both PSIS-LOOs, the replay of the fitted patients,
    new cohorts, contraction, the natural course and the forecast. Returns (JSON-able results,
    (InferenceData with the per-patient log likelihood, the integrated one), forecast)."""
    import arviz as az

    name = tm.mechanism
    diag = tm.diagnostics(idata)
    _log(f"{name}: {wall:.0f} s, R-hat {diag['max_rhat']:.3f}, bulk ESS {diag['min_ess_bulk']:.0f}, "
         f"divergences {diag['divergences']}")  # fmt: skip
    out: dict = {"mechanism": tm.mechanism, "fit_wall_s": round(wall, 1), "diagnostics": diag}
    out["converged"] = diag["converged"]
    # PSIS-LOO on the per-patient log likelihood
    loo_idata = pc.with_log_likelihood(idata)
    loo = az.loo(loo_idata, pointwise=True)
    k = np.asarray(loo.pareto_k)
    out["loo"] = {
        "elpd": float(loo.elpd_loo),
        "se": float(loo.se),
        "p_loo": float(loo.p_loo),
        "pareto_k_gt_0.7": int((k > 0.7).sum()),
        "pareto_k_gt_1": int((k > 1.0).sum()),
        "pareto_k_max": float(k.max()),
    }
    # ... and with each patient's random effects integrated out
    _log(f"{name}: integrated PSIS-LOO ({args.loo_draws} draws x {args.loo_effects} candidates)")
    il = integrated_log_likelihood(idata, data, n_draws=args.loo_draws,
                                   n_effects=args.loo_effects, seed=args.seed)  # fmt: skip
    iloo = az.loo(il, pointwise=True)
    k = np.asarray(iloo.pareto_k)
    ess = il.sample_stats["candidate_ess"].values
    out["integrated_loo"] = {
        "elpd": float(iloo.elpd_loo),
        "se": float(iloo.se),
        "p_loo": float(iloo.p_loo),
        "pareto_k_gt_0.7": int((k > 0.7).sum()),
        "pareto_k_gt_1": int((k > 1.0).sum()),
        "pareto_k_max": float(k.max()),
        "candidate_ess_min": float(ess.min()),
        "candidate_ess_p05": float(np.quantile(ess, 0.05)),
        "candidate_ess_median": float(np.median(ess)),
    }
    # the fitted patients themselves, replayed by the full simulator
    _log(f"{name}: replay of the fitted patients ({args.ppc_draws} draws)")
    rep = pc.replay_patients(idata, data, n_draws=args.ppc_draws, seed=args.seed)
    rows = ppc_rows(pc.replay_summaries(rep, data), data)
    out["replay"] = {
        "rows": rows,
        "post_inside": _rows_inside(rows),
        "responders": pc.responder_check(rep, data),
        "follow_up_correlation": pc.correlation_check(rep, data),
        "follow_up_spread": pc.spread_check(rep, data),
        # pain at post of the patients pain 0-1 at post (grouped by each replay's own reports:
        # like for like) and at 1 month (the same patients, chosen at another visit)
        "split": {by: pc.split_check(rep, data, select=by, at="post") for by in SPLIT_BY},
        "mediation": pc.mediation_check(rep, data),
    }
    # new trial-size cohorts from the fitted population
    _log(f"{name}: new cohorts from the fitted population ({args.ppc_draws} draws)")
    pp = ps.inference.checks.posterior_predictive(
        idata, data, n_draws=args.ppc_draws, seed=args.seed
    )
    prow = ppc_rows(pp, data)
    out["population"] = {"rows": prow, "post_inside": _rows_inside(prow)}
    out["contraction"] = pc.contraction(idata, seed=args.seed)
    _log(f"{name}: natural course ({args.nc_draws} draws x {args.nc_patients} untreated patients)")
    out["natural_course"] = natural_course(idata, years=4.0, n_patients=args.nc_patients,
                                           n_draws=args.nc_draws, seed=args.seed)  # fmt: skip
    # forecast
    _log(f"{name}: {args.horizon:g}-year forecast ({args.forecast_draws} draws)")
    fc = tm.forecast(idata, scenarios=("as_randomized",), horizon_years=args.horizon,
                     n_draws=args.forecast_draws, seed=args.seed, progress=False)  # fmt: skip
    out["forecast"] = _forecast_table(fc)
    return out, (loo_idata, il), fc


def _figure(forecasts: dict, stacked, path: Path) -> None:
    import matplotlib.pyplot as plt

    from prt_sim.plotting import plot_forecast

    names = list(forecasts) + ["stacked"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        ds = stacked if name == "stacked" else forecasts[name]
        plot_forecast(ds, "pain_free_itt", scenarios=["as_randomized"], ax=ax)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("years after post")
        if ax is not axes[0]:
            ax.set_ylabel("")
        handles, labels = ax.get_legend_handles_labels()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    labels = [lab.replace(", as_randomized", "") for lab in labels]
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Pain 0-1 (ITT) after post, by mechanism (median, 90% band over posterior "
                 "draws)", fontsize=11)  # fmt: skip
    fig.tight_layout(rect=(0, 0.16, 1, 0.95))
    ps.io.save_figure(fig, path)


def reconcile_fits(arm_tm, arm_idata, arm_wall: float, patient_idata, seed: int) -> dict:
    """The arm-level inhibition fit beside the patient-level one (posteriors, contraction)."""
    return {
        "arm_fit": {"wall_s": round(arm_wall, 1), "diagnostics": arm_tm.diagnostics(arm_idata)},
        "rows": pc.side_by_side({"arm": arm_idata, "patient": patient_idata}),
        "arm_contraction": pc.contraction(arm_idata, seed=seed),
    }


def summarize(results, loos, int_loos, forecasts, reconcile, data, args) -> tuple[dict, object]:
    """The comparisons (``arviz.compare``), the stacking weights and the stacked forecast, with
    every result in one JSON-able summary (wall time and reused fits are the caller's).
    Returns (summary, stacked forecast)."""
    names = list(results)
    import arviz as az

    def table(loo_sets):
        cmp = az.compare(loo_sets, ic="loo", method="stacking")
        return {
            str(name): {
                "rank": int(r["rank"]),
                "elpd_loo": float(r["elpd_loo"]),
                "elpd_diff": float(r["elpd_diff"]),
                "dse": float(r["dse"]),
                "weight": float(r["weight"]),
                "p_loo": float(r["p_loo"]),
            }
            for name, r in cmp.iterrows()
        }

    comparison = table(loos)
    comparison_integrated = table(int_loos)
    # The stacking weights come from the comparison with fewer patients whose Pareto k exceeds
    # 0.7 over all mechanisms (rule set before the integrated comparison was first run).
    bad = {
        "comparison_integrated": sum(
            results[n]["integrated_loo"]["pareto_k_gt_0.7"] for n in names
        ),
        "comparison": sum(results[n]["loo"]["pareto_k_gt_0.7"] for n in names),
    }
    stacking_from = min(bad, key=lambda k: (bad[k], k != "comparison_integrated"))
    # Only converged fits are stacked: a fit that is not converged is compared (and marked)
    # but does not weigh in the stacked forecast (rule set before the first unconverged fit;
    # if none converged, all are stacked, and the Fits table says none converged).
    stacked_names = [n for n in names if results[n]["converged"]] or names
    sets = int_loos if stacking_from == "comparison_integrated" else loos
    weights = {n: 0.0 for n in names}
    weights.update({n: c["weight"] for n, c in table({n: sets[n] for n in stacked_names}).items()}
                   if len(stacked_names) > 1 else {stacked_names[0]: 1.0})  # fmt: skip
    stacked = ps.forecasting.stack_forecasts(
        {n: forecasts[n] for n in stacked_names},
        {n: weights[n] for n in stacked_names},
        n_draws=args.forecast_draws,
    )
    summary = {
        "prt_sim_version": ps.__version__,
        "seed": args.seed,
        "quick": args.quick,
        "settings": {
            k: getattr(args, k)
            for k in (
                "draws",
                "tune",
                "chains",
                "ppc_draws",
                "forecast_draws",
                "horizon",
                "loo_draws",
                "loo_effects",
            )
        },  # fmt: skip
        "mechanisms": results,
        "n_patients": int(data.records.sizes["patient"]),
        "comparison": comparison,
        "comparison_integrated": comparison_integrated,
        "stacking_from": stacking_from,
        "stacking_weights": weights,
        "stacked_mechanisms": stacked_names,
        "unreliable_k": bad,
        "stacked_forecast": _forecast_table(stacked),
        "reconcile": reconcile,
    }
    return summary, stacked


def write_outputs(summary: dict, forecasts: dict, stacked, args) -> None:
    """mechanisms.json, the figure and mechanisms.md in ``args.out``; and, unless quick, the
    blocks of validation.md and forecasting.md there."""
    out_dir = Path(args.out)
    write_json(out_dir / "mechanisms.json", to_jsonable(summary))
    _figure(forecasts, stacked, Path(args.figure))
    write_text(out_dir / "mechanisms.md", report(summary, Path(args.figure), out_dir))
    if not summary["quick"]:  # the quick run's numbers are not for reading
        replace_block(out_dir / "validation.md", "patient-level", validation_block(summary))
        replace_block(out_dir / "forecasting.md", "mechanism-forecasts", forecast_block(summary))


def fit_and_check(names, data, args):
    """Every mechanism of ``names`` fitted (or reused) and checked (or its checks reused), and
    the arm-level inhibition fit beside the patient-level one unless ``args.no_arm``. Returns
    (results, conditional LOO sets, integrated LOO sets, forecasts, reconcile or None)."""
    fits, results, loos, int_loos, forecasts = {}, {}, {}, {}, {}
    for n in names:
        fits[n], (results[n], (loos[n], int_loos[n]), forecasts[n]) = run_variant(n, data, args)
    reconcile = None
    if "inhibition" in names and not args.no_arm:
        arm_tm = ps.TrialModel(ps.data.published_ashar2022())
        arm_idata, arm_wall = fit_or_reuse(arm_tm, "arm_inhibition", args)
        # the patient-level fit itself (reused checks keep only its log likelihood)
        reconcile = reconcile_fits(arm_tm, arm_idata, arm_wall, fits["inhibition"], args.seed)
    return results, loos, int_loos, forecasts, reconcile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--mechanisms", default=",".join(VARIANTS))
    ap.add_argument("--quick", action="store_true", help="small fits and checks (tests)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder of mechanisms.md/json")
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / "mechanisms_forecast.png"))
    ap.add_argument("--save", default=str(ROOT / "out" / "mechanisms"),
                    help="folder of each fit (netCDF); a fit found there is reused")  # fmt: skip
    ap.add_argument("--no-arm", action="store_true", help="skip the arm-level fit (reconcile)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    q = args.quick
    args.draws, args.tune, args.chains = (60, 60, 2) if q else (1500, 500, 4)
    args.ppc_draws, args.forecast_draws = (8, 8) if q else (100, 200)
    args.nc_draws, args.nc_patients = (4, 100) if q else (50, 500)
    args.loo_draws, args.loo_effects = (20, 16) if q else (400, 128)
    args.horizon = 1.0 if q else 5.0
    names = mechanism_list(args.mechanisms, ap)  # a clear error before any work
    out_dir = Path(args.out)
    ps.io.check_output_dir(out_dir, "--out")
    Path(args.save).mkdir(parents=True, exist_ok=True)
    data = ps.data.load_ashar2022(args.data)
    t_all = time.perf_counter()
    results, loos, int_loos, forecasts, reconcile = fit_and_check(names, data, args)
    summary, stacked = summarize(results, loos, int_loos, forecasts, reconcile, data, args)
    summary["wall_s"] = round(time.perf_counter() - t_all, 1)
    summary["reused_fits"] = list(REUSED)
    summary["reused_checks"] = list(REUSED_CHECKS)
    write_outputs(summary, forecasts, stacked, args)
    _log(f"done in {summary['wall_s']:.0f} s: {out_dir / 'mechanisms.md'}")
    print(json.dumps({"wall_s": summary["wall_s"], "weights": summary["stacking_weights"],
                      "converged": {n: r["converged"] for n, r in results.items()}}))  # fmt: skip
    return 0


def _iv(d, pct=False) -> str:
    if not d or d.get("median") is None:
        return "n/a"
    f = (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: f"{v:.2f}")
    return f"{f(d['median'])} [{f(d['lo90'])}, {f(d['hi90'])}]"


def _obs(d, pct=False, fmt=".2f") -> str:
    f = (lambda v: f"{100 * v:.0f}%") if pct else (lambda v: f"{v:{fmt}}")
    mark = "" if d["inside"] else " **miss**"
    return f"{f(d['observed'])} / {f(d['median'])} [{f(d['lo90'])}, {f(d['hi90'])}]{mark}"


#: How to read the two ratios of a contraction cell (:func:`_contraction_cell`).
CONTRACTION_NOTE = (
    "Where two ratios are given, the first is in the parameter's own units and the second on "
    "the scale the sampler moves on (log, log-odds: `Prior.unconstrained`). A right-skewed "
    "prior misleads in its units both ways: a posterior pushed toward 0 looks narrow there "
    "while as uncertain relative to its size as the prior, and one pushed into the long tail "
    "can be wider than the prior (a ratio above 1) while far more certain; the second ratio "
    "compares relative spreads."
)


def _contraction_note(results) -> str:
    """:data:`CONTRACTION_NOTE` (with a leading space) if any fit's contraction has the
    sampler-scale ratio (runs before it was measured have one ratio)."""
    has = any("ratio_unconstrained" in c for r in results for c in r["contraction"].values())
    return " " + CONTRACTION_NOTE if has else ""


def _contraction_cell(c: dict) -> str:
    """Posterior SD / prior SD in the parameter's units and, where measured, on the sampler's
    scale ("0.09 / 0.49")."""
    if c.get("ratio_unconstrained") is None:
        return f"{c['ratio']:.2f}"
    return f"{c['ratio']:.2f} / {c['ratio_unconstrained']:.2f}"


def _split_cells(replay: dict, arm: str) -> str:
    """Cells of the split by response: the patients pain 0-1 at post (how many, and their pain
    at post, like for like) and those pain 0-1 at 1 month (their pain at post)."""
    at_post = replay["split"]["post"][arm]["pain_free"]
    at_m1 = replay["split"]["m1"][arm]["pain_free"]
    return " | ".join(
        (
            _obs(at_post["n"], fmt=".0f"),
            _obs(at_post["own_selection"]),
            _obs(at_m1["same_patients"]),
        )
    )


def report(s: dict, figure: Path, out_dir: Path) -> str:
    names = list(s["mechanisms"])
    L = ["# Competing memory mechanisms, compared on the trial's patients", ""]
    L += [f"Written by `experiments/compare_mechanisms.py` (prt_sim {s['prt_sim_version']}, "
          f"seed {s['seed']}{', QUICK settings: not for reading' if s['quick'] else ''}); "
          f"every number below was measured by it ({s['wall_s'] / 60:.0f} min on the 2-core "
          "machine" + (f"; it reused the fits {', '.join(s['reused_fits'])} made by an earlier "
                       "run with the same version, configuration and sampler settings, whose "
                       "wall times are from when they were made" if s.get("reused_fits") else "")
          + (f"; and the checks of {', '.join(s['reused_checks'])}, made by an earlier run from "
             "the same fits, records, settings and sources" if s.get("reused_checks") else "")
          + "). The mechanisms and their equations are in [model.md](model.md).", ""]  # fmt: skip
    L += ["## Fits", "", "| mechanism | chains x draws | wall (s) | max R-hat | min bulk ESS | "
          "divergences | converged |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        r = s["mechanisms"][n]
        d = r["diagnostics"]
        L.append(f"| {n} | {d['chains']} x {d['draws']} | {r['fit_wall_s']:.0f} | "
                 f"{d['max_rhat']:.3f} | {d['min_ess_bulk']:.0f} "
                 f"| {d['divergences']} | {'yes' if r['converged'] else '**no**'} |")  # fmt: skip
    L += ["", "Converged means R-hat <= 1.01, bulk ESS >= 400 and no divergences.", ""]
    st = s["settings"]
    L += ["## Model comparison (PSIS-LOO, leaving out one patient)", "",
          "elpd: expected log predictive density of a left-out patient's whole record "
          "(higher is better); the difference to the best with its standard error; stacking "
          "weights (Yao et al. 2018). Pareto k > 0.7 marks patients whose LOO estimate is "
          "unreliable.", "",
          "**Random effects integrated out.** Each patient's record is scored under each "
          "posterior draw of the population with the patient's steady pain, education "
          "efficacy and placebo response integrated out (importance sampling over "
          f"{st['loo_effects']} candidates, the fit's other trait draws kept; "
          "`prt_sim.inference.loo.integrated_log_likelihood`), on "
          f"{st['loo_draws']} posterior draws.", "",
          "| mechanism | elpd_loo | elpd diff | SE of diff | p_loo | stacking weight | "
          "k > 0.7 | k > 1 | candidate ESS: min / 5% / median |",
          "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, c in sorted(s["comparison_integrated"].items(), key=lambda kv: kv[1]["rank"]):
        lo = s["mechanisms"][n]["integrated_loo"]
        L.append(f"| {n} | {c['elpd_loo']:.1f} | {c['elpd_diff']:.1f} | {c['dse']:.1f} | "
                 f"{c['p_loo']:.1f} | {c['weight']:.2f} | {lo['pareto_k_gt_0.7']} | "
                 f"{lo['pareto_k_gt_1']} | {lo['candidate_ess_min']:.1f} / "
                 f"{lo['candidate_ess_p05']:.1f} / {lo['candidate_ess_median']:.0f} |")  # fmt: skip
    n_pat = s["n_patients"]
    cond_bad = [s["mechanisms"][n]["loo"]["pareto_k_gt_0.7"] for n in names]
    L += ["", "**The fitted patient (conditional on their random effects).** The fit's own "
          "`patient_loglik`: each patient scored with the random effects fitted to that very "
          "record, so leaving the record out moves them and the importance weights are "
          f"heavy-tailed: Pareto k exceeds 0.7 for {min(cond_bad)}-{max(cond_bad)} of the "
          f"{n_pat} patients.", "",
          "Patients with Pareto k > 0.7, summed over the mechanisms: "
          + ", ".join(f"{k.replace('comparison_integrated', 'integrated').replace('comparison', 'conditional')} "
                      f"{v}" for k, v in s["unreliable_k"].items())
          + f". The stacking weights of the stacked forecast are the "
          f"{'integrated' if s['stacking_from'] == 'comparison_integrated' else 'conditional'} "
          "comparison's (the one with fewer), "
          + ("over the converged fits only ("
             if any(s["mechanisms"][n]["converged"] for n in names)
             else "over all fits, since none converged (")
          + ", ".join(f"{n} {s['stacking_weights'][n]:.2f}" for n in names)
          + (""
             if len(s["stacked_mechanisms"]) == len(names)
             else "; not converged, so not stacked: "
             + ", ".join(n for n in names if n not in s["stacked_mechanisms"]))
          + ").", "",
          "| mechanism | elpd_loo | elpd diff | SE of diff | p_loo | stacking weight | "
          "k > 0.7 | k > 1 |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, c in sorted(s["comparison"].items(), key=lambda kv: kv[1]["rank"]):
        lo = s["mechanisms"][n]["loo"]
        L.append(f"| {n} | {c['elpd_loo']:.1f} | {c['elpd_diff']:.1f} | {c['dse']:.1f} | "
                 f"{c['p_loo']:.1f} | {c['weight']:.2f} | {lo['pareto_k_gt_0.7']} | "
                 f"{lo['pareto_k_gt_1']} |")  # fmt: skip
    L += [""]
    L += ["## Do the fits reproduce the trial?", "",
          "Two posterior predictive checks with the full stochastic simulator, counted over "
          "every post-treatment figure (post to 12 months: mean pain, pain 0-1 among observed "
          "and ITT, TSK-11, PCS, Oswestry): **replay** runs the fitted patients themselves "
          "(their own T1 baseline and random effects, missing visits as recorded, uptake "
          "from each patient's posterior probability of having started); "
          "**population** draws new trial-size cohorts from the fitted population.", "",
          "| mechanism | replay: inside 90% | population: inside 90% |", "|---|---|---|"]  # fmt: skip
    for n in names:
        r = s["mechanisms"][n]
        a, b = r["replay"]["post_inside"], r["population"]["post_inside"]
        L.append(f"| {n} | {a['inside']} of {a['n']} | {b['inside']} of {b['n']} |")
    for n in names:
        r = s["mechanisms"][n]
        for kind in ("replay", "population"):
            m = r[kind]["post_inside"]["misses"]
            if m:
                L += ["", f"Misses, {n}, {kind}: " + "; ".join(m) + "."]
    L += ["", "### Headline figures at post (observed / predicted median [90%])", "",
          "| mechanism | check | arm | mean pain | pain 0-1 (observed) | pain 0-1 (ITT) |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        for kind in ("replay", "population"):
            for row in s["mechanisms"][n][kind]["rows"]:
                if row["visit"] != "post":
                    continue
                L.append(f"| {n} | {kind} | {row['arm']} | {_obs(row['pain_mean'])} | "
                         f"{_obs(row['pain_free_share'], True)} | "
                         f"{_obs(row['pain_free_itt'], True)} |")  # fmt: skip
    L += ["", "## Within-patient checks (replay of the fitted patients)", "",
          "Patients observed at both post and 12 months, by pain 0-1 at each: the trial's "
          "count / the replays' median [90%]. *Late* is the share of post non-responders "
          "pain 0-1 at 12 months.", "",
          "| mechanism | arm | both | post only | 12 months only | neither | late |",
          "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        for arm, row in s["mechanisms"][n]["replay"]["responders"].items():
            cells = [_obs(row[c], fmt="g") for c in pc.RESPONDER_CLASSES]
            L.append(f"| {n} | {arm} | " + " | ".join(cells) + " | "
                     + _obs(row["late_response_share"], True) + " |")  # fmt: skip
    L += ["", "Mean correlation of pain between consecutive follow-up visits (post, 1, 2, 3, 6, "
          "12 months), trial / replays:", "", "| mechanism | arm | r |", "|---|---|---|"]  # fmt: skip
    for n in names:
        for arm, iv in s["mechanisms"][n]["replay"]["follow_up_correlation"].items():
            L.append(f"| {n} | {arm} | {_obs(iv)} |")
    L += ["", "How much each patient's pain scatters over the follow-ups (1, 2, 3, 6, 12 months; "
          "patients observed at all five): the median of the patients' own SDs, the SD of "
          "those SDs (how unlike each other the patients are), and the share who reported the "
          "same pain at all five, trial / replays:", "",
          "| mechanism | arm | median SD | SD of the SDs | same pain at all five |",
          "|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        for arm, row in s["mechanisms"][n]["replay"]["follow_up_spread"].items():
            L.append(f"| {n} | {arm} | {_obs(row['median_sd'])} | {_obs(row['sd_of_sd'])} | "
                     f"{_obs(row['share_steady'], True)} |")  # fmt: skip
    L += ["", SPLIT_NOTE, "", "| mechanism | arm | pain 0-1 at post: n | their pain at post | "
          "pain 0-1 at 1 month: their pain at post |", "|---|---|---|---|---|"]  # fmt: skip
    for n in names:
        for arm in s["mechanisms"][n]["replay"].get("split", {}).get("post", {}):
            L.append(f"| {n} | {arm} | " + _split_cells(s["mechanisms"][n]["replay"], arm) + " |")
    L += [
        "",
        "## What the data say about each parameter",
        "",
        "Posterior SD / prior SD (below 0.7: the data carry most of the information; near 1: "
        "the posterior is the prior)." + _contraction_note(s["mechanisms"].values()),
        "",
    ]
    params = sorted({p for n in names for p in s["mechanisms"][n]["contraction"]})
    L += ["| parameter | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for p in params:
        cells = []
        for n in names:
            c = s["mechanisms"][n]["contraction"].get(p)
            cells.append("" if c is None else _contraction_cell(c))
        L.append(f"| {p} | " + " | ".join(cells) + " |")
    L += ["", "## Natural course: untreated patients over 4 years", "",
          "Trial-like patients with no treatment at all, from each fit's population, assessed "
          "every 6 months for 4 years (the HUNT pain study's 8 waves), trajectories classified "
          "by the rules of `prt_sim.inference.natural_course.classify_trajectories`; beside the "
          "shares of Glette et al. 2020 (J Pain 21:689; latent classes, not these rules: a range "
          "check). Median [90%] over posterior draws.", "",
          "| class | Glette 2020 | " + " | ".join(names) + " |",
          "|---|---|" + "---|" * len(names)]  # fmt: skip
    for c in TRAJECTORY_CLASSES:
        pub = s["mechanisms"][names[0]]["natural_course"]["published"][c]
        cells = []
        for n in names:
            b = s["mechanisms"][n]["natural_course"]["shares"][c]
            cells.append(f"{100 * b['median']:.0f}% [{100 * b['lo']:.0f}, {100 * b['hi']:.0f}]")
        L.append(f"| {c.replace('_', ' ')} | {100 * pub:.0f}% | " + " | ".join(cells) + " |")
    L.append("| mean pain change, first to last wave | | " + " | ".join(
        "{median:+.2f} [{lo:+.2f}, {hi:+.2f}]".format(**s["mechanisms"][n]["natural_course"]
                                                      ["mean_pain_change"]) for n in names)
             + " |")  # fmt: skip
    if s.get("reconcile"):
        r = s["reconcile"]
        d = r["arm_fit"]["diagnostics"]
        L += ["", "## The arm-level and the patient-level fit, side by side (inhibition)", "",
              f"The arm-level fit to the published figures ({r['arm_fit']['wall_s']:.0f} s, max "
              f"R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, divergences "
              f"{d['divergences']}) beside the patient-level inhibition fit above: median "
              "[90%] and posterior SD / prior SD. **No** marks intervals that do not overlap.",
              "", "| parameter | arm-level | ratio | patient-level | ratio | overlap |",
              "|---|---|---|---|---|---|"]  # fmt: skip
        pcon = s["mechanisms"]["inhibition"]["contraction"]
        for p, row in r["rows"].items():
            a, b = row["arm"], row["patient"]
            L.append(f"| {p} | {a['median']:.3g} [{a['lo']:.3g}, {a['hi']:.3g}] | "
                     f"{_contraction_cell(r['arm_contraction'][p])} | {b['median']:.3g} "
                     f"[{b['lo']:.3g}, {b['hi']:.3g}] | {_contraction_cell(pcon[p])} | "
                     f"{'yes' if row['overlap'] else '**no**'} |")  # fmt: skip
    L += ["", "## Forecasts, as randomized (no later treatment), by mechanism and stacked", "",
          f"![forecast by mechanism]({os.path.relpath(figure, out_dir)})", "",
          "Median [90% interval] over posterior draws of a trial-size arm (posterior "
          "uncertainty, patient sampling and measurement noise). Pain 0-1 ITT counts missing "
          "assessments as not pain-free, as the paper did.", "",
          "| forecast | arm | year | mean pain | pain 0-1 (observed) | pain 0-1 (ITT) |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    tables = {n: s["mechanisms"][n]["forecast"] for n in names} | {"stacked": s["stacked_forecast"]}
    for n, t in tables.items():
        for arm, by_year in t.items():
            for y, c in by_year.items():
                L.append(f"| {n} | {arm} | {y} | {_iv(c['mean_pain'])} | "
                         f"{_iv(c['pain_free'], True)} | {_iv(c['pain_free_itt'], True)} |")  # fmt: skip
    L += [""]
    return "\n".join(L)


def _ppc_table(rows, visits=POST_VISITS) -> list[str]:
    L = ["| arm | visit | mean pain | pain 0-1 (observed) | pain 0-1 (ITT) | TSK-11 | PCS | "
         "Oswestry |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if r["visit"] not in visits:
            continue
        cells = []
        for k, pct in (("pain_mean", False), ("pain_free_share", True), ("pain_free_itt", True),
                       ("tsk11_mean", False), ("pcs_mean", False), ("odi_mean", False)):  # fmt: skip
            cells.append(_obs(r[k], pct) if k in r else "")
        L.append(f"| {r['arm']} | {r['visit']} | " + " | ".join(cells) + " |")
    return L


def validation_block(s: dict) -> str:
    """The patient-level section of docs/validation.md (the inhibition fit; the other
    mechanisms in docs/mechanisms.md)."""
    r = s["mechanisms"].get("inhibition") or next(iter(s["mechanisms"].values()))
    name = r["mechanism"]
    d = r["diagnostics"]
    L = [f"## Patient-level fit ({name}): does it reproduce the trial?", "",
         f"Written by `experiments/compare_mechanisms.py` (prt_sim {s['prt_sim_version']}, seed "
         f"{s['seed']}); every mechanism's version of these tables is in "
         "[mechanisms.md](mechanisms.md).", "",
         f"Fit to the public patient-level records: {s['settings']['chains']} chains x "
         f"{s['settings']['draws']} draws in {r['fit_wall_s']:.0f} s; max R-hat "
         f"{d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, {d['divergences']} "
         f"divergences: {'converged' if r['converged'] else '**not converged**'}.", "",
         "### The fitted patients themselves, replayed by the full simulator", "",
         "Each recorded patient with their own T1 baseline and the posterior's random effects, "
         "run through their arm's protocol with every random draw of the simulator "
         "(attendance, flares, fluctuation, measurement; whether they started treatment from "
         "their posterior probability of having started), readings kept where the trial has "
         f"them; {s['settings']['ppc_draws']} posterior draws. Observed / predicted median "
         "[90%].", ""]  # fmt: skip
    L += _ppc_table(r["replay"]["rows"])
    a = r["replay"]["post_inside"]
    L += ["", f"{a['inside']} of {a['n']} post-treatment figures inside their 90% interval."]
    L += ["", "### New trial-size cohorts from the fitted population", ""]
    L += _ppc_table(r["population"]["rows"])
    b = r["population"]["post_inside"]
    L += ["", f"{b['inside']} of {b['n']} post-treatment figures inside their 90% interval.", ""]
    L += ["### Within patients", "", "Post x 12-month pain 0-1, among patients observed at "
          "both (trial / replay median [90%]):", "",
          "| arm | both | post only | 12 months only | neither | late responders |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for arm, row in r["replay"]["responders"].items():
        L.append(f"| {arm} | " + " | ".join(_obs(row[c]) for c in pc.RESPONDER_CLASSES)
                 + f" | {_obs(row['late_response_share'], True)} |")  # fmt: skip
    L += ["", "| arm | correlation of pain between consecutive follow-ups |", "|---|---|"]
    for arm, iv in r["replay"]["follow_up_correlation"].items():
        L.append(f"| {arm} | {_obs(iv)} |")
    L += ["", "| arm | each patient's SD over 1-12 months: median | SD of the SDs | same pain "
          "at all five |", "|---|---|---|---|"]  # fmt: skip
    for arm, row in r["replay"]["follow_up_spread"].items():
        L.append(f"| {arm} | {_obs(row['median_sd'])} | {_obs(row['sd_of_sd'])} | "
                 f"{_obs(row['share_steady'], True)} |")  # fmt: skip
    if "split" in r["replay"]:
        L += ["", SPLIT_NOTE, "", "| arm | pain 0-1 at post: n | their pain at post | pain 0-1 "
              "at 1 month: their pain at post |", "|---|---|---|---|"]  # fmt: skip
        for arm in r["replay"]["split"]["post"]:
            L.append(f"| {arm} | " + _split_cells(r["replay"], arm) + " |")
    med = r["replay"]["mediation"]
    L += ["", "### Mediation as the paper ran it", "",
          "Averaged baseline, PRT against each control (trial / replays' median [90%]):", "",
          "| control | total (post) | via TSK-11 | via attributions | total (12 mo) | "
          "via attributions (12 mo) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for ctl, row in med.items():
        if ctl != "r_tsk_pain_treated":
            L.append(f"| {ctl} | {_obs(row['total_post'])} | {_obs(row['indirect_tsk_post'])} | "
                     f"{_obs(row['indirect_mb_post'])} | {_obs(row['total_m12'])} | "
                     f"{_obs(row['indirect_mb_m12'])} |")  # fmt: skip
    L += ["", f"Within PRT, r(TSK-11 change, pain change) {_obs(med['r_tsk_pain_treated'])} "
          "(the paper reports 0.44 with the averaged baseline)."]  # fmt: skip
    L += ["", "### What the data say about each parameter (posterior SD / prior SD)", ""]
    fits = {n: m["contraction"] for n, m in s["mechanisms"].items()}
    if s.get("reconcile"):
        fits = {"arm-level (inhibition)": s["reconcile"]["arm_contraction"]} | fits
    params = sorted({p for c in fits.values() for p in c})
    L += ["| parameter | " + " | ".join(fits) + " |", "|---|" + "---|" * len(fits)]
    for p in params:
        L.append(f"| {p} | " + " | ".join(
            _contraction_cell(c[p]) if p in c else "" for c in fits.values()) + " |")  # fmt: skip
    L += ["", "Below 0.7 the data carry most of the information; near 1 (or above, where the "
          "posterior is pushed against a bound) the posterior is the prior's."
          + _contraction_note(s["mechanisms"].values()), ""]  # fmt: skip
    if s.get("reconcile"):
        L += ["The arm-level and the patient-level fit side by side: see "
              "[mechanisms.md](mechanisms.md#the-arm-level-and-the-patient-level-fit-side-by-side-inhibition).", ""]  # fmt: skip
    return "\n".join(L)


def forecast_block(s: dict) -> str:
    """The mechanism section of docs/forecasting.md: 5-year figures of every arm."""
    L = ["## Five years after treatment, by memory mechanism", "",
         f"From `experiments/compare_mechanisms.py` (prt_sim {s['prt_sim_version']}, seed "
         f"{s['seed']}): each mechanism fitted to the public patient-level records, "
         f"{s['settings']['forecast_draws']} posterior draws, trial-size arms as randomized (no "
         "later treatment); *stacked* pools the mechanisms by their stacking weights. Median "
         "[90% interval]; see [mechanisms.md](mechanisms.md) for years 1, 2 and 3, the "
         "comparison and its reliability.", "",
         "| forecast | weight | arm | mean pain | pain 0-1 (observed) | pain 0-1 (ITT) |",
         "|---|---|---|---|---|---|"]  # fmt: skip
    tables = {n: m["forecast"] for n, m in s["mechanisms"].items()}
    tables["stacked"] = s["stacked_forecast"]
    for n, t in tables.items():
        w = s["stacking_weights"].get(n, 1.0)
        for arm, by_year in t.items():
            c = by_year["5"]
            L.append(f"| {n} | {w:.2f} | {arm} | {_iv(c['mean_pain'])} | "
                     f"{_iv(c['pain_free'], True)} | {_iv(c['pain_free_itt'], True)} |")  # fmt: skip
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
