"""Where a sweep's batches run: in this process, on a local process pool (spawn-safe), or on a Dask cluster, with a bounded number of batches in flight.

Every executor is a context manager with one method, :meth:`Executor.imap`, which runs
``fn(*args)`` for each argument tuple and yields the results as they complete (in any order:
results carry their task keys, and nothing depends on the order). At most ``2 x workers``
batches are in flight, so a million tasks never flood a scheduler.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import PrtSimError, ValidationError, check_int, check_range

__all__ = [
    "Executor",
    "SequentialExecutor",
    "PoolExecutor",
    "DaskExecutor",
    "make_executor",
    "EXECUTORS",
    "WorkerCrashed",
]

#: Executor names :func:`make_executor` takes.
EXECUTORS = ("sequential", "pool", "dask")


class WorkerCrashed(PrtSimError):
    """A worker process died (killed, out of memory): finished batches are kept; rerun the
    same command to resume."""


class Executor:
    """Base class: runs batches, yields their results as they complete."""

    workers: int = 1
    name: str = "executor"

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release workers (idempotent)."""

    def imap(self, fn: Callable, args: Iterable[tuple]) -> Iterator[Any]:
        """Yield ``fn(*a)`` for every ``a`` in ``args``, as each completes."""
        raise NotImplementedError


class SequentialExecutor(Executor):
    """Everything in this process, one batch after another."""

    name = "sequential"

    def imap(self, fn, args):
        for a in args:
            yield fn(*a)


def _init_worker() -> None:
    """Each pool worker runs its kernels on one thread: the pool is the parallelism."""
    import numba

    numba.set_num_threads(1)


class PoolExecutor(Executor):
    """A local :class:`concurrent.futures.ProcessPoolExecutor` started with ``spawn`` (safe in
    notebooks and on every platform; workers import prt_sim afresh and load the numba cache).

    Parameters
    ----------
    workers : int, optional
        Processes, 1 to 1024 (default: the CPUs this process may use).
    """

    name = "pool"

    def __init__(self, workers: int | None = None) -> None:
        n = workers if workers is not None else len(os.sched_getaffinity(0))
        self.workers = check_int("workers", n, 1, 1024)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def imap(self, fn, args):
        it = iter(args)
        pending = set()
        try:
            while True:
                while len(pending) < 2 * self.workers:
                    try:
                        a = next(it)
                    except StopIteration:
                        break
                    pending.add(self._pool.submit(fn, *a))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        except BrokenProcessPool as e:
            raise WorkerCrashed(
                f"a worker process died ({e}); finished batches are saved: run the same "
                "command again to resume"
            ) from None
        finally:
            for f in pending:
                f.cancel()


class DaskExecutor(Executor):
    """A Dask distributed cluster, given a scheduler address or a ``distributed.Client``.

    Parameters
    ----------
    scheduler : str or distributed.Client
        "tcp://host:port" of a running scheduler (connected here, so an unreachable one is
        refused before any work), or a Client (left open on close).
    timeout : float
        Seconds to wait for the scheduler, 0.1 to 600.
    """

    name = "dask"

    def __init__(self, scheduler: Any, timeout: float = 10.0) -> None:
        timeout = check_range("scheduler_timeout", timeout, 0.1, 600.0)
        try:
            from distributed import Client
        except ImportError:
            raise ValidationError(
                "executor",
                "dask",
                "'sequential' or 'pool' (dask needs the extra: pip install prt_sim[distributed])",
            ) from None
        if isinstance(scheduler, Client):
            self.client, self._own = scheduler, False
        else:
            if not isinstance(scheduler, str) or not scheduler:
                raise ValidationError(
                    "scheduler", scheduler, "a Dask scheduler address (tcp://host:port) or Client"
                )
            try:
                self.client = Client(scheduler, timeout=f"{float(timeout)}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise ValidationError(
                    "scheduler",
                    scheduler,
                    "the address of a running Dask scheduler (tcp://host:port)",
                    f"cannot connect: {type(e).__name__}: {str(e).splitlines()[0][:160]}",
                ) from None
            self._own = True
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))

    def close(self) -> None:
        if self._own:
            self.client.close()

    def imap(self, fn, args):
        from distributed import as_completed

        it = iter(args)
        ac = as_completed()
        inflight = 0
        for a in it:
            ac.add(self.client.submit(fn, *a, pure=False))
            inflight += 1
            if inflight >= 2 * self.workers:
                break
        for fut in ac:
            inflight -= 1
            res = fut.result()
            fut.release()
            try:
                ac.add(self.client.submit(fn, *next(it), pure=False))
                inflight += 1
            except StopIteration:
                pass
            yield res


def make_executor(
    executor: str | Executor = "pool",
    workers: int | None = None,
    scheduler: Any = None,
    timeout: float = 10.0,
) -> Executor:
    """An executor from its name ("sequential", "pool", "dask") or pass one through.

    Raises
    ------
    ValidationError
        Unknown name; "dask" without a scheduler; an unreachable scheduler.
    """
    if isinstance(executor, Executor):
        return executor
    if scheduler is not None and executor in ("pool", None):
        executor = "dask"
    if executor == "sequential":
        return SequentialExecutor()
    if executor == "pool":
        return PoolExecutor(workers)
    if executor == "dask":
        if scheduler is None:
            raise ValidationError("scheduler", None, "a scheduler address or Client for 'dask'")
        return DaskExecutor(scheduler, timeout)
    raise ValidationError("executor", executor, f"one of {EXECUTORS} or an Executor")
