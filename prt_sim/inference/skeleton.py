"""The deterministic skeleton: surrogate agents run with expected shocks, and its gradient.

Each surrogate agent is one standardized patient (its traits and initial state are computed in
the PyMC graph from the population parameters). On the :class:`~prt_sim.inference.grid.
SkeletonGrid` it runs :func:`prt_sim.dynamics.daily_step` (the simulator's update) with expected
shocks; the backward pass runs :func:`prt_sim.adjoint.daily_step_vjp` in reverse.
:class:`SkeletonOp` wraps both as a PyTensor Op with a gradient.

Outputs per agent and visit: the 7-day mean of daily pain recalled at the visit, and the state
at the end of the visit day. The kernels are serial and release the GIL: sampler chains run in
parallel already, and nested thread pools only contend (measured: 1.2 ms per log-density on
one thread against 7.9 ms with a 2-thread pool inside each of 2 chains).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..adjoint import daily_step_vjp_inline as daily_step_vjp_jit
from ..dynamics import Drive, Shocks, State, Traits
from ..dynamics import daily_step_inline as daily_step_jit
from ..engine import params_from_array
from ..params import DynParams
from .grid import SkeletonGrid

__all__ = ["skeleton_forward", "skeleton_backward", "SkeletonOp", "N_PARAMS"]

N_PARAMS = len(DynParams._fields)
_FLARE_RATE = DynParams._fields.index("flare_rate")
_ADHERENCE = Traits._fields.index("adherence")


@numba.njit(cache=True)
def _traits(tr, i):
    return Traits(
        tr[0, i],
        tr[1, i],
        tr[2, i],
        tr[3, i],
        tr[4, i],
        tr[5, i],
        tr[6, i],
        tr[7, i],
        tr[8, i],
        tr[9, i],
    )


@numba.njit(cache=True)
def _state(st, i):
    return State(st[0, i], st[1, i], st[2, i], st[3, i], st[4, i], st[5, i], st[6, i])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _run(
    traits, init, arm, treat, p, sg_scale, dt, edu, expo, plc, sg, fmult, attend, states, pains
):
    n_agents = traits.shape[1]
    n_steps = dt.shape[0]
    for i in range(n_agents):
        s = _state(init, i)
        x = _traits(traits, i)
        a = arm[i]
        on = treat[i]
        for k in range(n_steps):
            sgk = sg[a, k] * on * sg_scale
            for f in range(7):
                states[i, k, f] = s[f]
            z = Shocks(0.0, p.flare_rate * fmult[a, k] * dt[k], attend[a, k] * on, x.adherence)
            # A literal step length lets the compiler fold powers of dt and hoist the terms that
            # depend only on parameters out of the loop: the daily steps and the default
            # coarse step (7 days) are most of the grid.
            if dt[k] == 1.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sgk, 1.0)
                s, today = daily_step_jit(s, x, d, z, p)
            elif dt[k] == 7.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sgk, 7.0)
                s, today = daily_step_jit(s, x, d, z, p)
            elif dt[k] == 4.0:  # the two steps of a quiet recall window
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sgk, 4.0)
                s, today = daily_step_jit(s, x, d, z, p)
            elif dt[k] == 3.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sgk, 3.0)
                s, today = daily_step_jit(s, x, d, z, p)
            else:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sgk, dt[k])
                s, today = daily_step_jit(s, x, d, z, p)
            pains[i, k] = today
        for f in range(7):
            states[i, n_steps, f] = s[f]


def skeleton_forward(grid: SkeletonGrid, traits, init, arm, treat, pvec, sg_scale=1.0):
    """Run the skeleton.

    Parameters
    ----------
    grid : SkeletonGrid
    traits : float64[10, A]
        Agent traits (:class:`~prt_sim.dynamics.Traits` order).
    init : float64[7, A]
        Initial states (:class:`~prt_sim.dynamics.State` order).
    arm : int64[A]
        Arm index of each agent (into ``grid.arms``).
    treat : float64[A]
        1 if the agent takes up its arm's treatment, else 0.
    pvec : float64[N_PARAMS]
        :class:`~prt_sim.params.DynParams` values in field order.
    sg_scale : float
        Multiplier of every arm's self-guided dose.

    Returns
    -------
    week_pain : float64[A, V]
        7-day mean pain recalled at each visit.
    visit_state : float64[7, A, V]
        State at the end of each visit day.
    cache : tuple
        Stored trajectory for :func:`skeleton_backward`.
    """
    n_steps, n_agents = grid.n_steps, traits.shape[1]
    states = np.empty((n_agents, n_steps + 1, 7))  # agent-major: each thread's rows are contiguous
    pains = np.empty((n_agents, n_steps))
    _run(
        np.ascontiguousarray(traits, dtype=float),
        np.ascontiguousarray(init, dtype=float),
        arm,
        treat,
        DynParams(*np.asarray(pvec, dtype=float).tolist()),
        float(sg_scale),
        *grid.drives(),
        states,
        pains,
    )
    week = pains @ grid.pain_weight
    vstate = np.ascontiguousarray(states[:, grid.visit_step + 1, :].transpose(2, 0, 1))
    return week, vstate, (states, pains)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _back(
    traits,
    arm,
    treat,
    p,
    sg_scale,
    dt,
    edu,
    expo,
    plc,
    sg,
    fmult,
    attend,
    states,
    pain_weight,
    visit_step,
    g_week,
    g_vstate,
    g_traits,
    g_init,
    g_params,
    g_scale,
):
    n_agents = traits.shape[1]
    n_steps = dt.shape[0]
    n_visits = pain_weight.shape[1]
    for i in range(n_agents):
        x = _traits(traits, i)
        a = arm[i]
        on = treat[i]
        lam = np.zeros(7)
        gx = np.zeros(10)
        gp = np.zeros(N_PARAMS)
        g_sg = 0.0
        for k in range(n_steps - 1, -1, -1):
            gpain = 0.0
            for v in range(n_visits):
                gpain += pain_weight[k, v] * g_week[i, v]
                if visit_step[v] == k:  # every visit ending on this step (several may share it)
                    for f in range(7):
                        lam[f] += g_vstate[f, i, v]
            s = State(
                states[i, k, 0],
                states[i, k, 1],
                states[i, k, 2],
                states[i, k, 3],
                states[i, k, 4],
                states[i, k, 5],
                states[i, k, 6],
            )
            z = Shocks(0.0, p.flare_rate * fmult[a, k] * dt[k], attend[a, k] * on, x.adherence)
            gs = State(lam[0], lam[1], lam[2], lam[3], lam[4], lam[5], lam[6])
            if dt[k] == 1.0:  # literal step lengths, as in _run
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sg[a, k] * on * sg_scale, 1.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_jit(s, x, d, z, p, gs, gpain)
            elif dt[k] == 7.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sg[a, k] * on * sg_scale, 7.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_jit(s, x, d, z, p, gs, gpain)
            elif dt[k] == 4.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sg[a, k] * on * sg_scale, 4.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_jit(s, x, d, z, p, gs, gpain)
            elif dt[k] == 3.0:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sg[a, k] * on * sg_scale, 3.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_jit(s, x, d, z, p, gs, gpain)
            else:
                d = Drive(edu[a, k], expo[a, k], plc[a, k], sg[a, k] * on * sg_scale, dt[k])
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_jit(s, x, d, z, p, gs, gpain)
            g_sg += g_d.self_guided * sg[a, k] * on
            for f in range(7):
                lam[f] = g_s[f]
            for f in range(10):
                gx[f] += g_x[f]
            gx[7] += g_z.adhere  # adherence enters through the expected shock
            for f in range(N_PARAMS):
                gp[f] += g_p[f]
            gp[5] += g_z.flare * fmult[a, k] * dt[k]  # flare_rate enters through the shock
        for f in range(7):
            g_init[f, i] = lam[f]
        for f in range(10):
            g_traits[f, i] = gx[f]
        for f in range(N_PARAMS):
            g_params[i, f] = gp[f]
        g_scale[i] = g_sg


def skeleton_backward(
    grid: SkeletonGrid, traits, init, arm, treat, pvec, sg_scale, g_week, g_vstate, cache=None
):
    """Cotangents of (traits, init, pvec, sg_scale) given those of (week_pain, visit_state)."""
    traits = np.ascontiguousarray(traits, dtype=float)
    pvec = np.asarray(pvec, dtype=float)
    if cache is None:
        _, _, cache = skeleton_forward(grid, traits, init, arm, treat, pvec, sg_scale)
    states, _ = cache
    n_agents = traits.shape[1]
    visit_step = np.ascontiguousarray(grid.visit_step, dtype=np.int64)
    g_traits = np.empty((10, n_agents))
    g_init = np.empty((7, n_agents))
    g_params = np.empty((n_agents, N_PARAMS))
    g_scale = np.empty(n_agents)
    _back(
        traits,
        arm,
        treat,
        DynParams(*pvec.tolist()),
        float(sg_scale),
        *grid.drives(),
        states,
        grid.pain_weight,
        visit_step,
        np.ascontiguousarray(g_week, dtype=float),
        np.ascontiguousarray(g_vstate, dtype=float),
        g_traits,
        g_init,
        g_params,
        g_scale,
    )
    return g_traits, g_init, g_params.sum(axis=0), g_scale.sum()


class SkeletonOp(Op):
    """PyTensor Op: (traits[10, A], init[7, A], params[N_PARAMS], sg_scale) -> (week_pain[A, V],
    visit_state[7, A, V], trajectory[A, K + 1, 7]), with a gradient through
    :func:`skeleton_backward`.

    ``arm`` (agent -> arm index) and ``treat`` (agent takes up treatment: 0/1) are constants of
    the Op, as is the grid. The third output is the stored trajectory, consumed by the gradient
    Op so that a log-density-and-gradient evaluation runs the forward pass once. The Op has a
    Python implementation (C backend, ``pm.sample``) and a native numba one (nutpie).
    """

    __props__ = ()

    def __init__(self, grid: SkeletonGrid, arm: np.ndarray, treat: np.ndarray):
        self.grid = grid
        self.arm = np.ascontiguousarray(arm, dtype=np.int64)
        self.treat = np.ascontiguousarray(treat, dtype=float)
        super().__init__()

    def make_node(self, traits, init, params, sg_scale):
        ins = [pt.as_tensor_variable(v).astype("float64") for v in (traits, init, params, sg_scale)]
        return Apply(self, ins, [pt.dmatrix(), pt.dtensor3(), pt.dtensor3()])

    def perform(self, node, inputs, outputs):
        traits, init, params, sg_scale = inputs
        week, vstate, (states, _) = skeleton_forward(
            self.grid, traits, init, self.arm, self.treat, params, sg_scale
        )
        outputs[0][0] = week
        outputs[1][0] = vstate
        outputs[2][0] = states

    def infer_shape(self, fgraph, node, shapes):
        n_agents = shapes[0][1]
        n_visits = len(self.grid.visit_step)
        return [(n_agents, n_visits), (7, n_agents, n_visits), (n_agents, self.grid.n_steps + 1, 7)]

    def grad(self, inputs, output_grads):
        from pytensor.gradient import DisconnectedType, grad_undefined

        g_week, g_vstate, _ = output_grads
        week, vstate, states = self(*inputs)
        if isinstance(g_week.type, DisconnectedType):
            g_week = pt.zeros_like(week)
        if isinstance(g_vstate.type, DisconnectedType):
            g_vstate = pt.zeros_like(vstate)
        del grad_undefined  # the trajectory output is an implementation detail: no gradient
        return list(_SkeletonGradOp(self)(*inputs, states, g_week, g_vstate))

    def connection_pattern(self, node):
        return [[True, True, False]] * 4

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)


class _SkeletonGradOp(Op):
    __props__ = ()

    def __init__(self, fwd: SkeletonOp):
        self.fwd = fwd
        super().__init__()

    def make_node(self, traits, init, params, sg_scale, states, g_week, g_vstate):
        ins = [
            pt.as_tensor_variable(v).astype("float64")
            for v in (traits, init, params, sg_scale, states, g_week, g_vstate)
        ]
        return Apply(self, ins, [pt.dmatrix(), pt.dmatrix(), pt.dvector(), pt.dscalar()])

    def perform(self, node, inputs, outputs):
        traits, init, params, sg_scale, states, g_week, g_vstate = inputs
        f = self.fwd
        gt, gi, gp, gs = skeleton_backward(
            f.grid, traits, init, f.arm, f.treat, params, sg_scale, g_week, g_vstate, (states, None)
        )
        outputs[0][0], outputs[1][0], outputs[2][0] = gt, gi, gp
        outputs[3][0] = np.asarray(gs)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0], shapes[1], shapes[2], ()]

    # Equal when wrapping the same forward Op, so the graph optimizer merges the copies PyMC
    # creates when it differentiates with respect to each variable separately.
    def __eq__(self, other):
        return type(other) is type(self) and other.fwd is self.fwd

    def __hash__(self):
        return hash((type(self), id(self.fwd)))


def _register_numba() -> None:
    """Native numba implementations, so nutpie runs the Ops without the Python fallback."""
    try:
        from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
    except ImportError:  # pragma: no cover - pytensor without its numba backend
        return

    @register_funcify_and_cache_key(SkeletonOp)
    def _funcify_forward(op, node=None, **kwargs):
        g = op.grid
        arm, treat = op.arm, op.treat
        dt, edu, expo, plc, sg, fmult, attend = g.drives()
        weight = np.ascontiguousarray(g.pain_weight)
        vstep = np.ascontiguousarray(g.visit_step)
        n_steps, n_visits = g.n_steps, len(g.visit_step)
        # Each visit's 7-day recall covers a short run of steps: loop over that run only.
        nz = weight != 0
        w_lo = np.array([np.argmax(nz[:, j]) if nz[:, j].any() else 0 for j in range(n_visits)])
        w_hi = np.array(
            [n_steps - np.argmax(nz[::-1, j]) if nz[:, j].any() else 0 for j in range(n_visits)]
        )

        @numba.njit
        def forward(traits, init, params, sg_scale):
            n_agents = traits.shape[1]
            states = np.empty((n_agents, n_steps + 1, 7))
            pains = np.empty((n_agents, n_steps))
            p = params_from_array(params)
            _run(
                np.ascontiguousarray(traits),
                np.ascontiguousarray(init),
                arm,
                treat,
                p,
                sg_scale.item(),
                dt,
                edu,
                expo,
                plc,
                sg,
                fmult,
                attend,
                states,
                pains,
            )
            week = np.zeros((n_agents, n_visits))
            vstate = np.empty((7, n_agents, n_visits))
            for i in range(n_agents):
                for j in range(n_visits):
                    acc = 0.0
                    for k in range(w_lo[j], w_hi[j]):
                        acc += pains[i, k] * weight[k, j]
                    week[i, j] = acc
                    for f in range(7):
                        vstate[f, i, j] = states[i, vstep[j] + 1, f]
            return week, vstate, states

        return forward, _cache_key("forward", op)

    @register_funcify_and_cache_key(_SkeletonGradOp)
    def _funcify_backward(op, node=None, **kwargs):
        f = op.fwd
        g = f.grid
        arm, treat = f.arm, f.treat
        dt, edu, expo, plc, sg, fmult, attend = g.drives()
        weight = np.ascontiguousarray(g.pain_weight)
        visit_step = np.ascontiguousarray(g.visit_step, dtype=np.int64)

        @numba.njit
        def backward(traits, init, params, sg_scale, states, g_week, g_vstate):
            n_agents = traits.shape[1]
            g_traits = np.empty((10, n_agents))
            g_init = np.empty((7, n_agents))
            g_params = np.empty((n_agents, N_PARAMS))
            g_scale = np.empty(n_agents)
            p = params_from_array(params)
            _back(
                np.ascontiguousarray(traits),
                arm,
                treat,
                p,
                sg_scale.item(),
                dt,
                edu,
                expo,
                plc,
                sg,
                fmult,
                attend,
                np.ascontiguousarray(states),
                weight,
                visit_step,
                np.ascontiguousarray(g_week),
                np.ascontiguousarray(g_vstate),
                g_traits,
                g_init,
                g_params,
                g_scale,
            )
            gp = np.zeros(N_PARAMS)
            for i in range(n_agents):
                for k in range(N_PARAMS):
                    gp[k] += g_params[i, k]
            return g_traits, g_init, gp, np.asarray(g_scale.sum())

        return backward, _cache_key("backward", f)


@functools.lru_cache(maxsize=1)
def _source_hash() -> str:
    """Hash of the source files the compiled kernels are built from: an edit to the equations
    must never load stale machine code from a cache keyed on the version alone."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in (
        "_math.py",
        "dynamics.py",
        "adjoint.py",
        "params.py",
        "engine.py",
        "inference/skeleton.py",
    ):
        h.update((root / rel).read_bytes())
    return h.hexdigest()[:16]


def _cache_key(kind: str, op: SkeletonOp) -> str:
    """Content hash of everything the numba implementation closes over (for PyTensor's cache)."""
    import hashlib

    from .. import __version__

    h = hashlib.sha256(f"prt_sim-skeleton-{kind}-{__version__}-{_source_hash()}".encode())
    g = op.grid
    for arr in (
        g.dt,
        g.education,
        g.exposure,
        g.placebo,
        g.self_guided,
        g.flare_mult,
        g.attend,
        g.pain_weight,
        g.visit_step,
        op.arm,
        op.treat,
    ):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


_register_numba()
