"""Cost of one log density with gradient, the unit of work of every NUTS fit.

Usage: ``python benchmarks/gradient.py [--evals N] [--repeats R]``

Measures, single-threaded, on the arm-level model of the published figures (3 arms x 32
surrogate agents over the trial calendar) and on the patient-level model of the public data
(151 patients) when ``../shared/data/ashar2022`` is present:

- the log density with its gradient as nutpie samples it (mean over ``N`` evaluations, best of
  ``R`` repeats), in milliseconds;
- the skeleton's forward and backward kernels alone (arm level), in milliseconds.

The last line printed is a JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ashar2022"


def _logp_grad_ms(model, evals: int, repeats: int) -> float:
    """The log density with its gradient exactly as nutpie samples it: the function nutpie
    compiles (PyTensor's numba backend over the flattened, transformed parameters), called at
    0.1 on every coordinate."""
    import nutpie.compile_pymc as cp

    from prt_sim.inference.nutpie_cache import _initial_point

    n_dim, _, logp_fn, *_ = cp._make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=_initial_point(model, cp),
        var_names=None,
    )
    logp_fn.trust_input = True
    x = np.full(n_dim, 0.1)
    logp_fn(x)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(evals):
            logp_fn(x)
        best = min(best, (time.perf_counter() - t) / evals)
    return 1e3 * best


def _kernels_ms(tm, repeats: int) -> tuple[float, float, int, int]:
    """Forward and backward kernel time of the arm-level skeleton at the prior means."""
    from prt_sim.inference import skeleton as sk

    op = tm.parts.op
    point = tm.model.initial_point()
    import pytensor

    # the Op's first four inputs vary with the point; the rest are the grid's constants
    traits, init, pvec, scale = pytensor.function(
        [tm.model.rvs_to_values[v] for v in tm.model.free_RVs],
        list(_op_inputs(tm.model, op))[:4],
        on_unused_input="ignore",
    )(*[point[tm.model.rvs_to_values[v].name] for v in tm.model.free_RVs])
    args = (op.grid, traits, init, op.arm, op.treat, pvec, scale)
    best_f = best_b = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(50):
            week, vstate, cache = sk.skeleton_forward(*args)
        best_f = min(best_f, (time.perf_counter() - t) / 50)
        gw, gv = np.ones_like(week), np.ones_like(vstate)
        t = time.perf_counter()
        for _ in range(50):
            sk.skeleton_backward(*args, gw, gv, cache)
        best_b = min(best_b, (time.perf_counter() - t) / 50)
    return 1e3 * best_f, 1e3 * best_b, traits.shape[1], op.grid.n_steps


def _op_inputs(model, op):
    from pytensor.graph.traversal import ancestors

    for var in ancestors([model.logp()]):
        node = var.owner
        if node is not None and node.op is op:
            return node.inputs
    raise RuntimeError("skeleton Op not found in the model graph")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", type=int, default=2000, help="evaluations per repeat (2000)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats, best reported (5)")
    ap.add_argument("--skip-patient", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import prt_sim as ps

    out = {"prt_sim_version": ps.__version__}
    tm = ps.TrialModel(ps.data.published_ashar2022())
    out["arm_logp_grad_ms"] = round(_logp_grad_ms(tm.model, args.evals, args.repeats), 4)
    f, b, agents, steps = _kernels_ms(tm, args.repeats)
    out |= {
        "arm_forward_ms": round(f, 4),
        "arm_backward_ms": round(b, 4),
        "arm_agents": agents,
        "arm_steps": steps,
    }
    print(
        f"arm level: log density + gradient {out['arm_logp_grad_ms']:.3f} ms; skeleton forward "
        f"{f:.3f} ms, backward {b:.3f} ms ({agents} agents x {steps} steps)"
    )
    if not args.skip_patient and DATA.exists():
        tp = ps.TrialModel(ps.data.load_ashar2022_wide(DATA))
        ms = _logp_grad_ms(tp.model, max(200, args.evals // 10), args.repeats)
        out["patient_logp_grad_ms"] = round(ms, 4)
        print(f"patient level: log density + gradient {ms:.3f} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
