"""The command line ``prt-sim``: ``reproduce`` (the main job), ``demo``, ``simulate``, ``fit``, ``forecast``, ``forecast-patient``, ``clinic``, ``sweep``, ``power``.

Every output location is checked before any work starts, and a problem with an input or an
output is one line naming it (exit code 2), never a traceback. The process's warning filters
are left as they were: the few warnings silenced here are silenced within ``main`` only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._version import __version__
from .data import published
from .errors import PrtSimError
from .io import check_output_dir, check_output_file, save_figure, write_json, write_text
from .model.cohorts import Cohort
from .model.mechanisms import MECHANISMS
from .model.protocols import BUILTIN
from .simulation import RECORD_MODES, simulate

__all__ = ["main"]

_TRIAL_ARMS = ("prt", "placebo", "usual_care")


def _log(msg: str) -> None:
    print(msg, flush=True)


def _comparison_rows(results) -> list[dict]:
    rows = []
    for visit in ("post", "m1", "m2", "m3", "m6", "m12"):
        for arm in _TRIAL_ARMS:
            res = results[arm]
            if visit not in res.instruments["visit"].values:
                continue
            pain = res.instruments["pain_avg"].sel(visit=visit).values
            obs = pain[~np.isnan(pain)]
            row = {
                "arm": arm,
                "visit": visit,
                "day": int(res.instruments["day"].sel(visit=visit)),
                "pain_mean_sim": float(obs.mean()),
                "pain_mean_published": published.PAIN[visit][arm][0],
                "pain_free_sim": float(np.mean(obs <= 1)),
            }
            if visit in published.PAIN_FREE:
                k, n = published.PAIN_FREE[visit][arm]
                row["pain_free_published_itt"] = k / n
            rows.append(row)
    return rows


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import plotting

    out = check_output_dir(args.out, "--out")
    t0 = time.perf_counter()
    _log(
        f"prt_sim {__version__}: demo simulation of the three trial arms "
        f"({args.n} patients each, seed {args.seed})"
    )
    cohort = Cohort.from_trial_baseline(args.n, seed=args.seed)
    results = {}
    for arm in _TRIAL_ARMS:
        t = time.perf_counter()
        results[arm] = simulate(  # latent states too, for the belief/fear figure
            cohort,
            arm,
            horizon_days=args.horizon,
            seed=args.seed,
            progress=not args.quiet,
            record="visits",
        )
        results[arm].save(out / f"{arm}.nc")
        _log(f"  {arm:<11s} simulated in {time.perf_counter() - t:5.1f} s -> {out / (arm + '.nc')}")
    rows = _comparison_rows(results)
    lines = [
        "| arm | visit | day | mean pain (sim) | mean pain (published) | pain 0-1 (sim) | "
        "pain 0-1 (published, ITT) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pub = r.get("pain_free_published_itt")
        lines.append(
            f"| {r['arm']} | {r['visit']} | {r['day']} | {r['pain_mean_sim']:.2f} | "
            f"{r['pain_mean_published']:.2f} | {100 * r['pain_free_sim']:.0f}% | "
            f"{'' if pub is None else f'{100 * pub:.0f}%'} |"
        )
    table = "\n".join(lines)
    _log("\nSimulated (hand-set default parameters, not yet fitted) vs published:\n" + table)
    observed = {
        arm: {
            published.VISIT_DAYS[v]: published.PAIN[v][arm][0]
            for v in published.PAIN
            if v != "baseline"
        }
        for arm in _TRIAL_ARMS
    }
    figs = {
        "pain_by_arm.png": plotting.plot_arm_means(results, "pain_avg", observed=observed),
        "pain_free_by_arm.png": plotting.plot_pain_free(results),
        "tsk11_by_arm.png": plotting.plot_arm_means(results, "tsk11"),
        "latent_prt.png": plotting.plot_latent(results["prt"]),
    }
    daily = simulate(cohort[:8], "prt", horizon_days=120, seed=args.seed, record="daily")
    figs["daily_prt.png"] = plotting.plot_daily(daily, patients=6)
    for name, (fig, _ax) in figs.items():
        save_figure(fig, out / name)
    write_json(
        out / "summary.json",
        {
            "prt_sim_version": __version__,
            "seed": args.seed,
            "n_per_arm": args.n,
            "comparison": rows,
            "citation": published.CITATION,
        },
    )
    report = [
        f"# prt_sim demo ({__version__})",
        "",
        f"{args.n} simulated patients per arm, seed {args.seed}, default parameters "
        "(hand-set, not fitted).",
        "",
        table,
        "",
        *[f"![{n}]({n})" for n in figs],
        "",
        f"Published figures: {published.CITATION}",
    ]
    write_text(out / "report.md", "\n".join(report) + "\n")
    _log(
        f"\nwrote {out}/report.md, summary.json, {len(figs)} figures and 3 netCDF results "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    check_output_file(args.out, "--out")
    cohort = Cohort.from_trial_baseline(args.n, seed=args.seed)
    res = simulate(
        cohort,
        args.protocol,
        horizon_days=args.horizon,
        seed=args.seed,
        record=args.record,
        progress=not args.quiet,
    )
    path = res.save(args.out)
    s = res.summary()
    _log(f"{'visit':<12s}{'day':>6s}{'n':>8s}{'pain':>7s}{'pain 0-1':>10s}{'TSK-11':>8s}")
    for v in s["visit"].values:
        r = s.sel(visit=v)
        _log(
            f"{v:<12s}{int(r['day']):>6d}{int(r['n']):>8d}{float(r['pain_avg_mean']):>7.2f}"
            f"{100 * float(r['pain_free']):>9.0f}%{float(r['tsk11_mean']):>8.1f}"
        )
    _log(f"wrote {path}")
    return 0


def _load_data(args: argparse.Namespace):
    from . import data as data_mod

    if args.data in (None, "published"):
        d = data_mod.published_ashar2022()
    else:
        path = Path(args.data)
        if path.suffix == ".nc":
            d = data_mod.TrialData.load(path)
        else:  # a folder, or either public file under any name (recognised by its columns)
            d = data_mod.load_ashar2022(path)
    sub = {}
    if args.arms:
        sub["arms"] = args.arms.split(",")
    if args.visits:
        sub["visits"] = args.visits.split(",")
    if args.max_day is not None:
        sub["max_day"] = args.max_day
    return d.subset(**sub) if sub else d


def _cmd_fit(args: argparse.Namespace) -> int:
    from .inference import TrialModel

    out = check_output_file(args.out, "--out")
    data = _load_data(args)
    level = None if args.level == "auto" else args.level
    tm = TrialModel(data, level=level, n_agents=args.n_agents, mechanism=args.mechanism)
    _log(
        f"prt_sim {__version__}: fitting {tm.level}-level data ({data.source}) under the "
        f"{tm.mechanism} mechanism; "
        f"arms {', '.join(data.arms)}; sampler {args.sampler}, {args.chains} chains x "
        f"{args.draws} draws ({'default' if args.tune is None else args.tune} tuning), "
        f"seed {args.seed}"
    )
    idata = tm.fit(
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        sampler=args.sampler,
        seed=args.seed,
        progress=not args.quiet,
    )
    diag = tm.diagnostics(idata)
    _log(
        f"fit in {idata.attrs['wall_time_s']:.0f} s: max R-hat {diag['max_rhat']:.3f}, "
        f"min bulk ESS {diag['min_ess_bulk']:.0f}, divergences {diag['divergences']} -> "
        + (
            "converged"
            if diag["converged"]
            else "NOT converged (R-hat <= 1.01, ESS >= 400, no divergences not all met)"
        )
    )
    if args.ppc_draws:
        idata = tm.sample_posterior_predictive(
            idata, n_draws=args.ppc_draws, seed=args.seed, progress=not args.quiet
        )
    tm.save(idata, out)
    import arviz as az

    summ = az.summary(idata, var_names=list(tm.priors), kind="all", round_to=4)
    table = summ.to_string()
    _log("\n" + table)
    write_text(out.with_suffix(".summary.txt"), table + "\n")
    write_json(out.with_suffix(".diagnostics.json"), diag)
    _log(
        f"\nwrote {out}, {out.with_suffix('.summary.txt')}, {out.with_suffix('.diagnostics.json')}"
    )
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .report import reproduce

    check_output_dir(args.out, "--out")
    mode = "quick" if args.quick else "full" if args.full else "default"
    args.arms = args.visits = args.max_day = None
    data = _load_data(args)
    level = None if args.level == "auto" else args.level
    # A fit that does not converge is reported (printed, report.md, summary.json), not hidden;
    # the job still writes everything so the diagnostics can be inspected.
    reproduce(
        data,
        out=args.out,
        mode=mode,
        seed=args.seed,
        level=level,
        mechanism=args.mechanism,
        progress=not args.quiet,
    )
    return 0


def _report_years(horizon: float) -> list[float]:
    """The forecast's rows in the console: every whole year, and the horizon itself."""
    years = [float(y) for y in range(1, math.floor(horizon) + 1)]
    return years + ([horizon] if not years or years[-1] < horizon else [])


def _cmd_forecast(args: argparse.Namespace) -> int:
    from .forecasting import forecast, forecast_bands, save_forecast
    from .inference import TrialModel

    check_output_file(args.out, "--out")
    idata = TrialModel.load(args.fit)
    available = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    if args.draws > available:
        _log(f"note: the fit has {available} posterior draws; forecasting with all of them")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    ds = forecast(
        idata,
        [p.strip() for p in args.protocols.split(",") if p.strip()] if args.protocols else None,
        scenarios=scenarios,
        horizon_years=args.years,
        n_patients=args.n_patients,
        n_draws=min(args.draws, available),
        seed=args.seed,
        progress=not args.quiet,
    )
    path = save_forecast(ds, args.out)
    b = forecast_bands(ds)
    w = max(15, 2 + max(len(str(sc)) for sc in ds["scenario"].values))  # scenario column
    _log(
        f"{'arm':<12s}{'scenario':<{w}s}{'years':>6s}{'mean pain':>11s}{'pain 0-1':>10s}"
        f"{'relapsed':>10s}   (posterior medians over {ds.sizes['draw']} draws)"
    )
    times = ds["time"].values
    for arm in ds["arm"].values:
        for sc in ds["scenario"].values:
            for y in _report_years(float(times[-1])):
                k = int(np.argmin(np.abs(times - y)))
                r = b.sel(arm=arm, scenario=sc, stat="median").isel(time=k)
                _log(
                    f"{arm:<12s}{sc:<{w}s}{float(times[k]):>6.3g}{float(r['mean_pain']):>11.2f}"
                    f"{100 * float(r['pain_free']):>9.0f}%{100 * float(r['relapsed']):>9.0f}%"
                )
    _log(f"wrote {path}")
    return 0


def _cmd_forecast_patient(args: argparse.Namespace) -> int:
    from .forecasting import forecast_patient
    from .inference import TrialModel
    from .io import save_dataset
    from .plotting import plot_patient_forecast

    out = check_output_file(args.out, "--out")
    idata = TrialModel.load(args.fit)
    args.arms = args.visits = args.max_day = None
    data = _load_data(args)
    protocols = [p.strip() for p in args.protocols.split(",")] if args.protocols else None
    ds = forecast_patient(idata, data, args.patient, upto=args.upto, protocols=protocols,
                          n_draws=args.draws, n_effects=args.effects, horizon_years=args.years,
                          seed=args.seed, progress=not args.quiet)  # fmt: skip
    path = save_dataset(ds, out)
    fig, _ = plot_patient_forecast(ds)
    fig_path = save_figure(fig, out.with_suffix(".png"))
    _log(f"patient {args.patient}: records up to {args.upto or 'the last recorded visit'}; "
         f"median importance ESS {float(ds['ess'].median()):.0f} of {args.effects} candidates")  # fmt: skip
    _log(f"{'protocol':<12s}{'years':>6s}{'pain':>14s}{'P(pain 0-1)':>14s}")
    times = ds["time"].values
    for proto in ds["protocol"].values:
        for y in _report_years(float(times[-1])):
            k = int(np.argmin(np.abs(times - y)))
            m = ds["mean_pain"].sel(protocol=proto).isel(time=k).values
            f = ds["pain_free"].sel(protocol=proto).isel(time=k).values
            lo, med, hi = np.nanquantile(m, [0.05, 0.5, 0.95])
            _log(f"{proto:<12s}{float(times[k]):>6.3g}{med:>6.2f} [{lo:.1f},{hi:.1f}]"
                 f"{100 * np.nanmean(f):>12.0f}%")  # fmt: skip
    _log(f"wrote {path}, {fig_path}")
    return 0


def _cmd_clinic(args: argparse.Namespace) -> int:
    from .clinic import load_spec, run_clinic

    out = check_output_file(args.out, "--out")
    figures = check_output_dir(args.figures, "--figures") if args.figures else None
    spec = load_spec(args.spec)
    if args.replications < 1:
        from .errors import ValidationError

        raise ValidationError("--replications", args.replications, "an integer >= 1")
    res = run_clinic(spec, seed=args.seed, replications=args.replications, progress=not args.quiet)
    res.save(out)
    s = res.summary()
    conf = 100 * s.attrs["confidence"]
    _log(f"{'figure':<32s}{'mean':>12s}{f'{conf:g}% interval':>28s}")
    for v in (
        "referrals",
        "wait_mean",
        "p_wait",
        "share_over_target",
        "still_waiting",
        "reneged_share",
        "queue_mean",
        "caseload_utilisation",
        "hours_utilisation",
        "pain_free_post",
        "pain_free_per_therapist_year",
        "cost_per_pain_free",
        "followup_pain_free_share",
    ):
        m, lo, hi = (float(x) for x in s[v].values)
        _log(f"{v:<32s}{m:>12.3f}{f'[{lo:.3f}, {hi:.3f}]':>28s}")
    sessions = s["sessions"].sel(stat="mean")
    _log(
        "sessions attended per run by format: "
        + ", ".join(f"{f} {float(sessions.sel(format=f)):.0f}" for f in sessions["format"].values)
    )
    if figures is not None:
        from .plotting import clinic as cplot

        plots = {
            "waits.png": cplot.plot_waits,
            "queue.png": cplot.plot_queue,
            "sessions.png": cplot.plot_sessions_by_format,
        }
        if spec.dynamics:
            plots["population_pain.png"] = cplot.plot_population_pain
        for name, fn in plots.items():
            try:
                fig, _ = fn(res)
            except ValueError as e:  # nothing to draw (say, nobody waitlisted)
                _log(f"  {name}: skipped ({e})")
                continue
            save_figure(fig, figures / name)
        _log(f"wrote figures to {figures}")
    _log(f"wrote {out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .experiments import load_spec, run_sweep

    spec = load_spec(args.spec)  # the spec and the output folder are checked before any work
    workers = args.workers
    executor = "dask" if args.scheduler else args.executor
    run = run_sweep(
        spec,
        args.out,
        executor=executor,
        workers=workers,
        scheduler=args.scheduler,
        batch_size=args.batch_size,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        progress_interval=args.progress_interval,
    )
    s = run.summary
    _log(
        f"sweep {spec.name!r} (spec {spec.hash}): {s['points']} points x {s['replicates']} "
        f"replicates = {s['tasks']} tasks; {s['already_done']} already done, {s['ran']} run now "
        f"({s['finished']} finished, {s['failed']} failed) in {s['wall_s']:.1f} s on "
        f"{s['workers']} {s['executor']} worker(s) ({s['tasks_per_min']:.0f} tasks/min)"
    )
    if s["failed_total"]:
        import json as _json

        fails = _json.loads(run.data.attrs["failures"])
        _log(f"{s['failed_total']} failed task(s); first: {fails[0]} (rerun with --retry-failed)")
    _log(f"wrote {run.path / 'results.nc'}")
    return 1 if s["failed_total"] else 0


def _cmd_power(args: argparse.Namespace) -> int:
    from .experiments.power import run_power
    from .experiments.power_spec import load_power_spec

    spec = load_power_spec(args.spec)  # the spec and the outputs are checked before any work
    if args.trials is not None:
        spec = spec.replace(trials=args.trials)
    out = check_output_file(args.out, "--out")
    figure = check_output_file(args.figure, "--figure") if args.figure else None
    q = spec.quantity
    _log(
        f"prt_sim {__version__}: {q} of {spec.name!r} (spec {spec.hash}): {spec.treatment} vs "
        f"{spec.control}, {spec.analysis.kind} on {spec.endpoint.measure} at day "
        f"{spec.endpoint.day}, {spec.trials} trials at n per arm {list(spec.n_per_arm)}, "
        f"parameters: {spec.parameters.source}"
    )
    run = run_power(
        spec,
        out=out,
        executor=args.executor,
        workers=args.workers,
        progress=not args.quiet,
    )
    ds = run.data
    _log(f"{'n per arm':>10s}{q:>11s}{'MC SE':>8s}{'mean estimate':>15s}")
    for n in ds["n_per_arm"].values:
        r = ds.sel(n_per_arm=n)
        _log(
            f"{int(n):>10d}{float(r[q]):>11.3f}{float(r[f'{q}_se']):>8.3f}"
            f"{float(r['mean_estimate']):>15.3f}"
        )
    size = run.sample_size
    if size is not None:
        if size.reached:
            _log(
                f"n per arm for {q} {size.target:g}: {size.n_required} (curve {size.curve}: "
                f"{size.n:.1f}, bootstrap 95% [{size.low:.1f}, {size.high:.1f}], MC SE "
                f"{size.se:.1f}); at n = {size.n_required}: {q} {size.achieved:.3f} +/- "
                f"{size.achieved_se:.3f}" + (f"; {size.note}" if size.note else "")
            )
        else:
            _log(f"n per arm for {q} {size.target:g}: not reached ({size.note})")
    if figure is not None:
        from .plotting.power import plot_power_curve

        fig, _ = plot_power_curve(ds)
        save_figure(fig, figure)
        _log(f"wrote {figure}")
    s = run.summary
    _log(
        f"wrote {out} ({s['patients_simulated']:,} patients simulated in {s['wall_s']:.1f} s "
        f"on {s['workers']} {s['executor']} worker(s))"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``prt-sim`` argument parser (every option's help shows its default)."""
    from .forecasting import DEFAULT_SCENARIOS, SCENARIOS

    fmt = argparse.ArgumentDefaultsHelpFormatter
    ap = argparse.ArgumentParser(prog="prt-sim", description=__doc__, formatter_class=fmt)
    ap.add_argument("--version", action="version", version=f"prt_sim {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    data_help = (
        "'published' (the Ashar 2022 arm-level figures), a folder or file of the public "
        "patient-level data (either public file, under any name), or a saved TrialData .nc"
    )

    r = sub.add_parser(
        "reproduce",
        help="the main job: fit the trial, check the fit, forecast 5 years, write a report",
        formatter_class=fmt,
    )
    r.add_argument("--data", default="published", help=data_help)
    r.add_argument(
        "--level",
        default="auto",
        choices=("auto", "arm", "patient"),
        help="fit arm-level summaries or patient records (auto: the data's level)",
    )
    effort = r.add_mutually_exclusive_group()
    effort.add_argument("--quick", action="store_true", help="smoke-test effort (about a minute)")
    effort.add_argument("--full", action="store_true", help="publication-quality sampling")
    r.add_argument(
        "--seed", type=int, default=1, help="seed of every stage (fit, checks, forecast)"
    )
    r.add_argument(
        "--mechanism",
        default="inhibition",
        help="memory mechanism: one of "
        f"{', '.join(MECHANISMS)}, or several joined by '+' (docs/model.md, section 4b)",
    )
    r.add_argument("--out", default="out/reproduce", help="report folder")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(func=_cmd_reproduce)

    fc = sub.add_parser(
        "forecast", help="forecast durability from a saved fit (netCDF)", formatter_class=fmt
    )
    fc.add_argument("--fit", required=True, help="InferenceData .nc written by prt-sim fit")
    fc.add_argument(
        "--protocols",
        help="comma-separated trial arms or built-in protocols "
        f"({', '.join(sorted(BUILTIN))}); default: the fit's arms",
    )
    fc.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help=f"comma-separated scenarios, among: {', '.join(SCENARIOS)}",
    )
    fc.add_argument(
        "--years", type=float, default=5.0, help="years after post-treatment (1/12 to 50)"
    )
    fc.add_argument(
        "--draws",
        type=int,
        default=500,
        help="posterior draws to forecast with (at most the fit's; evenly spaced)",
    )
    fc.add_argument(
        "--n-patients",
        type=int,
        default=None,
        help="patients per draw and arm (default: each arm's randomized size)",
    )
    fc.add_argument("--seed", type=int, default=0, help="seed of the forecast's random numbers")
    fc.add_argument("--out", default="out/forecast.nc", help="forecast Dataset (.nc)")
    fc.add_argument("--quiet", action="store_true", help="no progress output")
    fc.set_defaults(func=_cmd_forecast)

    fp = sub.add_parser(
        "forecast-patient",
        help="one patient's posterior and 5-year forecast under each protocol",
        formatter_class=fmt,
    )
    fp.add_argument(
        "--fit", required=True, help="a patient-level fit (.nc, prt-sim fit --level patient)"
    )
    fp.add_argument("--data", required=True, help=data_help)
    fp.add_argument("--patient", type=int, required=True, help="the patient's id in --data")
    fp.add_argument(
        "--upto", default=None, help="use records up to this visit (e.g. t1: baseline only)"
    )
    fp.add_argument("--protocols", help="comma-separated protocols (default: the fit's arms)")
    fp.add_argument("--years", type=float, default=5.0, help="years after post-treatment")
    fp.add_argument("--draws", type=int, default=100, help="posterior draws of the population")
    fp.add_argument("--effects", type=int, default=256, help="candidate patients weighed per draw")
    fp.add_argument("--seed", type=int, default=0, help="seed of candidates and futures")
    fp.add_argument("--out", default="out/patient_forecast.nc", help="forecast Dataset (.nc)")
    fp.add_argument("--quiet", action="store_true", help="no progress output")
    fp.set_defaults(func=_cmd_forecast_patient)

    d = sub.add_parser(
        "demo",
        help="simulate the three trial arms and write a report with plots",
        formatter_class=fmt,
    )
    d.add_argument("--n", type=int, default=5000, help="patients per arm")
    d.add_argument("--seed", type=int, default=1, help="seed of cohort and simulation")
    d.add_argument("--horizon", type=int, default=400, help="last study day")
    d.add_argument("--out", default="out/demo", help="output folder")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser(
        "simulate", help="simulate one protocol and save the result (netCDF)", formatter_class=fmt
    )
    s.add_argument("--protocol", default="prt", choices=sorted(BUILTIN), help="built-in protocol")
    s.add_argument("--n", type=int, default=1000, help="patients")
    s.add_argument("--seed", type=int, default=0, help="seed of cohort and simulation")
    s.add_argument("--horizon", type=int, default=400, help="last study day")
    s.add_argument("--record", default="visits", choices=RECORD_MODES, help="what to record")
    s.add_argument("--out", required=True, help="output .nc file")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_simulate)

    f = sub.add_parser(
        "fit", help="fit the model to trial data with PyMC (InferenceData .nc)", formatter_class=fmt
    )
    f.add_argument("--data", default="published", help=data_help)
    f.add_argument(
        "--level",
        default="auto",
        choices=("auto", "arm", "patient"),
        help="fit arm-level summaries or patient records (auto: the data's level)",
    )
    f.add_argument("--arms", help="comma-separated arms to fit (default: all)")
    f.add_argument("--visits", help="comma-separated visits to fit (default: all)")
    f.add_argument("--max-day", type=int, help="fit only visits up to this study day")
    f.add_argument("--sampler", default="nutpie", choices=("nutpie", "pymc"), help="NUTS sampler")
    f.add_argument("--draws", type=int, default=1000, help="draws kept per chain")
    f.add_argument("--tune", type=int, default=None, help="tuning draws per chain (default 500)")
    f.add_argument("--chains", type=int, default=4, help="chains")
    f.add_argument("--n-agents", type=int, default=32, help="surrogate agents per arm")
    f.add_argument(
        "--mechanism",
        default="inhibition",
        help="memory mechanism: one of "
        f"{', '.join(MECHANISMS)}, or several joined by '+' (docs/model.md, section 4b)",
    )
    f.add_argument(
        "--ppc-draws",
        type=int,
        default=0,
        help="posterior predictive replicates with the full simulator",
    )
    f.add_argument("--seed", type=int, default=0, help="sampler seed")
    f.add_argument("--out", default="out/fit.nc", help="output InferenceData (.nc)")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.set_defaults(func=_cmd_fit)

    c = sub.add_parser(
        "clinic",
        help="care delivery: therapists, waitlists, formats and costs from a TOML spec",
        formatter_class=fmt,
    )
    c.add_argument("spec", help="clinic spec (TOML; see examples/clinic.toml)")
    c.add_argument("--replications", type=int, default=5, help="independent replications")
    c.add_argument("--seed", type=int, default=0, help="seed of every random stream")
    c.add_argument("--out", default="out/clinic.nc", help="result (.nc)")
    c.add_argument("--figures", default=None, help="folder for figures (none if omitted)")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=_cmd_clinic)

    sw = sub.add_parser(
        "sweep",
        help="run, resume or extend a parameter sweep from a TOML spec (see docs/sweeps.md)",
        formatter_class=fmt,
    )
    sw.add_argument("spec", help="sweep spec (TOML; see experiments/*.toml)")
    sw.add_argument("--out", required=True, help="the sweep's folder (results/NAME)")
    sw.add_argument(
        "--executor",
        default="pool",
        choices=("pool", "sequential", "dask"),
        help="where tasks run (dask needs --scheduler)",
    )
    sw.add_argument("--workers", type=int, default=None, help="pool processes (default: CPUs)")
    sw.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:port)")
    sw.add_argument("--batch-size", type=int, default=None, help="tasks per batch (default: auto)")
    sw.add_argument("--retry-failed", action="store_true", help="rerun tasks that failed before")
    sw.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="seconds between progress lines when output is not a terminal",
    )
    sw.add_argument("--quiet", action="store_true", help="no progress output")
    sw.set_defaults(func=_cmd_sweep)

    pw = sub.add_parser(
        "power",
        help="power, assurance and the n per arm of a two-arm trial from a TOML spec "
        "(see docs/power.md)",
        formatter_class=fmt,
    )
    pw.add_argument("spec", help="trial design spec (TOML; see experiments/*.toml)")
    pw.add_argument("--out", default="out/power.nc", help="result (.nc)")
    pw.add_argument("--figure", default=None, help="power curve figure (.png; none if omitted)")
    pw.add_argument("--trials", type=int, default=None, help="simulated trials (default: spec's)")
    pw.add_argument(
        "--executor",
        default="sequential",
        choices=("sequential", "pool"),
        help="where batches of trials run (the numbers do not depend on it)",
    )
    pw.add_argument("--workers", type=int, default=None, help="pool processes (default: CPUs)")
    pw.add_argument("--quiet", action="store_true", help="no progress output")
    pw.set_defaults(func=_cmd_power)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``prt-sim``; returns the exit code (2 for bad input, with one line)."""
    # Figures are files here: a display-less backend unless the user chose one.
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():  # scoped: the process's own filters are left alone
        warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
        warnings.filterwarnings("ignore", category=FutureWarning, module="pymc")
        try:
            return args.func(args)
        except PrtSimError as e:
            print(f"prt-sim: error: {e}", file=sys.stderr)
            return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
