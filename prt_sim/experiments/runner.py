"""Running a sweep: checks before work, only the unfinished tasks, batches on an executor, progress, incremental writes, and a summary.

:func:`run_sweep` opens (or reopens) the sweep's folder, works out which task keys
``(point, replicate)`` are not finished, sends them in batches to the executor and writes each
batch as it completes; rerunning the same call resumes, ``retry_failed=True`` reruns failed
tasks, and a spec with more Sobol points or more replicates extends the sweep without
touching what was computed. :func:`load_sweep` reads a folder's results, finished or not.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import xarray as xr

from ..errors import ValidationError, check_int, check_range
from ..io import save_dataset
from .design import design_points
from .executors import Executor, make_executor
from .spec import SweepSpec, load_spec
from .store import SweepStore
from .task import FAILED, OK, run_batch

__all__ = ["run_sweep", "load_sweep", "SweepRun", "Progress"]


@dataclass
class SweepRun:
    """What :func:`run_sweep` gives back.

    Attributes
    ----------
    data : xarray.Dataset
        The results over ``(point, replicate, arm, population, ...)`` (see
        :meth:`SweepStore.assemble`).
    summary : dict
        ``points``, ``replicates``, ``tasks``, ``already_done``, ``ran``, ``finished``,
        ``failed``, ``failed_total``, ``wall_s``, ``tasks_per_min``, ``executor``,
        ``workers``, ``batch_size``.
    path : Path
        The sweep's folder.
    """

    data: xr.Dataset
    summary: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _fmt_s(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """Tasks done, rate and time left: a tqdm bar on a terminal, otherwise a line every
    ``interval`` seconds (and at the end), so logs of batch jobs show progress too.

    Parameters
    ----------
    total : int
        Tasks to run.
    points : int
        Points they cover (shown alongside).
    enabled : bool, optional
        Default: show when ``stream`` is a terminal or the run is longer than a few tasks.
    stream : file
        Where to write (default ``sys.stderr``).
    interval : float
        Seconds between lines when not a terminal, 0.1 to 3600.
    """

    def __init__(
        self,
        total: int,
        points: int,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        interval: float = 10.0,
    ) -> None:
        self.total, self.points, self.done = total, points, 0
        self.stream = stream or sys.stderr
        self.interval = check_range("interval", interval, 0.1, 3600.0)
        self.enabled = total > 0 if enabled is None else enabled
        self.t0 = self._last = time.perf_counter()
        self._bar = None
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if self.enabled and tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="task", desc="sweep", file=self.stream)

    def update(self, n: int) -> None:
        """``n`` more tasks finished."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """``sweep: done/total tasks (pct), rate, time left``."""
        el = time.perf_counter() - self.t0
        rate = self.done / el if el > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        pct = 100 * self.done / self.total if self.total else 100.0
        return (
            f"sweep: {self.done}/{self.total} tasks ({pct:.0f}%) over {self.points} points, "
            f"{60 * rate:.1f} tasks/min, elapsed {_fmt_s(el)}, left ~{_fmt_s(left)}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_sweep(
    spec: SweepSpec | str | os.PathLike,
    out: str | os.PathLike,
    *,
    executor: str | Executor = "pool",
    workers: int | None = None,
    scheduler: Any = None,
    scheduler_timeout: float = 10.0,
    batch_size: int | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
    progress_interval: float = 10.0,
    stream: TextIO | None = None,
) -> SweepRun:
    """Run (or resume, or extend) a sweep, writing its results to ``out`` as they finish.

    Parameters
    ----------
    spec : SweepSpec or path
        The sweep, or a TOML file of one.
    out : path
        The sweep's folder: new, or holding this spec's sweep (resumed; a spec with more
        Sobol/Saltelli points or replicates extends it).
    executor : {"pool", "sequential", "dask"} or Executor
        Where batches run (default: a local process pool; "dask" with ``scheduler``). An
        :class:`~prt_sim.experiments.executors.Executor` instance is used and left open.
    workers : int, optional
        Pool processes (default: the CPUs available).
    scheduler : str or distributed.Client, optional
        A Dask scheduler address or Client (implies ``executor="dask"``).
    scheduler_timeout : float
        Seconds to wait for the scheduler, 0.1 to 600.
    batch_size : int, optional
        Tasks per batch, 1 to 10**5 (default: about 8 batches per worker, at most 64 tasks).
    retry_failed : bool
        Also rerun tasks that failed before.
    progress : bool, optional
        Show progress (default: when there is work).
    progress_interval : float
        Seconds between progress lines when the stream is not a terminal.
    stream : file, optional
        Where progress goes (default ``sys.stderr``).

    Returns
    -------
    SweepRun
        The assembled results (also written to ``out/results.nc``) and a summary.

    Raises
    ------
    ValidationError
        A bad spec, an output folder holding a different sweep or other files, a design that
        does not extend the stored one, an unreachable scheduler: all before any task runs.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    if not isinstance(retry_failed, bool):
        raise ValidationError("retry_failed", retry_failed, "a bool")
    points = design_points(spec)
    if len(points) == 0:
        raise ValidationError("design", spec.design.to_dict(), "a design with at least one point")
    ex = make_executor(executor, workers, scheduler, scheduler_timeout)
    own = not isinstance(executor, Executor)
    t0 = time.perf_counter()
    try:
        store = SweepStore.open(out, spec, points)
        status = store.status()
        keys = [(p, r) for p in range(len(points)) for r in range(spec.replicates)]
        todo = [
            k for k in keys if status.get(k) != OK and (retry_failed or status.get(k) != FAILED)
        ]
        if batch_size is None:
            batch_size = max(1, min(64, math.ceil(len(todo) / (8 * ex.workers))))
        batch_size = check_int("batch_size", batch_size, 1, 10**5)
        spec_json = spec.to_json()
        targets = list(points.targets)

        def batches():
            for i in range(0, len(todo), batch_size):
                ks = todo[i : i + batch_size]
                yield spec_json, targets, ks, [points.values[p].tolist() for p, _ in ks]

        bar = Progress(len(todo), len(points), progress, stream, progress_interval)
        ran = finished = failed = 0
        try:
            for res in ex.imap(run_batch, batches()):
                store.write_batch(res)
                k = len(res["point"])
                ran += k
                finished += int((res["status"] == OK).sum())
                failed += int((res["status"] == FAILED).sum())
                bar.update(k)
        finally:
            bar.close()
    finally:
        if own:
            ex.close()
    wall = time.perf_counter() - t0
    ds = store.assemble(spec)
    save_dataset(ds, store.path / "results.nc")
    summary = {
        "points": len(points),
        "replicates": spec.replicates,
        "tasks": len(keys),
        "already_done": len(keys) - len(todo),
        "ran": ran,
        "finished": finished,
        "failed": failed,
        "failed_total": int((ds["status"].values == FAILED).sum()),
        "wall_s": round(wall, 3),
        "tasks_per_min": round(60 * ran / wall, 1) if wall > 0 and ran else 0.0,
        "executor": ex.name,
        "workers": ex.workers,
        "batch_size": batch_size,
    }
    return SweepRun(ds, summary, store.path)


def load_sweep(path: str | os.PathLike) -> xr.Dataset:
    """The results of the sweep in folder ``path``, finished or not (from its batches).

    Raises
    ------
    DataFormatError
        ``path`` is not a sweep folder.
    """
    return SweepStore.read(path).assemble()


def finished_mask(ds: xr.Dataset) -> np.ndarray:
    """bool[point, replicate]: which tasks finished."""
    return ds["status"].values == OK
