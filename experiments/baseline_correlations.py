"""Baseline rank correlations in the public Ashar 2022 data, as used by the cohort copula.

Usage: ``python experiments/baseline_correlations.py [path/to/ashar2022]``. Prints the Spearman
correlations of baseline pain, TSK-11, PCS, Oswestry, mind-brain attributions and chronicity
(n = 151) next to the values built into :mod:`prt_sim.model.cohorts`, and as JSON on the last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from prt_sim.model.cohorts import _SPEARMAN

root = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else Path(__file__).resolve().parents[2] / "shared" / "data" / "ashar2022"
)
wide = pd.read_csv(root / "Ashar2023_reattribution_IPQ_MERGED_WIDE_FORMAT.csv")
codes = wide[[f"attributed_code_{k}_t1_arm_1" for k in (1, 2, 3)]]
mb = (codes == "MB").sum(axis=1).astype(float).where(codes.notna().any(axis=1))
cols = {
    "pain": wide["pain_avg_baseline"],
    "fear": wide["tsk11_baseline"],
    "catastrophizing": wide["pcs_baseline"],
    "avoidance": wide["odi_baseline"],
    "mind_brain": mb,
    "chronicity": wide["backpain_length"],
}
df = pd.DataFrame(cols)
rho = df.corr(method="spearman")
print(f"n = {len(df)} patients; Spearman correlations at baseline:\n{rho.round(2)}\n")
out = {}
print(f"{'pair':<32s}{'data':>8s}{'built in':>10s}")
for (a, b), built in _SPEARMAN.items():
    v = float(rho.loc[a, b])
    out[f"{a}~{b}"] = round(v, 3)
    print(f"{a + ' ~ ' + b:<32s}{v:>8.2f}{built:>10.2f}")
    if abs(v - built) > 0.005 + 1e-9:
        print("   ^ differs from the built-in value")
for c in ("pain", "fear", "catastrophizing", "avoidance"):
    r, pval = stats.spearmanr(df["mind_brain"], df[c], nan_policy="omit")
    out[f"mind_brain~{c}"] = round(float(r), 3)
print(json.dumps({"n": len(df), "spearman": out, "mean_mb_share": float(np.nanmean(mb) / 3)}))
