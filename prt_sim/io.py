"""Files: atomic writes, output locations checked before work, provenance, and safe netCDF reads.

Everything is written to a temporary file in the target's directory and renamed into place, so
an interrupted run never leaves a half-written file behind; files get the permissions the
user's umask gives. netCDF (HDF5 via h5netcdf) is the on-disk format; pickle is never used.
Every result carries its provenance (:func:`provenance`: package version, configuration and its
hash, seed, kind); :func:`open_result` reads a file back with a one-line error naming the file
when it is missing, truncated, not netCDF or of another kind, and warns when another prt_sim
version wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataFormatError, ValidationError, VersionWarning

__all__ = [
    "atomic_path",
    "write_text",
    "write_json",
    "replace_block",
    "read_block",
    "provenance",
    "same_model",
    "config_hash",
    "to_jsonable",
    "check_output_file",
    "check_output_dir",
    "open_result",
    "read_toml",
    "save_dataset",
    "load_dataset",
    "save_figure",
    "NETCDF_ENGINE",
]

NETCDF_ENGINE = "h5netcdf"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    The file gets the permissions a newly created file would get (``0o666`` less the umask),
    not the private ``0o600`` of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def replace_block(path: str | os.PathLike, name: str, text: str) -> Path:
    """Write ``text`` between the markers ``<!-- name:begin -->`` and ``<!-- name:end -->`` of a
    Markdown file (appended with its markers when absent), atomically. Lets a script own one
    section of a page that another script, or a person, writes the rest of."""
    path = Path(path)
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    return write_text(path, new)


def read_block(path: str | os.PathLike, name: str) -> str | None:
    """The text :func:`replace_block` wrote under ``name`` (with its markers), or None."""
    path = Path(path)
    if not path.exists():
        return None
    s = path.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in s or end not in s:
        return None
    return begin + s.split(begin, 1)[1].split(end, 1)[0] + end


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


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write a matplotlib figure to PNG atomically, then close it (frees its memory)."""
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)


def config_hash(config: dict[str, Any]) -> str:
    """A short content hash (16 hex digits) of a configuration, as its canonical JSON."""
    text = json.dumps(to_jsonable(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance(kind: str, seed: int | None, config: dict[str, Any]) -> dict[str, str | int]:
    """Attributes recording what produced a result: package version, the fingerprint of the
    model's sources it ran (:func:`prt_sim._version.current_fingerprint`), kind of result,
    configuration (JSON) and its hash, seed."""
    from . import __version__
    from ._version import current_fingerprint

    attrs: dict[str, str | int] = {
        "prt_sim_version": __version__,
        "model_fingerprint": current_fingerprint(),
        "kind": kind,
        "config": json.dumps(to_jsonable(config), sort_keys=True),
        "config_hash": config_hash(config),
    }
    if seed is not None:
        attrs["seed"] = int(seed)
    return attrs


# -- output locations, checked before any work -----------------------------------------------
def _writable_dir(directory: Path, field: str, shown: Path) -> None:
    """Create ``directory`` (and parents) and prove it writable; a one-line error otherwise."""
    for parent in (directory, *directory.parents):
        if parent.exists() and not parent.is_dir():
            raise ValidationError(
                field, str(shown), "a path whose folders are folders", f"{parent} is a file"
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise ValidationError(
            field, str(shown), "a writable location", f"{directory}: {e.strerror or e}"
        ) from None


def check_output_file(path: str | os.PathLike, field: str = "out") -> Path:
    """Check, before any work, that a file can be written at ``path`` (its folder is created).

    Raises
    ------
    ValidationError
        ``path`` is an existing folder, lies under a regular file, or its folder is not
        writable (the error names ``field`` and the path).
    """
    path = Path(path)
    if path.is_dir():
        raise ValidationError(field, str(path), "a file path", "it is an existing folder")
    _writable_dir(path.parent if str(path.parent) else Path("."), field, path)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValidationError(field, str(path), "a writable file", "the file is read-only")
    return path


def check_output_dir(path: str | os.PathLike, field: str = "out") -> Path:
    """Check, before any work, that ``path`` is (or can be made) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValidationError(field, str(path), "a folder", "it is an existing file")
    _writable_dir(path, field, path)
    return path


# -- reading results back --------------------------------------------------------------------
def read_toml(path: str | os.PathLike, relative: tuple[tuple[str, str], ...] = ()) -> dict:
    """A spec file's TOML as a dict; ``relative`` names ``(table, key)`` paths given relative
    to the file, which are made absolute.

    Raises
    ------
    DataFormatError
        The file is missing, not a file, or not valid TOML (names the file).
    """
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(
            "spec file not found" if not path.exists() else "not a file", file=str(path)
        )
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"not valid TOML ({e})", file=str(path)) from None
    for table, key in relative:
        t = data.get(table)
        if isinstance(t, dict) and isinstance(t.get(key), str) and t[key]:
            if not Path(t[key]).is_absolute():
                t[key] = str((path.parent / t[key]).resolve())
    return data


def same_model(attrs) -> bool:
    """Whether a result was made by this version from these model sources (a result written
    before fingerprints were recorded is judged by its version alone)."""
    from . import __version__
    from ._version import current_fingerprint

    if attrs.get("prt_sim_version") != __version__:
        return False
    written = attrs.get("model_fingerprint")
    return written is None or written == current_fingerprint()


def _check_version(attrs: dict, path: Path) -> None:
    from . import __version__
    from ._version import current_fingerprint

    written = attrs.get("prt_sim_version")
    if written is not None and written != __version__:
        warnings.warn(
            f"{path} was written by prt_sim {written}; this is prt_sim {__version__}: its "
            "numbers come from that version's equations",
            VersionWarning,
            stacklevel=3,
        )
    elif not same_model(attrs):
        warnings.warn(
            f"{path} was written by prt_sim {written} from other model sources (fingerprint "
            f"{attrs['model_fingerprint']}, these are {current_fingerprint()}): its numbers "
            "come from those equations",
            VersionWarning,
            stacklevel=3,
        )


def open_result(path: str | os.PathLike, kind: str | tuple[str, ...]) -> dict[str, Any]:
    """The root attributes of a prt_sim netCDF file of the given ``kind``, checked.

    Raises
    ------
    DataFormatError
        The file is missing, unreadable, truncated or not netCDF, or holds another kind of
        result (the message names the file and both kinds). Warns (:class:`VersionWarning`)
        when another prt_sim version wrote it.
    """
    import xarray as xr

    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if not path.is_file():
        raise DataFormatError(
            "file not found" if not path.exists() else "not a file", file=str(path)
        )
    try:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as root:
            attrs = dict(root.attrs)
    except Exception as e:  # h5py / h5netcdf raise many types for damaged or foreign files
        raise DataFormatError(
            f"cannot read as netCDF ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
            "the file may be truncated or not written by prt_sim",
            file=str(path),
        ) from None
    got = attrs.get("kind")
    if got not in kinds:
        what = f"a prt_sim {got}" if got else "not a prt_sim result"
        raise DataFormatError(f"{what}, expected a {' or '.join(kinds)} file", file=str(path))
    _check_version(attrs, path)
    return attrs


def _read_group(path: Path, group: str | None):
    import xarray as xr

    try:
        with xr.open_dataset(path, group=group, engine=NETCDF_ENGINE) as ds:
            return ds.load()
    except OSError as e:
        if "not found" in str(e).lower() or "no group" in str(e).lower():
            return None
        raise DataFormatError(
            f"cannot read group {group!r} ({type(e).__name__}); the file may be damaged",
            file=str(path),
        ) from None
    except Exception as e:
        raise DataFormatError(
            f"cannot read group {group!r} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
            "the file may be damaged",
            file=str(path),
        ) from None


def save_dataset(ds, path: str | os.PathLike) -> Path:
    """Write one Dataset to netCDF atomically (attrs keep its provenance)."""
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE)
    return path


def load_dataset(path: str | os.PathLike, kind: str):
    """Read a Dataset written by :func:`save_dataset` (fully into memory), checked as
    :func:`open_result` does."""
    path = Path(path)
    open_result(path, kind)
    return _read_group(path, None)
