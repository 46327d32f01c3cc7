"""Shared plumbing of the ready-to-run experiments: run a sweep spec, tabulate its outcomes
(mean and Monte Carlo SE over replicates), save the figure and the numbers.

Not a prt_sim module: the scripts next to it import it (``python experiments/NAME.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files here

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: Visits at which the patients pain 0-1 are chosen before their pain at post is compared
#: (``patient_checks.split_check``): at post itself (like for like) and a month later.
SPLIT_BY = ("post", "m1")


def mechanism_list(text: str, ap: argparse.ArgumentParser) -> list[str]:
    """The mechanisms named by ``--mechanisms a,b`` (each one of ``prt_sim.mechanism_names()``
    or a ``+`` combination), or a parser error that names the bad one and what is allowed."""
    import prt_sim as ps

    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        ap.error(f"--mechanisms: at least one of {', '.join(ps.mechanism_names())}")
    for m in names:
        try:
            ps.mechanism(m)
        except ps.PrtSimError as e:
            ap.error(f"--mechanisms: {e}")
    return names


def one_fit_args(doc: str, *, n_draws: int, quick_draws: int) -> argparse.Namespace:
    """Arguments of a diagnostic that reads one saved patient-level fit
    (``out/mechanisms/<mechanism>.nc``): --data, --mechanism, --fits, --n-draws, --seed and
    --quick (``quick_draws`` draws, no docs written). ``args.fit`` is the fit's path; the parser
    stops with a message when it does not exist."""
    import prt_sim as ps

    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ashar2022")
    ap.add_argument("--mechanism", default="inhibition", choices=ps.mechanism_names())
    ap.add_argument("--fits", type=Path, default=ROOT / "out" / "mechanisms")
    ap.add_argument("--n-draws", type=int, default=n_draws)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help=f"{quick_draws} draws, no docs written")
    args = ap.parse_args()
    if args.quick:
        args.n_draws = quick_draws
    args.fit = args.fits / f"{args.mechanism}.nc"
    if not args.fit.exists():
        ap.exit(2, f"{args.fit} not found: run experiments/compare_mechanisms.py first\n")
    return args


def parse(name: str, doc: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "out" / "experiments" / name),
                    help="the sweep's folder (resumable)")  # fmt: skip
    ap.add_argument("--figure", default=str(ROOT / "docs" / "figures" / f"{name}.png"))
    ap.add_argument("--workers", type=int, default=2, help="pool processes")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    return ap.parse_args()


def run(name: str, args: argparse.Namespace):
    """Run (or resume) the sweep of ``experiments/NAME.toml`` into ``args.out``."""
    from prt_sim.experiments import load_spec, run_sweep

    spec = load_spec(ROOT / "experiments" / f"{name}.toml")
    t0 = time.perf_counter()
    res = run_sweep(spec, args.out, workers=args.workers, progress=not args.quiet,
                    progress_interval=15.0)  # fmt: skip
    res.summary["script_wall_s"] = round(time.perf_counter() - t0, 1)
    return spec, res


def table(da, **labels) -> list[dict]:
    """One row per combination of ``da``'s dims but ``replicate``: the factors' values, arm,
    population, day, the mean over replicates and its standard error."""
    reps = da.sizes["replicate"]
    m = da.mean("replicate")
    se = da.std("replicate", ddof=1) / np.sqrt(reps)
    factors = [c for c in da.coords if da[c].dims == ("point",) and c != "point"]
    rows = []
    for idx in np.ndindex(*m.shape):
        row = dict(labels)
        for d, i in zip(m.dims, idx):
            if d == "point":
                row.update({f: m[f].values[i].item() for f in factors})
            elif d in m.coords:
                row[d] = m[d].values[i].item()
        row["mean"] = round(float(m.values[idx]), 4)
        row["se"] = round(float(se.values[idx]), 4)
        rows.append(row)
    return rows


def finish(name: str, args, spec, res, fig, rows: list[dict], extra: dict | None = None) -> None:
    """Save the figure and ``out/summary.json``; print the rows and a JSON line."""
    from prt_sim.io import save_figure, write_json

    save_figure(fig, args.figure)
    s = dict(res.summary)
    old = Path(args.out) / "summary.json"
    if s["ran"] == 0 and old.is_file():  # a resumed, finished sweep: keep the run's own timing
        prev = json.loads(old.read_text())
        s["wall_s"], s["workers"], s["ran"] = prev["wall_s"], prev["workers"], prev["ran_now"]
    summary = {
        "experiment": name,
        "spec_hash": spec.hash,
        "parameters": "model defaults (prt_sim.ModelParams()), the Ashar 2022 baseline population "
        "with the spec's overrides; no fitted posterior",
        "points": s["points"],
        "replicates": s["replicates"],
        "tasks": s["tasks"],
        "patients_per_task": spec.n_patients,
        "ran_now": s["ran"],
        "wall_s": s["wall_s"],
        "workers": s["workers"],
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "figure": str(Path(args.figure).relative_to(ROOT))
        if Path(args.figure).is_relative_to(ROOT)
        else args.figure,
        "rows": rows,
        **(extra or {}),
    }
    write_json(Path(args.out) / "summary.json", summary)
    for r in rows:
        labels = "  ".join(f"{k}={v}" for k, v in r.items() if k not in ("mean", "se"))
        print(f"{labels}  ->  {r['mean']:.4f} +/- {r['se']:.4f}")
    print(
        f"{s['tasks']} tasks ({s['ran']} run now) in {s['wall_s']:.1f} s on {s['workers']} workers; "
        f"figure {args.figure}"
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"} | {"rows": rows}))
