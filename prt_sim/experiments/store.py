"""A sweep's folder: its manifest, one file per finished batch (written to a temporary name, renamed, then marked complete), and the labeled Dataset assembled from them.

Layout of ``out/``::

    sweep.json            the spec, its hash, the design's points (rewritten atomically)
    batches/NAME.npz      one batch of tasks: keys, status, seeds, errors, outcomes
    batches/NAME.done     completion marker, written after the data: its SHA-256 and size
    results.nc            the assembled Dataset (written at the end of a run)

A batch counts only once its marker exists and the data match it, so a run killed at any
moment (even by SIGKILL) loses only the batches in flight; stray data without a marker are
removed on the next start. Tasks are identified by key ``(point, replicate)``; a key finished
in several batches (``--retry-failed``) keeps its finished result, or its latest failure.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import DataFormatError, ValidationError
from ..io import atomic_path, check_output_dir, provenance, write_json, write_text
from .design import Points
from .spec import SweepSpec
from .task import FAILED, MISSING, OK

__all__ = ["SweepStore", "MANIFEST", "KIND"]

MANIFEST = "sweep.json"
KIND = "sweep"
_FORMAT = "prt_sim sweep folder 1"


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two plain-data trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += _diff(x, y, f"{prefix}[{i}]")
        return out
    return [] if a == b else [prefix or "(root)"]


class SweepStore:
    """The folder of one sweep (see the module docstring for its layout).

    Use :meth:`open` to create or reopen it for a spec (checked before any work).
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._seq = 0

    @property
    def batches(self) -> Path:
        return self.path / "batches"

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, spec: SweepSpec, points: Points) -> SweepStore:
        """Create ``path`` for ``spec``, or reopen it to resume or extend the sweep stored there.

        Raises
        ------
        ValidationError
            ``path`` is a file or not writable; holds files that are not a sweep; holds a sweep
            of another spec (the message lists the keys that differ); or the design's points do
            not extend the stored ones (a grid or Latin hypercube of another size).
        """
        path = check_output_dir(path, "out")
        mpath = path / MANIFEST
        if mpath.exists():
            manifest = cls._read_manifest(mpath)
            if manifest["hash"] != spec.hash:
                keys = _diff(manifest["identity"], spec.identity())
                raise ValidationError(
                    "out",
                    str(path),
                    f"a folder holding this spec's sweep (hash {spec.hash}) or a new folder",
                    f"it holds sweep {manifest['spec'].get('name')!r} with spec hash "
                    f"{manifest['hash']}; the specs differ in: {', '.join(keys[:8])}"
                    + (" ..." if len(keys) > 8 else ""),
                )
            old = np.asarray(manifest["points"], dtype=float).reshape(-1, len(points.targets))
            k = min(len(old), len(points))
            if list(manifest["targets"]) != list(points.targets) or not np.array_equal(
                old[:k], points.values[:k]
            ):
                raise ValidationError(
                    "design.n",
                    spec.design.n,
                    f"the stored design's n ({manifest['spec']['design']['n']}) or a design "
                    "whose first points are the stored ones",
                    "only sobol and saltelli designs (and more replicates) extend a sweep; a "
                    "grid or Latin hypercube of another size needs a new folder",
                )
            manifest["generation"] = int(manifest.get("generation", 0)) + 1
        else:
            foreign = [p.name for p in path.iterdir() if not p.name.startswith(".")]
            if foreign:
                raise ValidationError(
                    "out",
                    str(path),
                    "an empty folder or one holding a prt_sim sweep",
                    f"it holds {', '.join(sorted(foreign)[:5])} and no {MANIFEST}",
                )
            manifest = {"generation": 1}
        manifest.update(
            {
                "format": _FORMAT,
                "prt_sim_version": __version__,
                "hash": spec.hash,
                "identity": spec.identity(),
                "spec": spec.to_dict(),
                "targets": list(points.targets),
                "names": list(points.names),
                "points": points.values.tolist(),
                "source_draw": None if points.source is None else points.source.tolist(),
            }
        )
        store = cls(path, manifest)
        store.batches.mkdir(exist_ok=True)
        store._clean()
        write_json(mpath, manifest)
        return store

    @staticmethod
    def _read_manifest(mpath: Path) -> dict[str, Any]:
        try:
            m = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataFormatError(f"not a sweep manifest ({e})", file=str(mpath)) from None
        if not isinstance(m, dict) or m.get("format") != _FORMAT:
            raise DataFormatError("not a prt_sim sweep manifest", file=str(mpath))
        return m

    @classmethod
    def read(cls, path: str | os.PathLike) -> SweepStore:
        """Open an existing sweep folder read-only (to assemble or analyse its results)."""
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise DataFormatError(f"no {MANIFEST}: not a sweep folder", file=str(path))
        return cls(path, cls._read_manifest(mpath))

    def _clean(self) -> None:
        """Remove what a killed run left: data without a marker, temporary files."""
        for p in self.batches.iterdir():
            if p.name.startswith("."):
                p.unlink(missing_ok=True)
            elif p.suffix == ".npz" and not p.with_suffix(".done").exists():
                p.unlink(missing_ok=True)

    # -- writing ------------------------------------------------------------------------------
    def write_batch(self, result: dict[str, np.ndarray]) -> Path:
        """Write one batch's result: data to a temporary name, renamed, then its marker."""
        self._seq += 1
        gen = int(self.manifest["generation"])
        name = f"g{gen:05d}-{os.getpid()}-{self._seq:07d}"
        data = self.batches / f"{name}.npz"
        buf = _io.BytesIO()
        np.savez(buf, **result)
        raw = buf.getvalue()
        with atomic_path(data, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
        marker = {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
            "generation": gen,
            "tasks": int(len(result["point"])),
        }
        write_text(data.with_suffix(".done"), json.dumps(marker) + "\n")
        return data

    def write_manifest(self) -> None:
        write_json(self.path / MANIFEST, self.manifest)

    # -- reading ------------------------------------------------------------------------------
    def records(self) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Every complete batch as ``(generation, arrays)``, oldest first; a batch whose data
        do not match its marker is skipped (its tasks run again)."""
        out = []
        for marker in sorted(self.batches.glob("*.done")):
            try:
                m = json.loads(marker.read_text())
                raw = marker.with_suffix(".npz").read_bytes()
            except (OSError, json.JSONDecodeError):
                continue
            if hashlib.sha256(raw).hexdigest() != m.get("sha256"):
                continue
            with np.load(_io.BytesIO(raw), allow_pickle=False) as z:
                out.append((int(m["generation"]), {k: z[k] for k in z.files}))
        return out

    def status(self) -> dict[tuple[int, int], int]:
        """Status of every recorded task key: OK or FAILED (finished wins over failed)."""
        st: dict[tuple[int, int], int] = {}
        for _gen, r in self.records():
            for p, q, s in zip(r["point"], r["replicate"], r["status"]):
                key = (int(p), int(q))
                if st.get(key) != OK:
                    st[key] = int(s)
        return st

    def assemble(self, spec: SweepSpec | None = None) -> xr.Dataset:
        """The labeled results over ``(point, replicate, arm, population, ...)``.

        Tasks not run yet have status 0 and NaN outcomes; failed tasks status 2, NaN outcomes,
        and their error and seeds in ``attrs["failures"]`` (JSON).
        """
        spec = spec or SweepSpec.from_dict(self.manifest["spec"])
        m = self.manifest
        pts = np.asarray(m["points"], dtype=float).reshape(-1, len(m["targets"]))
        n_pt, n_rep = min(len(pts), _n_points(spec, len(pts))), spec.replicates
        n_a, n_p = len(spec.arms), len(spec.populations)
        status = np.zeros((n_pt, n_rep), dtype=np.int8)
        cseed = np.zeros((n_pt, n_rep), dtype=np.uint64)
        sseed = np.zeros((n_pt, n_rep), dtype=np.uint64)
        elapsed = np.full((n_pt, n_rep), np.nan)
        gen = np.zeros((n_pt, n_rep), dtype=np.int64)
        outs = {o.name: np.full((n_pt, n_rep, n_a, n_p, *o.shape), np.nan) for o in spec.outcomes}
        errors: dict[tuple[int, int], str] = {}
        for g, r in self.records():
            for t, (p, q, s) in enumerate(zip(r["point"], r["replicate"], r["status"])):
                p, q, s = int(p), int(q), int(s)
                if p >= n_pt or q >= n_rep:
                    continue
                if status[p, q] == OK or (status[p, q] == FAILED and s == FAILED and g < gen[p, q]):
                    continue
                status[p, q], gen[p, q] = s, g
                cseed[p, q], sseed[p, q] = r["cohort_seed"][t], r["sim_seed"][t]
                elapsed[p, q] = r["elapsed_s"][t]
                for o in spec.outcomes:
                    outs[o.name][p, q] = r[o.name][t]
                if s == FAILED:
                    errors[(p, q)] = str(r["error"][t])
                else:
                    errors.pop((p, q), None)
        coords: dict[str, Any] = {
            "point": np.arange(n_pt),
            "replicate": np.arange(n_rep),
            "arm": [a.name for a in spec.arms],
            "population": [p.name for p in spec.populations],
        }
        for j, name in enumerate(m["names"]):
            coords[name] = ("point", pts[:n_pt, j])
        if m.get("source_draw") is not None:
            coords["source_draw"] = ("point", np.asarray(m["source_draw"][:n_pt], dtype=np.int64))
        data = {
            "status": (("point", "replicate"), status, {"meaning": "0 not run, 1 done, 2 failed"}),
            "cohort_seed": (("point", "replicate"), cseed),
            "sim_seed": (("point", "replicate"), sseed),
            "elapsed_s": (("point", "replicate"), elapsed, {"units": "s"}),
        }
        for o in spec.outcomes:
            dims = ("point", "replicate", "arm", "population", *o.dims)
            data[o.name] = (dims, outs[o.name], {"kind": o.kind, "measure": o.measure})
            if o.dims:
                coords[o.dims[0]] = list(o.days)
        failures = [
            {
                "point": p,
                "replicate": q,
                "error": e,
                "cohort_seed": int(cseed[p, q]),
                "sim_seed": int(sseed[p, q]),
            }
            for (p, q), e in sorted(errors.items())
        ]
        attrs = provenance(KIND, spec.seed, spec.to_dict())
        attrs["spec_hash"] = spec.hash
        attrs["failures"] = json.dumps(failures)
        attrs["targets"] = json.dumps(m["targets"])
        attrs["missing"] = int((status == MISSING).sum())
        return xr.Dataset(data, coords=coords, attrs=attrs)


def _n_points(spec: SweepSpec, stored: int) -> int:
    from .spec import DESIGN_KINDS

    assert spec.design.kind in DESIGN_KINDS
    if spec.design.kind == "saltelli":
        return spec.design.n * (len(spec.factors) + 2)
    if spec.design.kind in ("lhs", "sobol"):
        return spec.design.n
    return stored
