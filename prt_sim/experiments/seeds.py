"""Seeds by key: each task's seeds are a pure function of (root seed, point, replicate), never of completion order or worker identity.

``numpy.random.SeedSequence(root, spawn_key=(point, replicate))`` is the ``replicate``-th child
of the ``point``-th child of the root, so any task can build its own stream from its key alone:
running on one worker or forty, in any order, or after the sweep has been extended with more
points or replicates gives every task the same seeds.
"""

from __future__ import annotations

import numpy as np

from ..model.rng import MAX_SEED

__all__ = ["task_seeds"]


def task_seeds(root: int, point: int, replicate: int, common: bool = False) -> tuple[int, int]:
    """The cohort seed and the simulation seed of task ``(point, replicate)``.

    Parameters
    ----------
    root : int
        The sweep's root seed, 0 to 2**63 - 1.
    point, replicate : int
        The task's key (non-negative).
    common : bool
        Common random numbers: every point uses point 0's seeds (the replicate still counts).

    Returns
    -------
    (int, int)
        Seeds for :meth:`prt_sim.Cohort.from_trial_baseline` and :func:`prt_sim.simulate`,
        each in [0, 2**63 - 1).
    """
    ss = np.random.SeedSequence(int(root), spawn_key=(0 if common else int(point), int(replicate)))
    a, b = ss.generate_state(2, dtype=np.uint64)
    return int(a) % MAX_SEED, int(b) % MAX_SEED
