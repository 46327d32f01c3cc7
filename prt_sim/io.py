"""Atomic, lossless file output with provenance.

Everything is written to a temporary file in the target's directory and renamed into place, so
an interrupted run never leaves a half-written file behind. netCDF (HDF5 via h5netcdf) is the
on-disk format; pickle is never used.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "write_text", "write_json", "provenance", "to_jsonable", "NETCDF_ENGINE"]

NETCDF_ENGINE = "h5netcdf"


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to JSON-compatible Python objects."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (numpy values converted)."""
    return write_text(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def provenance(kind: str, seed: int | None, config: dict[str, Any]) -> dict[str, str | int]:
    """Attributes recording what produced a result: package version, config (JSON), seed."""
    from . import __version__

    attrs: dict[str, str | int] = {
        "prt_sim_version": __version__,
        "kind": kind,
        "config": json.dumps(to_jsonable(config), sort_keys=True),
    }
    if seed is not None:
        attrs["seed"] = int(seed)
    return attrs
