"""The deterministic skeleton: surrogate agents run with expected shocks, and its gradient.

Each surrogate agent is one standardized patient (its traits and initial state are computed in
the PyMC graph from the population parameters). On the :class:`~prt_sim.inference.grid.
SkeletonGrid` it runs :func:`prt_sim.model.dynamics.daily_step` (the simulator's update) with
expected shocks; the backward pass runs :func:`prt_sim.model.adjoint.daily_step_vjp` in reverse.
:class:`SkeletonOp` wraps both as a PyTensor Op with a gradient.

Outputs per agent and visit: the 7-day mean of daily pain recalled at the visit, and the state
at the end of the visit day. The kernels are serial and release the GIL: sampler chains run in
parallel already, and nested thread pools only contend (measured: 1.2 ms per log-density on
one thread against 7.9 ms with a 2-thread pool inside each of 2 chains).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from ..jit import add_to_row, njit, source_hash, store_row
from ..model.adjoint import daily_step_vjp_inline
from ..model.dynamics import (
    N_STATE,
    N_TRAITS,
    Drive,
    Shocks,
    Traits,
    daily_step_inline,
    load_state,
    load_traits,
)
from ..model.params import N_PARAMS, PARAM_INDEX, DynParams, params_from_array
from .grid import GridDrives, SkeletonGrid

__all__ = ["skeleton_forward", "skeleton_backward", "SkeletonOp", "Agents"]

# Where the expected shocks' cotangents land: flare_rate enters through the expected flare
# shock, the adherence trait through the expected adherence shock.
_P_FLARE_RATE = PARAM_INDEX["flare_rate"]
_X_ADHERENCE = Traits._fields.index("adherence")


class Agents(NamedTuple):
    """Surrogate agents: traits (float64[N_TRAITS, A]), initial states (float64[N_STATE, A]),
    each agent's arm (int64[A]) and whether it takes up its arm's treatment (float64[A], 0/1)."""

    traits: np.ndarray
    init: np.ndarray
    arm: np.ndarray
    treat: np.ndarray


@njit(inline="always")
def _shocks(p, x, cal, a, k, on):
    """Expected shocks of step ``k``: no noise; flare onsets, attendance and adherence at their
    probabilities."""
    return Shocks(0.0, p.flare_rate * cal.flare_mult[a, k] * cal.dt[k], cal.attend[a, k] * on,
                  x.adherence)  # fmt: skip


@njit(inline="always")
def _drive(cal, a, k, on, sg_scale, dt):
    return Drive(cal.education[a, k], cal.exposure[a, k], cal.placebo[a, k],
                 cal.self_guided[a, k] * on * sg_scale, dt)  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def _run(agents, p, sg_scale, cal, states, pains):
    n_steps = cal.dt.shape[0]
    for i in range(agents.traits.shape[1]):
        s = load_state(agents.init[:, i])
        x = load_traits(agents.traits[:, i])
        a = agents.arm[i]
        on = agents.treat[i]
        for k in range(n_steps):
            store_row(states[i, k], s)
            z = _shocks(p, x, cal, a, k, on)
            # A literal step length lets the compiler fold powers of dt and hoist the terms that
            # depend only on parameters out of the loop: the daily steps, the default coarse
            # step (7 days) and the two steps of a quiet recall window (4 and 3) are most of it.
            dt = cal.dt[k]
            if dt == 1.0:
                s, today = daily_step_inline(s, x, _drive(cal, a, k, on, sg_scale, 1.0), z, p)
            elif dt == 7.0:
                s, today = daily_step_inline(s, x, _drive(cal, a, k, on, sg_scale, 7.0), z, p)
            elif dt == 4.0:
                s, today = daily_step_inline(s, x, _drive(cal, a, k, on, sg_scale, 4.0), z, p)
            elif dt == 3.0:
                s, today = daily_step_inline(s, x, _drive(cal, a, k, on, sg_scale, 3.0), z, p)
            else:
                s, today = daily_step_inline(s, x, _drive(cal, a, k, on, sg_scale, dt), z, p)
            pains[i, k] = today
        store_row(states[i, n_steps], s)


def _agents(traits, init, arm, treat) -> Agents:
    """The agents as the kernels take them, with their shapes checked (the kernels do not
    check bounds)."""
    a = Agents(
        np.ascontiguousarray(traits, dtype=float),
        np.ascontiguousarray(init, dtype=float),
        np.ascontiguousarray(arm, dtype=np.int64),
        np.ascontiguousarray(treat, dtype=float),
    )
    n = a.traits.shape[1] if a.traits.ndim == 2 else -1
    for name, arr, shape in (
        ("traits", a.traits, (N_TRAITS, n)),
        ("init", a.init, (N_STATE, n)),
        ("arm", a.arm, (n,)),
        ("treat", a.treat, (n,)),
    ):
        if arr.shape != shape:
            raise ValueError(f"skeleton {name} has shape {arr.shape}, expected {shape}")
    return a


def skeleton_forward(grid: SkeletonGrid, traits, init, arm, treat, pvec, sg_scale=1.0):
    """Run the skeleton.

    Parameters
    ----------
    grid : SkeletonGrid
    traits : float64[N_TRAITS, A]
        Agent traits (:class:`~prt_sim.model.dynamics.Traits` order).
    init : float64[N_STATE, A]
        Initial states (:class:`~prt_sim.model.dynamics.State` order).
    arm : int64[A]
        Arm index of each agent (into ``grid.arms``).
    treat : float64[A]
        1 if the agent takes up its arm's treatment, else 0.
    pvec : float64[N_PARAMS]
        :class:`~prt_sim.model.params.DynParams` values in field order.
    sg_scale : float
        Multiplier of every arm's self-guided dose.

    Returns
    -------
    week_pain : float64[A, V]
        7-day mean pain recalled at each visit.
    visit_state : float64[N_STATE, A, V]
        State at the end of each visit day.
    cache : tuple
        Stored trajectory for :func:`skeleton_backward`.
    """
    agents = _agents(traits, init, arm, treat)
    n_agents = agents.traits.shape[1]
    # agent-major: each agent's rows are contiguous
    states = np.empty((n_agents, grid.n_steps + 1, N_STATE))
    pains = np.empty((n_agents, grid.n_steps))
    p = DynParams(*np.asarray(pvec, dtype=float).tolist())
    _run(agents, p, float(sg_scale), grid.drives, states, pains)
    week = pains @ grid.pain_weight
    vstate = np.ascontiguousarray(states[:, grid.visit_step + 1, :].transpose(2, 0, 1))
    return week, vstate, (states, pains)


class _Cotangents(NamedTuple):
    """What the backward pass writes: per agent (they are summed afterwards)."""

    traits: np.ndarray  #: float64[N_TRAITS, A]
    init: np.ndarray  #: float64[N_STATE, A]
    params: np.ndarray  #: float64[A, N_PARAMS]
    sg_scale: np.ndarray  #: float64[A]


@njit(cache=True, nogil=True)
def _visit_runs(pain_weight, visit_step):
    """Per step ``k``, the visits whose recall covers it (``cover_idx[cover_ptr[k]:cover_ptr[k +
    1]]``) and the visits ending on it (``end_idx[end_ptr[k]:end_ptr[k + 1]]``), each in visit
    order: the backward pass visits only these instead of every visit at every step."""
    n_steps, n_visits = pain_weight.shape
    cover_ptr = np.zeros(n_steps + 1, np.int64)
    end_ptr = np.zeros(n_steps + 1, np.int64)
    for k in range(n_steps):
        for v in range(n_visits):
            cover_ptr[k + 1] += pain_weight[k, v] != 0.0
            end_ptr[k + 1] += visit_step[v] == k
    for k in range(n_steps):
        cover_ptr[k + 1] += cover_ptr[k]
        end_ptr[k + 1] += end_ptr[k]
    cover_idx = np.empty(cover_ptr[n_steps], np.int64)
    end_idx = np.empty(end_ptr[n_steps], np.int64)
    for k in range(n_steps):
        c = cover_ptr[k]
        e = end_ptr[k]
        for v in range(n_visits):
            if pain_weight[k, v] != 0.0:
                cover_idx[c] = v
                c += 1
            if visit_step[v] == k:
                end_idx[e] = v
                e += 1
    return cover_ptr, cover_idx, end_ptr, end_idx


@njit(cache=True, nogil=True, error_model="numpy")
def _back(agents, p, sg_scale, cal, states, pain_weight, visit_step, g_week, g_vstate, out):
    n_steps = cal.dt.shape[0]
    cover_ptr, cover_idx, end_ptr, end_idx = _visit_runs(pain_weight, visit_step)
    for i in range(agents.traits.shape[1]):
        x = load_traits(agents.traits[:, i])
        a = agents.arm[i]
        on = agents.treat[i]
        lam = np.zeros(N_STATE)
        gx = np.zeros(N_TRAITS)
        gp = np.zeros(N_PARAMS)
        g_sg = 0.0
        for k in range(n_steps - 1, -1, -1):
            # Only the visits that read this step (a zero weight adds nothing: same sums).
            gpain = 0.0
            for j in range(cover_ptr[k], cover_ptr[k + 1]):
                gpain += pain_weight[k, cover_idx[j]] * g_week[i, cover_idx[j]]
            for j in range(end_ptr[k], end_ptr[k + 1]):  # every visit ending on this step
                for f in range(N_STATE):
                    lam[f] += g_vstate[f, i, end_idx[j]]
            s = load_state(states[i, k])
            z = _shocks(p, x, cal, a, k, on)
            gs = load_state(lam)
            dt = cal.dt[k]
            if dt == 1.0:  # literal step lengths, as in _run
                d = _drive(cal, a, k, on, sg_scale, 1.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_inline(s, x, d, z, p, gs, gpain)
            elif dt == 7.0:
                d = _drive(cal, a, k, on, sg_scale, 7.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_inline(s, x, d, z, p, gs, gpain)
            elif dt == 4.0:
                d = _drive(cal, a, k, on, sg_scale, 4.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_inline(s, x, d, z, p, gs, gpain)
            elif dt == 3.0:
                d = _drive(cal, a, k, on, sg_scale, 3.0)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_inline(s, x, d, z, p, gs, gpain)
            else:
                d = _drive(cal, a, k, on, sg_scale, dt)
                g_s, g_x, g_p, g_z, g_d = daily_step_vjp_inline(s, x, d, z, p, gs, gpain)
            g_sg += g_d.self_guided * cal.self_guided[a, k] * on
            # literal-index stores: a loop over a tuple's items compiles to a jump table
            store_row(lam, g_s)
            add_to_row(gx, g_x)
            add_to_row(gp, g_p)
            # through the expected shocks (see _shocks)
            gx[_X_ADHERENCE] += g_z.adhere
            gp[_P_FLARE_RATE] += g_z.flare * cal.flare_mult[a, k] * cal.dt[k]
        for f in range(N_STATE):
            out.init[f, i] = lam[f]
        for f in range(N_TRAITS):
            out.traits[f, i] = gx[f]
        for f in range(N_PARAMS):
            out.params[i, f] = gp[f]
        out.sg_scale[i] = g_sg


def skeleton_backward(
    grid: SkeletonGrid, traits, init, arm, treat, pvec, sg_scale, g_week, g_vstate, cache=None
):
    """Cotangents of (traits, init, pvec, sg_scale) given those of (week_pain, visit_state)."""
    agents = _agents(traits, init, arm, treat)
    pvec = np.asarray(pvec, dtype=float)
    if cache is None:
        _, _, cache = skeleton_forward(grid, traits, init, arm, treat, pvec, sg_scale)
    states, _ = cache
    n_agents = agents.traits.shape[1]
    out = _Cotangents(
        np.empty((N_TRAITS, n_agents)),
        np.empty((N_STATE, n_agents)),
        np.empty((n_agents, N_PARAMS)),
        np.empty(n_agents),
    )
    _back(
        agents,
        DynParams(*pvec.tolist()),
        float(sg_scale),
        grid.drives,
        states,
        grid.pain_weight,
        np.ascontiguousarray(grid.visit_step, dtype=np.int64),
        np.ascontiguousarray(g_week, dtype=float),
        np.ascontiguousarray(g_vstate, dtype=float),
        out,
    )
    return out.traits, out.init, out.params.sum(axis=0), out.sg_scale.sum()


class SkeletonOp(Op):
    """PyTensor Op: (traits[N_TRAITS, A], init[N_STATE, A], params[N_PARAMS], sg_scale) ->
    (week_pain[A, V], visit_state[N_STATE, A, V], trajectory[A, K + 1, N_STATE]), with a
    gradient through :func:`skeleton_backward`.

    ``arm`` (agent -> arm index), ``treat`` (agent takes up treatment: 0/1) and the grid are
    fixed for a model: they enter the graph as constant inputs (:meth:`static_inputs`), so the
    compiled kernels do not depend on any one trial's calendar and are compiled once for every
    model. The third output is the stored trajectory, consumed by the gradient Op so that a
    log-density-and-gradient evaluation runs the forward pass once. The Op has a Python
    implementation (C backend, ``pm.sample``) and a native numba one (nutpie).
    """

    __props__ = ()
    #: Inputs that carry a gradient; the others are the static inputs.
    N_VARIABLE = 4

    def __init__(self, grid: SkeletonGrid, arm: np.ndarray, treat: np.ndarray):
        self.grid = grid
        self.arm = np.ascontiguousarray(arm, dtype=np.int64)
        self.treat = np.ascontiguousarray(treat, dtype=float)
        super().__init__()

    def static_inputs(self) -> tuple[np.ndarray, ...]:
        """The agents' arms and uptake, the grid's calendar and recall weights, and each
        visit's run of steps, as the numba kernels take them."""
        g = self.grid
        weight = np.ascontiguousarray(g.pain_weight, dtype=float)
        n_steps, n_visits = weight.shape
        # Each visit's 7-day recall covers a short run of steps: the kernels loop over it only.
        nz = weight != 0
        w_lo = [np.argmax(nz[:, j]) if nz[:, j].any() else 0 for j in range(n_visits)]
        w_hi = [n_steps - np.argmax(nz[::-1, j]) if nz[:, j].any() else 0 for j in range(n_visits)]
        return (
            self.arm,
            self.treat,
            *(np.ascontiguousarray(a, dtype=float) for a in g.drives),
            weight,
            np.ascontiguousarray(g.visit_step, dtype=np.int64),
            np.asarray(w_lo, dtype=np.int64),
            np.asarray(w_hi, dtype=np.int64),
        )

    def make_node(self, traits, init, params, sg_scale):
        ins = [pt.as_tensor_variable(v).astype("float64") for v in (traits, init, params, sg_scale)]
        ins += [pt.constant(a) for a in self.static_inputs()]
        return Apply(self, ins, [pt.dmatrix(), pt.dtensor3(), pt.dtensor3()])

    def perform(self, node, inputs, outputs):
        traits, init, params, sg_scale = inputs[: self.N_VARIABLE]
        week, vstate, (states, _) = skeleton_forward(
            self.grid, traits, init, self.arm, self.treat, params, sg_scale
        )
        outputs[0][0] = week
        outputs[1][0] = vstate
        outputs[2][0] = states

    def infer_shape(self, fgraph, node, shapes):
        n_agents = shapes[0][1]
        n_visits = len(self.grid.visit_step)
        return [
            (n_agents, n_visits),
            (N_STATE, n_agents, n_visits),
            (n_agents, self.grid.n_steps + 1, N_STATE),
        ]

    def grad(self, inputs, output_grads):
        from pytensor.gradient import DisconnectedType

        g_week, g_vstate, _ = output_grads
        week, vstate, states = self(*inputs[: self.N_VARIABLE])
        if isinstance(g_week.type, DisconnectedType):
            g_week = pt.zeros_like(week)
        if isinstance(g_vstate.type, DisconnectedType):
            g_vstate = pt.zeros_like(vstate)
        # the trajectory output is an implementation detail: no gradient flows into it
        grads = _SkeletonGradOp(self)(*inputs[: self.N_VARIABLE], states, g_week, g_vstate)
        static = [DisconnectedType()() for _ in inputs[self.N_VARIABLE :]]
        return [*grads, *static]

    def connection_pattern(self, node):
        n_static = len(node.inputs) - self.N_VARIABLE
        return [[True, True, False]] * self.N_VARIABLE + [[False, False, False]] * n_static

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
        ins += [pt.constant(a) for a in self.fwd.static_inputs()]
        return Apply(self, ins, [pt.dmatrix(), pt.dmatrix(), pt.dvector(), pt.dscalar()])

    def perform(self, node, inputs, outputs):
        traits, init, params, sg_scale, states, g_week, g_vstate = inputs[:7]
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
    """Native numba implementations, so nutpie runs the Ops without the Python fallback. They
    take the grid as arguments (the Ops' static inputs), so they are one compiled function for
    every model and grid, keyed only on the sources (:func:`_cache_key`)."""
    try:
        from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
    except ImportError:  # pragma: no cover - pytensor without its numba backend
        return

    @njit
    def forward(traits, init, params, sg_scale, arm, treat, dt, edu, expo, plc, sg, fmult,
                attend, weight, vstep, w_lo, w_hi):  # fmt: skip
        n_agents = traits.shape[1]
        n_steps, n_visits = weight.shape
        states = np.empty((n_agents, n_steps + 1, N_STATE))
        pains = np.empty((n_agents, n_steps))
        agents = Agents(np.ascontiguousarray(traits), np.ascontiguousarray(init), arm, treat)
        cal = GridDrives(dt, edu, expo, plc, sg, fmult, attend)
        _run(agents, params_from_array(params), sg_scale.item(), cal, states, pains)
        week = np.zeros((n_agents, n_visits))
        vstate = np.empty((N_STATE, n_agents, n_visits))
        for i in range(n_agents):
            for j in range(n_visits):
                acc = 0.0
                for k in range(w_lo[j], w_hi[j]):
                    acc += pains[i, k] * weight[k, j]
                week[i, j] = acc
                for f in range(N_STATE):
                    vstate[f, i, j] = states[i, vstep[j] + 1, f]
        return week, vstate, states

    @njit
    def backward(traits, init, params, sg_scale, states, g_week, g_vstate, arm, treat, dt, edu,
                 expo, plc, sg, fmult, attend, weight, vstep, w_lo, w_hi):  # fmt: skip
        n_agents = traits.shape[1]
        out = _Cotangents(
            np.empty((N_TRAITS, n_agents)),
            np.empty((N_STATE, n_agents)),
            np.empty((n_agents, N_PARAMS)),
            np.empty(n_agents),
        )
        agents = Agents(np.ascontiguousarray(traits), np.ascontiguousarray(init), arm, treat)
        _back(
            agents,
            params_from_array(params),
            sg_scale.item(),
            GridDrives(dt, edu, expo, plc, sg, fmult, attend),
            np.ascontiguousarray(states),
            weight,
            vstep,
            np.ascontiguousarray(g_week),
            np.ascontiguousarray(g_vstate),
            out,
        )
        gp = np.zeros(N_PARAMS)
        for i in range(n_agents):
            for k in range(N_PARAMS):
                gp[k] += out.params[i, k]
        return out.traits, out.init, gp, np.asarray(out.sg_scale.sum())

    @register_funcify_and_cache_key(SkeletonOp)
    def _funcify_forward(op, node=None, **kwargs):
        return forward, _cache_key("forward")

    @register_funcify_and_cache_key(_SkeletonGradOp)
    def _funcify_backward(op, node=None, **kwargs):
        return backward, _cache_key("backward")


def _cache_key(kind: str) -> str:
    """Key of a compiled kernel in PyTensor's cache: the kernels' sources and everything they
    import (the equations), and the version; the grid is an input, not part of the code."""
    import hashlib

    from .. import __version__

    text = f"prt_sim-skeleton-{kind}-{__version__}-{source_hash(__file__)}"
    return hashlib.sha256(text.encode()).hexdigest()


_register_numba()
