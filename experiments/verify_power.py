"""Simulated power against statsmodels' analytic power of the two-sample t-test.

Usage: ``python experiments/verify_power.py``

1. Normal outcomes (plain arrays, d = 0.6, 4,000 trials) through the same analysis and rates as
   the simulator's trials: Welch and Student at n = 8, 20, 50 per arm.
2. The simulator: change in weekly pain from baseline to 12 months after post, PRT vs usual care,
   Student's t-test, 2,000 trials at n = 5-24 per arm, against the analytic power at the effect
   size of a 10,000-per-arm pilot (whose change scores are checked to be close to normal).
3. The n per arm for 80% power of a normal outcome with d = 0.5 (probit curve, bootstrap).

Prints each comparison as (simulated - analytic) / Monte Carlo SE; the last line is a JSON object.
"""

from __future__ import annotations

import json

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestIndPower

from prt_sim.experiments import (
    Analysis,
    Arm,
    Endpoint,
    PowerSpec,
    Solve,
    rates_from_outcomes,
    run_power,
    simulate_trials,
    solve_n,
)


def _normal(trials, n, d, seed):
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(9,)))
    f = rng.standard_normal((trials, 2, n))
    f[:, 0] += d
    return np.zeros_like(f), f


def main() -> None:
    out = {"normal": [], "simulator": []}
    for kind in ("welch", "student"):
        spec = PowerSpec(n_per_arm=(8, 20, 50), trials=4000, analysis=Analysis(kind=kind), seed=5)
        ds = rates_from_outcomes(spec, *_normal(4000, 50, 0.6, 5))
        for n in spec.n_per_arm:
            ex = TTestIndPower().power(effect_size=0.6, nobs1=n, alpha=0.05)
            p, se = float(ds["power"].sel(n_per_arm=n)), float(ds["power_se"].sel(n_per_arm=n))
            out["normal"].append({"analysis": kind, "n": n, "simulated": p, "se": se,
                                  "analytic": ex, "z": (p - ex) / se})  # fmt: skip
            print(f"normal {kind:7s} n={n:3d}: {p:.4f} +/- {se:.4f}, analytic {ex:.4f}, "
                  f"{(p - ex) / se:+.2f} SE")  # fmt: skip
    design = dict(
        arms=(Arm("prt", "prt"), Arm("usual_care", "usual_care", where="arms[1]")),
        treatment="prt",
        control="usual_care",
        endpoint=Endpoint("pain_avg", 395),
        visits=(30, 395),
        missing=0.0,
        analysis=Analysis(kind="student"),
    )
    base, follow = simulate_trials(
        PowerSpec(n_per_arm=(10_000,), trials=10, seed=11, **design), 0, 1
    )
    ch = (follow - base)[0]
    sd = np.sqrt((ch[0].var(ddof=1) + ch[1].var(ddof=1)) / 2)
    d = abs(ch[0].mean() - ch[1].mean()) / sd
    out["pilot"] = {"d": d, "skew": [float(stats.skew(c)) for c in ch],
                    "excess_kurtosis": [float(stats.kurtosis(c)) for c in ch]}  # fmt: skip
    print(
        f"pilot: d = {d:.3f}, skewness {out['pilot']['skew']}, kurtosis {out['pilot']['excess_kurtosis']}"
    )
    spec = PowerSpec(n_per_arm=(5, 8, 12, 16, 24), trials=2000, seed=12, **design)
    ds = run_power(spec).data
    for n in spec.n_per_arm:
        ex = TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05)
        p, se = float(ds["power"].sel(n_per_arm=n)), float(ds["power_se"].sel(n_per_arm=n))
        out["simulator"].append(
            {"n": n, "simulated": p, "se": se, "analytic": ex, "z": (p - ex) / se}
        )
        print(
            f"simulator student n={n:3d}: {p:.4f} +/- {se:.4f}, analytic {ex:.4f}, {(p - ex) / se:+.2f} SE"
        )
    solve = Solve(target=0.8, n_range=(20, 140), grid=7, bootstrap=200)
    ds = rates_from_outcomes(
        PowerSpec(trials=2000, solve=solve, seed=8), *_normal(2000, 140, 0.5, 8)
    )
    s = solve_n(ds, solve)
    ex = TTestIndPower().solve_power(effect_size=0.5, power=0.8, alpha=0.05)
    out["solve"] = {**s.to_dict(), "analytic": ex, "z": (s.n - ex) / s.se}
    print(f"solved n: {s.n:.2f} [{s.low:.1f}, {s.high:.1f}], SE {s.se:.2f}; analytic {ex:.2f}; "
          f"{(s.n - ex) / s.se:+.2f} SE")  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
