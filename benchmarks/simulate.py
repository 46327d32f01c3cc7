"""Performance benchmark of :func:`prt_sim.simulate` (run: ``python benchmarks/simulate.py``).

Measures, each as the best of a few repeats (other processes may share the machine):

(a) throughput of the full model, 1,000,000 patients x 365 simulated days under PRT, in
    patient-days/s (numba compile time excluded by a warm-up call; cohort build timed apart;
    the time inside the engine's ``advance`` / ``observe`` kernels is reported too);
(b) peak memory (RSS high-water mark) of that run with ``record="visits"`` and with the default
``record="instruments"`` (the one the < 1 GB target applies to), each in a
    fresh subprocess so this process's memory does not count;
(c) the Mesa per-agent reference (``benchmarks/mesa_reference.py``) on a small cohort, and the
    engine / Mesa speed ratio;
(d) the numpy-vectorised path: ``daily_step`` on arrays over all patients, numpy shocks.

Throughput is also given per CPU-second (``time.process_time``, all threads), a figure far less
sensitive than wall time to other processes competing for the cores.

Prints a table, then as the last line one JSON object with the figures. ``--quick`` shrinks the
sizes for smoke tests. Targets (issue): >= 2e7 patient-days/s, peak RSS < 1 GB, >= 100x Mesa.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import prt_sim  # noqa: E402
from prt_sim import Cohort, ModelParams, engine, simulate  # noqa: E402
from prt_sim.model.dynamics import Drive, Shocks, State, daily_step, pain  # noqa: E402
from prt_sim.model.protocols import get as get_protocol  # noqa: E402
from prt_sim.model.timeline import build_timeline  # noqa: E402

TARGET_RATE = 2e7  # patient-days/s
TARGET_RSS_MB = 1000.0  # 1 GB
TARGET_SPEEDUP = 100.0
PROTOCOL = "prt"
MB = 1e6


# -- helpers ---------------------------------------------------------------------------------
def horizon_for(n_days: int, protocol: str = PROTOCOL) -> int:
    """The ``horizon_days`` whose timeline has exactly ``n_days`` simulated days.

    The timeline starts 7 days before the first visit (the eligibility visit, day -10), so
    ``horizon_days = n_days - 18`` for the trial schedule; computed, not assumed.
    """
    proto = get_protocol(protocol)
    start = build_timeline(proto, horizon_days=max(n_days, 30)).start_day
    h = n_days - 1 + start
    if h < 1:
        raise SystemExit(f"--days must be at least {2 - start} (timeline starts on day {start})")
    tl = build_timeline(proto, horizon_days=h)
    if tl.n_days != n_days:  # e.g. a visit dropped by a short horizon moved the start
        raise SystemExit(f"cannot simulate exactly {n_days} days (got {tl.n_days})")
    return h


def best_of(fn, repeats: int):
    """Run ``fn`` ``repeats`` times; return (best seconds, all seconds, result of the best)."""
    times, best, out = [], float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t
        times.append(dt)
        if dt < best:
            best, out = dt, r
        del r
    return best, times, out


class _Timed:
    """Wraps an engine kernel to accumulate the time spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args):
        t = time.perf_counter()
        out = self.fn(*args)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


def timed_simulate(cohort, horizon, seed, record="visits"):
    """``simulate`` with the time inside engine.advance / observe / prime accumulated."""
    prime = "prime" if hasattr(engine, "prime") else "prime_ring"  # prime_ring before 0.2
    kernels = {k: getattr(engine, k) for k in ("advance", "observe", prime)}
    wrapped = {k: _Timed(f) for k, f in kernels.items()}
    for k, w in wrapped.items():
        setattr(engine, k, w)
    try:
        t, cpu = time.perf_counter(), time.process_time()
        res = simulate(
            cohort, PROTOCOL, horizon_days=horizon, seed=seed, record=record, progress=False
        )
        total, cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        for k, f in kernels.items():
            setattr(engine, k, f)
    return {
        "total": total,
        "cpu": cpu,  # CPU seconds of all threads: robust to other processes on the machine
        "advance": wrapped["advance"].seconds,
        "advance_calls": wrapped["advance"].calls,
        "observe": wrapped["observe"].seconds,
        "observe_calls": wrapped["observe"].calls,
        "prime": wrapped[prime].seconds,
        "result": res,
    }


def _read_hwm_kb() -> int | None:
    """VmHWM: peak RSS of this process's address space since exec (or the last reset), kB.

    Unlike ``getrusage(RUSAGE_SELF).ru_maxrss``, which Linux carries over ``execve`` (a child
    started by ``subprocess`` reports the *parent's* peak if that was higher), VmHWM starts
    afresh with the new program.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    """Reset the RSS high-water mark (Linux >= 4.0: ``5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _RssSampler:
    """Samples this process's RSS every ``dt`` seconds in a thread (cross-check of VmHWM)."""

    def __init__(self, dt: float = 0.02):
        self.proc, self.dt, self.peak = psutil.Process(), dt, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.dt)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _dataset_mb(ds) -> float:
    return 0.0 if ds is None else sum(v.nbytes for v in ds.variables.values()) / MB


def memory_child(n: int, n_days: int, seed: int, record: str) -> None:
    """In a fresh process: build the cohort, run ``simulate(record=...)``, report RSS (MB)."""
    proc = psutil.Process()
    h = horizon_for(n_days)
    simulate(Cohort.from_trial_baseline(64, seed), PROTOCOL, horizon_days=h, progress=False)
    rss_imports = proc.memory_info().rss
    with _RssSampler() as build:
        cohort = Cohort.from_trial_baseline(n, seed)
    hwm_build = _read_hwm_kb()  # since exec: imports + warm-up + cohort build
    rss_cohort = proc.memory_info().rss
    reset = _reset_hwm()
    with _RssSampler() as run:
        res = simulate(cohort, PROTOCOL, horizon_days=h, seed=seed, record=record, progress=False)
    hwm_sim = _read_hwm_kb() if reset else None
    kb = 1024 / MB
    out = {
        "record": record,
        "rss_after_imports_mb": rss_imports / MB,
        "rss_with_cohort_mb": rss_cohort / MB,
        "rss_after_simulate_mb": proc.memory_info().rss / MB,
        "peak_rss_build_mb": None if hwm_build is None else hwm_build * kb,
        "peak_rss_simulate_mb": None if hwm_sim is None else hwm_sim * kb,
        "sampled_peak_build_mb": build.peak / MB,
        "sampled_peak_simulate_mb": run.peak / MB,
        "instruments_mb": _dataset_mb(res.instruments),
        "latent_mb": _dataset_mb(res.latent),
        "patients_mb": _dataset_mb(res.patients),
        "cohort_mb": (
            sum(v.nbytes for v in (*cohort.traits, *cohort.state, *cohort.baseline.values()))
            + cohort.patient_id.nbytes
        )
        / MB,
        "source": "VmHWM" if hwm_build is not None and reset else "sampled",
    }
    if hwm_build is None or not reset:  # no /proc: fall back on the sampled peaks
        out["peak_rss_build_mb"] = out["sampled_peak_build_mb"]
        out["peak_rss_simulate_mb"] = out["sampled_peak_simulate_mb"]
    out["peak_rss_process_mb"] = max(out["peak_rss_build_mb"], out["peak_rss_simulate_mb"])
    print(json.dumps(out))


def run_memory_child(n: int, n_days: int, seed: int, record: str = "visits") -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", "--record", record]
    cmd += ["--n-patients", str(n), "--days", str(n_days), "--seed", str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def numpy_run(cohort: Cohort, n_days: int, horizon: int, seed: int, params: ModelParams) -> dict:
    """The vectorised reference: daily_step on numpy arrays over all patients, numpy shocks.

    Simulates the first ``n_days`` days of the timeline of ``horizon`` (they include sessions).
    """
    protocol = get_protocol(PROTOCOL)
    tl = build_timeline(protocol, horizon_days=horizon)
    n_days = min(n_days, tl.n_days)
    p = params.to_tuple()
    x = cohort.traits
    s = State(*(v.copy() for v in cohort.state))
    n = len(cohort)
    g = np.random.default_rng(seed)
    treating = g.random(n) < protocol.uptake
    attended = np.zeros(n, dtype=np.int32)
    ring = np.empty((7, n))
    ring[:] = pain(s, x, p, s.flare)
    zeros = np.zeros(n)
    t_shocks = t_step = 0.0
    for t in range(n_days):
        t0 = time.perf_counter()
        noise = g.standard_normal(n)
        flare = (g.random(n) < p.flare_rate * tl.flare_multiplier[t]).astype(float)
        attend = adhere = zeros
        if tl.session[t]:
            att = treating & (g.random(n) < protocol.attendance)
            adh = att & (g.random(n) < x.adherence)
            treating &= ~(att & (g.random(n) < protocol.dropout))
            attended += att
            attend, adhere = att.astype(float), adh.astype(float)
        sg = np.where(treating, tl.self_guided[t], 0.0) if tl.self_guided[t] else 0.0
        d = Drive(tl.education[t], tl.exposure[t], tl.placebo[t], sg, 1.0)
        t1 = time.perf_counter()
        s, today = daily_step(s, x, d, Shocks(noise, flare, attend, adhere), p)
        ring[t % 7] = today
        t2 = time.perf_counter()
        t_shocks += t1 - t0
        t_step += t2 - t1
    return {"shocks": t_shocks, "step": t_step, "mean_pain": float(ring.mean())}


def fmt_rate(r: float) -> str:
    return f"{r / 1e6:,.2f} M/s" if r >= 1e5 else f"{r:,.0f} /s"


# -- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    ap.add_argument("--n-patients", type=int, default=None, help="engine cohort (1,000,000)")
    ap.add_argument("--days", type=int, default=365, help="simulated days (365)")
    ap.add_argument("--mesa-patients", type=int, default=None, help="Mesa cohort (200)")
    ap.add_argument("--numpy-patients", type=int, default=None, help="numpy cohort (= engine)")
    ap.add_argument("--numpy-days", type=int, default=30, help="numpy days (30)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats, best reported (3)")
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocess")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--record", default="visits", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    n = args.n_patients or (20_000 if args.quick else 1_000_000)
    n_days = args.days
    if args.memory_child:
        memory_child(n, n_days, args.seed, args.record)
        return 0
    n_mesa = args.mesa_patients or (10 if args.quick else 200)
    n_np = args.numpy_patients or n
    np_days = min(args.numpy_days, n_days)
    repeats = args.repeats or (2 if args.quick else 3)
    seed = args.seed
    horizon = horizon_for(n_days)
    params = ModelParams()

    from mesa_reference import run_mesa  # noqa: E402  (benchmarks/ is on sys.path)

    load0 = os.getloadavg()
    print(
        f"prt_sim {prt_sim.__version__} | numpy {np.__version__} | numba {numba.__version__} | "
        f"python {platform.python_version()} | {os.cpu_count()} CPUs | "
        f"numba threads {numba.get_num_threads()} | load avg {load0[0]:.2f}",
        flush=True,
    )
    print(
        f"protocol {PROTOCOL!r}, horizon_days={horizon} -> {n_days} simulated days "
        f"(timeline starts 7 days before the eligibility visit); best of {repeats}",
        flush=True,
    )

    # warm-up: numba compilation / cache loading, on tiny inputs
    t = time.perf_counter()
    tiny = Cohort.from_trial_baseline(64, seed)
    simulate(tiny, PROTOCOL, horizon_days=horizon, seed=seed, progress=False)
    run_mesa(tiny[:2], PROTOCOL, 30, seed)
    warmup_s = time.perf_counter() - t
    layer = numba.threading_layer()

    # (a) cohort build, then throughput
    print(f"[a] building a cohort of {n:,} patients ...", flush=True)
    cohort_s, cohort_all, cohort = best_of(
        lambda: Cohort.from_trial_baseline(n, seed), min(repeats, 2)
    )
    print(f"[a] simulate {n:,} x {n_days} days ...", flush=True)
    sim_s, sim_all, prof = best_of(lambda: timed_simulate(cohort, horizon, seed), repeats)
    res = prof.pop("result")
    assert res.instruments.sizes["patient"] == n
    pdays = n * n_days
    rate = pdays / sim_s
    rate_kernel = pdays / prof["advance"]
    obs_per_visit = prof["observe"] / max(1, len(res.instruments.visit))
    other_s = sim_s - prof["advance"] - prof["observe"] - prof["prime"]
    del res

    # (d) numpy-vectorised path
    print(f"[d] numpy path {n_np:,} x {np_days} days ...", flush=True)
    np_cohort = cohort if n_np == n else Cohort.from_trial_baseline(n_np, seed)
    np_s, np_all, np_prof = best_of(
        lambda: numpy_run(np_cohort, np_days, horizon, seed, params), repeats
    )
    np_rate = n_np * np_days / np_s
    np_step_rate = n_np * np_days / np_prof["step"]
    np_cohort = cohort = None  # free the big cohort before the memory subprocess

    # (c) Mesa reference
    print(f"[c] Mesa reference {n_mesa} x {n_days} days ...", flush=True)
    mesa_cohort = Cohort.from_trial_baseline(n_mesa, seed)

    def mesa_run():
        cpu = time.process_time()
        out = run_mesa(mesa_cohort, PROTOCOL, horizon, seed, params)
        return out, time.process_time() - cpu

    mesa_s, mesa_all, (mesa_res, mesa_cpu) = best_of(mesa_run, repeats)
    assert mesa_res.n_days == n_days
    mesa_rate = n_mesa * n_days / mesa_s
    speedup = rate / mesa_rate
    cpu_rate = pdays / prof["cpu"]
    mesa_cpu_rate = n_mesa * n_days / mesa_cpu

    # (b) memory, in a fresh process (and, for comparison, with record="instruments")
    mem = mem_ins = None
    if not args.no_memory:
        print(f"[b] peak memory of {n:,} x {n_days} days in a subprocess ...", flush=True)
        mem = run_memory_child(n, n_days, seed, "visits")
        mem_ins = run_memory_child(n, n_days, seed, "instruments")
    load1 = os.getloadavg()

    peak = mem["peak_rss_process_mb"] if mem else None  # record="visits" (adds latent states)
    # The target applies to the default record ("instruments": visit-level observations).
    peak_default = mem_ins["peak_rss_process_mb"] if mem_ins else None

    def ok(flag):
        return "n/a" if flag is None else ("yes" if flag else "NO")

    met_rate = rate >= TARGET_RATE
    met_rss = None if peak_default is None else peak_default < TARGET_RSS_MB
    met_speed = speedup >= TARGET_SPEEDUP
    rows = [
        ("warm-up (compile / cache load)", f"{warmup_s:.2f} s", "", ""),
        (f"cohort build, {n:,} patients", f"{cohort_s:.2f} s", "", ""),
        (f"simulate {n:,} x {n_days} d (record=visits)", f"{sim_s:.2f} s", "", ""),
        ("  throughput, whole simulate()", fmt_rate(rate), ">= 20 M/s", ok(met_rate)),
        (
            f"  per CPU-second ({prof['cpu']:.1f} cpu-s over {numba.get_num_threads()} threads)",
            fmt_rate(cpu_rate),
            "",
            "",
        ),
        (
            f"  in engine.advance ({prof['advance_calls']} calls)",
            f"{prof['advance']:.2f} s = {fmt_rate(rate_kernel)}",
            "",
            "",
        ),
        (
            f"  in engine.observe ({prof['observe_calls']} calls)",
            f"{prof['observe']:.2f} s ({obs_per_visit * 1e3:.0f} ms/visit)",
            "",
            "",
        ),
        ("  other (slicing, prime, xarray)", f"{other_s + prof['prime']:.2f} s", "", ""),
    ]
    if mem:
        m = mem
        rows += [
            ("peak RSS of the run (record=visits)", f"{peak:,.0f} MB", "", ""),
            ("  during simulate() (the peak)", f"{m['peak_rss_simulate_mb']:,.0f} MB", "", ""),
            ("  during imports + cohort build", f"{m['peak_rss_build_mb']:,.0f} MB", "", ""),
            (
                "  RSS after imports+warm-up / + cohort",
                f"{m['rss_after_imports_mb']:,.0f} / {m['rss_with_cohort_mb']:,.0f} MB",
                "",
                "",
            ),
            (
                "  cohort arrays / results: instr, latent, patients",
                f"{m['cohort_mb']:,.0f} / {m['instruments_mb']:,.0f}, "
                f"{m['latent_mb']:,.0f}, {m['patients_mb']:,.0f} MB",
                "",
                "",
            ),
            (
                "  sampled RSS peak (psutil, 20 ms; cross-check)",
                f"{max(m['sampled_peak_build_mb'], m['sampled_peak_simulate_mb']):,.0f} MB",
                "",
                "",
            ),
            (
                "peak RSS with the default record=instruments",
                f"{mem_ins['peak_rss_process_mb']:,.0f} MB",
                "< 1000 MB",
                ok(met_rss),
            ),
        ]
    rows += [
        (
            f"Mesa reference, {n_mesa} x {n_days} d",
            f"{mesa_s:.2f} s = {fmt_rate(mesa_rate)}",
            "",
            "",
        ),
        ("  speed-up engine / Mesa", f"{speedup:,.0f}x", ">= 100x", ok(met_speed)),
        ("  per CPU-second: engine / Mesa", f"{cpu_rate / mesa_cpu_rate:,.0f}x", "", ""),
        (
            f"numpy path, {n_np:,} x {np_days} d",
            f"{np_s:.2f} s = {fmt_rate(np_rate)}",
            "",
            "",
        ),
        ("  daily_step only (shocks excluded)", fmt_rate(np_step_rate), "", ""),
        ("  engine / numpy", f"{rate / np_rate:,.1f}x", "", ""),
    ]
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    print()
    print(f"{'measure':<{w}}  {'value':>{v}}  {'target':>9}  met")
    print("-" * (w + v + 20))
    for name, val, target, met in rows:
        print(f"{name:<{w}}  {val:>{v}}  {target:>9}  {met}")
    print(
        f"(all repeats, s: cohort {[round(x, 2) for x in cohort_all]}, simulate "
        f"{[round(x, 2) for x in sim_all]}, Mesa {[round(x, 2) for x in mesa_all]}, numpy "
        f"{[round(x, 2) for x in np_all]}; load avg {load0[0]:.2f} -> {load1[0]:.2f})"
    )
    summary = {
        "quick": args.quick,
        "protocol": PROTOCOL,
        "n_patients": n,
        "n_days": n_days,
        "horizon_days": horizon,
        "patient_days": pdays,
        "repeats": repeats,
        "numba_threads": numba.get_num_threads(),
        "threading_layer": layer,
        "cpu_count": os.cpu_count(),
        "loadavg_before": round(load0[0], 2),
        "loadavg_after": round(load1[0], 2),
        "warmup_s": round(warmup_s, 3),
        "cohort_build_s": round(cohort_s, 3),
        "simulate_s": round(sim_s, 3),
        "simulate_s_all": [round(x, 3) for x in sim_all],
        "patient_days_per_s": round(rate),
        "simulate_cpu_s": round(prof["cpu"], 3),
        "patient_days_per_cpu_s": round(cpu_rate),
        "advance_s": round(prof["advance"], 3),
        "advance_patient_days_per_s": round(rate_kernel),
        "observe_s": round(prof["observe"], 3),
        "other_s": round(other_s + prof["prime"], 3),
        "peak_rss_mb": None if peak_default is None else round(peak_default, 1),
        "peak_rss_visits_mb": None if peak is None else round(peak, 1),
        "peak_rss_simulate_mb": None if mem is None else round(mem["peak_rss_simulate_mb"], 1),
        "peak_rss_build_mb": None if mem is None else round(mem["peak_rss_build_mb"], 1),
        "rss_with_cohort_mb": None if mem is None else round(mem["rss_with_cohort_mb"], 1),
        "result_mb": None
        if mem is None
        else round(mem["instruments_mb"] + mem["latent_mb"] + mem["patients_mb"], 1),
        "peak_rss_instruments_only_mb": None
        if mem_ins is None
        else round(mem_ins["peak_rss_process_mb"], 1),
        "memory_source": None if mem is None else mem["source"],
        "mesa_n_patients": n_mesa,
        "mesa_s": round(mesa_s, 3),
        "mesa_patient_days_per_s": round(mesa_rate, 1),
        "speedup_vs_mesa": round(speedup, 1),
        "mesa_patient_days_per_cpu_s": round(mesa_cpu_rate, 1),
        "speedup_vs_mesa_per_cpu_s": round(cpu_rate / mesa_cpu_rate, 1),
        "numpy_n_patients": n_np,
        "numpy_n_days": np_days,
        "numpy_patient_days_per_s": round(np_rate),
        "numpy_step_patient_days_per_s": round(np_step_rate),
        "target_patient_days_per_s": TARGET_RATE,
        "target_peak_rss_mb": TARGET_RSS_MB,
        "target_speedup_vs_mesa": TARGET_SPEEDUP,
        "met_throughput": met_rate,
        "met_memory": met_rss,
        "met_speedup": met_speed,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
