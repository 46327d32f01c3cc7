"""The hand-written derivative (vector-Jacobian product) of the daily update.

Written by hand because automatic differentiation through a PyTensor ``scan`` over hundreds of
days is far too slow for NUTS on two cores. It mirrors ``daily_step`` line by line in reverse;
``tests/test_adjoint.py`` checks it against central finite differences and against PyTensor's
symbolic gradient of the *same* ``daily_step`` source, so the two cannot drift apart silently.

Like ``daily_step`` it runs on numpy arrays (elementwise) and compiles in numba.
"""

from __future__ import annotations

from numba.extending import register_jitable

from ..jit import njit
from ._math import exp, expm1, log, maximum, minimum, off, power, sqrt
from .dynamics import COURSE_MAX, DAYS_PER_YEAR, Drive, Shocks, State, Traits
from .params import DynParams

__all__ = ["daily_step_vjp", "daily_step_vjp_jit", "daily_step_vjp_inline"]


@register_jitable
def _step_mask(cond):
    """1.0 where ``cond`` holds else 0.0 (subgradient of min/max/clip)."""
    return cond * 1.0


@register_jitable
def daily_step_vjp(s, x, d, z, p, gs, gpain):
    """Cotangents of ``daily_step(s, x, d, z, p)`` given cotangents of its outputs.

    Parameters
    ----------
    s, x, d, z, p
        The inputs of :func:`~prt_sim.model.dynamics.daily_step` (state, traits, drive, shocks,
        :class:`~prt_sim.model.params.DynParams`).
    gs : State
        Cotangent of tomorrow's state.
    gpain : float
        Cotangent of today's pain.

    Returns
    -------
    (State, Traits, DynParams, Shocks, Drive)
        Cotangents of the state, the traits, the parameters, the shocks and the drive (the step
        length ``dt`` gets zero: it is a grid constant). The measurement
        parameters (``pain_report_sd``, ``item_noise_sd``, ``*_pain_state``) do not enter the
        update and get zero.
    """
    zero = 0.0 * s.safety
    dt = d.dt
    # ---- forward recomputation (same expressions as daily_step) ----
    gap_s = 1.0 - s.safety
    gap_c = 1.0 - s.consolidated
    if off(s.course):  # as dynamics.schema_now: no natural course today, no expm1
        course_in = 1.0
        m_c = 0.0
        den_c = 1.0
        schema = x.schema
    else:
        # inside the cut of dynamics.schema_now
        course_in = _step_mask(s.course < COURSE_MAX) * _step_mask(s.course > -COURSE_MAX)
        m_c = expm1(minimum(COURSE_MAX, maximum(-COURSE_MAX, s.course)))
        den_c = 1.0 + x.schema * m_c
        schema = x.schema + x.schema * (1.0 - x.schema) * m_c / den_c  # dynamics.schema_now
    b = schema * (gap_s * gap_c)
    e_f = exp(-dt / p.flare_duration)
    e_1 = exp(-1.0 / p.flare_duration)
    spread = (1.0 - e_f) / (dt * (1.0 - e_1))
    flare_raw = s.flare * e_f + z.flare * spread
    flare = flare_raw - (flare_raw - 1.0) * _step_mask(flare_raw > 1.0)  # min(1, flare_raw)
    wf = p.fear_threat_weight
    appraisal = b + wf * (s.fear - b)
    u = p.threat_slope * (appraisal + p.cat_threat_weight * s.catastrophizing - p.threat_midpoint)
    t = 1.0 / (1.0 + exp(-u))
    raw = (
        x.floor
        + x.gain * t * (1.0 - s.expectancy) * (1.0 - s.contact)
        + p.flare_pain * flare
        + p.fluct_sd * x.variability * s.fluctuation
    )
    inside = _step_mask(raw > 0.0) * _step_mask(raw < 10.0)
    today_pain = raw * inside + 10.0 * _step_mask(raw >= 10.0)
    session = d.education * z.attend
    exposure_guided = d.exposure * z.attend * z.adhere
    framed = s.safety + s.consolidated * gap_s
    exposure_everyday = p.everyday_activity * dt * (1.0 - s.avoidance) * framed
    plasticity = exp(-p.chronicity_effect * x.chronicity)
    edu_dose = session + d.self_guided * dt
    exposure = exposure_guided + exposure_everyday
    inner = x.edu_efficacy * edu_dose + p.exposure_learning * exposure * b
    learn = plasticity * inner
    e_l = exp(-learn)
    consolidating = not off(p.consolidation_rate)
    if consolidating:
        e_k = exp(-p.consolidation_rate * dt * (1.0 - s.avoidance))
        tau = -expm1(-p.consolidation_rate * dt * (1.0 - s.avoidance))  # as daily_step
        # At full safety (gap 0) the transfer's derivative is singular: read it just inside.
        gap_in = maximum(gap_s, 1e-12)
        log_gap = log(gap_in)
        keep_s = power(gap_s, 1.0 - tau)  # 1 - labile trace after the transfer
        keep_c = power(gap_s, tau)
        stable = 1.0 - gap_c * keep_c
        r = p.stable_decay_ratio
        decay_c = exp(-p.safety_decay * r * dt * s.avoidance)
        rein_c = 1.0 - p.reinstatement * r * z.flare * b
    else:
        keep_s = gap_s
    s1 = 1.0 - keep_s * e_l
    decay = exp(-p.safety_decay * dt * s.avoidance)
    rein = 1.0 - p.reinstatement * z.flare * b
    q_f = power(1.0 - p.fear_rate, dt)
    q_a = power(1.0 - p.avoid_rate, dt)
    q_c = power(1.0 - p.cat_rate, dt)
    avoid_raw = x.avoid_prop * s.fear
    avoid_free = _step_mask(avoid_raw < 1.0)
    avoid_target = avoid_raw * avoid_free + (1.0 - avoid_free)
    w = p.cat_belief_weight
    cat_target = x.cat_prop * (w * b + (1.0 - w) * today_pain / 10.0)
    e_e = exp(-dt / p.placebo_duration)
    faded = s.expectancy * e_e
    injected = d.placebo * z.attend
    phi_d = power(p.fluct_persistence, dt)
    root = sqrt(1.0 - phi_d * phi_d)
    contacting = not off(p.contact_effect)
    if contacting:
        sessions = d.education + d.exposure
        one_session = _step_mask(sessions < 1.0)  # d min(1, sessions) / d sessions
        capped = minimum(1.0, sessions)
        met = capped * z.attend
        e_k2 = exp(-dt / p.contact_duration)
        faded_k = s.contact * e_k2
    keep_k = (1.0 - s.expectancy) * (1.0 - s.contact)  # share of amplified pain not removed

    # ---- reverse sweep ----
    g_b = zero
    g_S = zero
    g_C = zero
    g_F = zero
    g_A = zero
    # fluctuation' = phi_d * N + root * noise
    g_N = gs.fluctuation * phi_d
    g_phi_d = gs.fluctuation * (s.fluctuation - z.noise * phi_d / root)
    g_persist = g_phi_d * dt * power(p.fluct_persistence, dt - 1.0)
    g_noise = gs.fluctuation * root
    # expectancy' = faded * (1 - injected) + injected * placebo_response
    g_faded = gs.expectancy * (1.0 - injected)
    g_injected = gs.expectancy * (x.placebo_response - faded)
    g_pr = gs.expectancy * injected
    g_E = g_faded * e_e
    g_tau_e = g_faded * faded * dt / (p.placebo_duration * p.placebo_duration)
    # contact' = faded_k + met * (contact_effect - faded_k), or contact' = contact when off
    if contacting:
        g_faded_k = gs.contact * (1.0 - met)
        g_met = gs.contact * (p.contact_effect - faded_k)
        g_contact_effect = gs.contact * met
        g_K = g_faded_k * e_k2
        g_tau_k = g_faded_k * faded_k * dt / (p.contact_duration * p.contact_duration)
        g_sessions = g_met * z.attend * one_session
        g_attend_k = g_met * capped
    else:
        g_contact_effect = zero
        g_K = gs.contact
        g_tau_k = zero
        g_sessions = zero
        g_attend_k = zero
    # catastrophizing' = C + (1 - q_c) * (cat_target - C)
    g_C = g_C + gs.catastrophizing * q_c
    g_cat_target = gs.catastrophizing * (1.0 - q_c)
    g_cat_rate = (
        gs.catastrophizing
        * (cat_target - s.catastrophizing)
        * dt
        * power(1.0 - p.cat_rate, dt - 1.0)
    )
    g_cat_prop = g_cat_target * (w * b + (1.0 - w) * today_pain / 10.0)
    g_b = g_b + g_cat_target * x.cat_prop * w
    g_pain = gpain + g_cat_target * x.cat_prop * (1.0 - w) / 10.0
    g_w = g_cat_target * x.cat_prop * (b - today_pain / 10.0)
    # avoidance' = A + (1 - q_a) * (avoid_target - A)
    g_A = g_A + gs.avoidance * q_a
    g_avoid_target = gs.avoidance * (1.0 - q_a)
    g_avoid_rate = (
        gs.avoidance * (avoid_target - s.avoidance) * dt * power(1.0 - p.avoid_rate, dt - 1.0)
    )
    g_avoid_prop = g_avoid_target * avoid_free * s.fear
    g_F = g_F + g_avoid_target * avoid_free * x.avoid_prop
    # fear' = F + (1 - q_f) * (fear_prop * b - F)
    g_F = g_F + gs.fear * q_f
    g_fear_prop = gs.fear * (1.0 - q_f) * b
    g_b = g_b + gs.fear * (1.0 - q_f) * x.fear_prop
    g_fear_rate = gs.fear * (x.fear_prop * b - s.fear) * dt * power(1.0 - p.fear_rate, dt - 1.0)
    # safety' = s1 * decay * rein
    g_s1 = gs.safety * decay * rein
    g_decay = gs.safety * s1 * rein
    g_rein = gs.safety * s1 * decay
    g_safety_decay = g_decay * decay * (-dt * s.avoidance)
    g_A = g_A + g_decay * decay * (-p.safety_decay * dt)
    g_reinstatement = g_rein * (-z.flare * b)
    g_b = g_b + g_rein * (-p.reinstatement * z.flare)
    g_zflare = g_rein * (-p.reinstatement * b)
    # s1 = 1 - keep_s * exp(-learn)
    g_keep_s = -g_s1 * e_l
    g_learn = g_s1 * keep_s * e_l
    g_Cs = zero
    g_consolidation_rate = zero
    g_ratio = zero
    if consolidating:
        # consolidated' = stable * decay_c * rein_c, stable = 1 - gap_c * keep_c
        g_stable = gs.consolidated * decay_c * rein_c
        g_decay_c = gs.consolidated * stable * rein_c
        g_rein_c = gs.consolidated * stable * decay_c
        g_safety_decay = g_safety_decay + g_decay_c * decay_c * (-r * dt * s.avoidance)
        g_ratio = g_decay_c * decay_c * (-p.safety_decay * dt * s.avoidance) + g_rein_c * (
            -p.reinstatement * z.flare * b
        )
        g_A = g_A + g_decay_c * decay_c * (-p.safety_decay * r * dt)
        g_reinstatement = g_reinstatement + g_rein_c * (-r * z.flare * b)
        g_b = g_b + g_rein_c * (-p.reinstatement * r * z.flare)
        g_zflare = g_zflare + g_rein_c * (-p.reinstatement * r * b)
        g_Cs = g_Cs + g_stable * keep_c  # d stable / d consolidated = keep_c
        g_keep_c = -g_stable * gap_c
        # keep_s = gap_s ** (1 - tau), keep_c = gap_s ** tau
        g_tau = -g_keep_s * keep_s * log_gap + g_keep_c * keep_c * log_gap
        g_gap_s = (g_keep_s * (1.0 - tau) * keep_s + g_keep_c * tau * keep_c) / gap_in
        # tau = 1 - exp(-rate * dt * (1 - A))
        g_consolidation_rate = g_tau * e_k * dt * (1.0 - s.avoidance)
        g_A = g_A - g_tau * e_k * p.consolidation_rate * dt
    else:
        # consolidated' = consolidated
        g_Cs = g_Cs + gs.consolidated
        g_gap_s = g_keep_s
    g_S = g_S - g_gap_s
    # learn = plasticity * (edu_efficacy * edu_dose + exposure_learning * exposure * b)
    g_plasticity = g_learn * inner
    g_chron_effect = g_plasticity * plasticity * (-x.chronicity)
    g_chronicity = g_plasticity * plasticity * (-p.chronicity_effect)
    g_inner = g_learn * plasticity
    g_edu_eff = g_inner * edu_dose
    g_edu_dose = g_inner * x.edu_efficacy
    g_exp_learning = g_inner * exposure * b
    g_b = g_b + g_inner * p.exposure_learning * exposure
    g_exposure = g_inner * p.exposure_learning * b
    g_everyday = g_exposure * dt * (1.0 - s.avoidance) * framed
    g_A = g_A + g_exposure * (-p.everyday_activity * dt * framed)
    g_framed = g_exposure * p.everyday_activity * dt * (1.0 - s.avoidance)
    g_S = g_S + g_framed * gap_c  # d framed / d safety = 1 - consolidated
    g_Cs = g_Cs + g_framed * gap_s
    g_adhere = g_exposure * d.exposure * z.attend
    g_d_exposure = g_exposure * z.attend * z.adhere + g_sessions
    g_d_education = g_edu_dose * z.attend + g_sessions
    g_d_self_guided = g_edu_dose * dt
    g_d_placebo = g_injected * z.attend
    g_attend = (
        g_exposure * d.exposure * z.adhere
        + g_edu_dose * d.education
        + g_injected * d.placebo
        + g_attend_k
    )
    # pain = clip(floor + gain * t * (1 - E) * (1 - Q) + flare_pain * flare
    #             + fluct_sd * variability * N, 0, 10)
    g_raw = g_pain * inside
    g_floor = g_raw
    g_gain = g_raw * t * keep_k
    g_t = g_raw * x.gain * keep_k
    g_E = g_E - g_raw * x.gain * t * (1.0 - s.contact)
    g_K = g_K - g_raw * x.gain * t * (1.0 - s.expectancy)
    g_flare_pain = g_raw * flare
    g_flare = g_raw * p.flare_pain + gs.flare
    g_fluct_sd = g_raw * x.variability * s.fluctuation
    g_variability = g_raw * p.fluct_sd * s.fluctuation
    g_N = g_N + g_raw * p.fluct_sd * x.variability
    # t = sigmoid(u)
    g_u = g_t * t * (1.0 - t)
    g_slope = g_u * (appraisal + p.cat_threat_weight * s.catastrophizing - p.threat_midpoint)
    g_appraisal = g_u * p.threat_slope
    g_b = g_b + g_appraisal * (1.0 - wf)
    g_F = g_F + g_appraisal * wf
    g_fear_weight = g_appraisal * (s.fear - b)
    g_cat_weight = g_u * p.threat_slope * s.catastrophizing
    g_C = g_C + g_u * p.threat_slope * p.cat_threat_weight
    g_mid = -g_u * p.threat_slope
    # flare = min(1, flare_prev * e_f + z.flare)
    g_flare_raw = g_flare * _step_mask(flare_raw < 1.0)
    g_Phi = g_flare_raw * e_f
    tau2 = p.flare_duration * p.flare_duration
    d_spread = ((-e_f * dt / tau2) * (1.0 - e_1) + (1.0 - e_f) * e_1 / tau2) / (
        dt * (1.0 - e_1) * (1.0 - e_1)
    )
    g_tau_f = g_flare_raw * (s.flare * e_f * dt / tau2 + z.flare * d_spread)
    g_zflare = g_zflare + g_flare_raw * spread
    # b = schema_now * (1 - S) * (1 - consolidated); schema_now = schema e^c / den_c, so
    # d/d schema = e^c / den_c^2 and d/dc = schema_now (1 - schema_now) (logistic).
    g_schema_now = g_b * (gap_s * gap_c)
    g_schema = g_schema_now * (1.0 + m_c) / (den_c * den_c)
    g_S = g_S - g_b * schema * gap_c
    g_Cs = g_Cs - g_b * schema * gap_s
    # course' = course + (drift - drift_reversion * course) * dt / DAYS_PER_YEAR
    per_year = dt / DAYS_PER_YEAR
    g_course = (
        gs.course * (1.0 - p.drift_reversion * per_year)
        + g_schema_now * schema * (1.0 - schema) * course_in
    )
    g_drift = gs.course * per_year
    g_reversion = -gs.course * s.course * per_year

    g_state = State(
        safety=g_S,
        catastrophizing=g_C,
        fear=g_F,
        avoidance=g_A,
        expectancy=g_E,
        fluctuation=g_N,
        flare=g_Phi,
        consolidated=g_Cs,
        course=g_course,
        contact=g_K,
    )
    g_traits = Traits(
        schema=g_schema,
        floor=g_floor,
        gain=g_gain,
        fear_prop=g_fear_prop,
        avoid_prop=g_avoid_prop,
        cat_prop=g_cat_prop,
        edu_efficacy=g_edu_eff,
        adherence=zero,  # enters through the adherence shock (g_shocks.adhere)
        placebo_response=g_pr,
        chronicity=g_chronicity,
        drift=g_drift,
        variability=g_variability,
    )
    # By name: the measurement parameters do not enter the update; flare_rate enters only
    # through the flare shock (g_shocks.flare).
    g_params = DynParams(
        threat_slope=g_slope,
        threat_midpoint=g_mid,
        cat_threat_weight=g_cat_weight,
        fluct_sd=g_fluct_sd,
        fluct_persistence=g_persist,
        flare_rate=zero,
        flare_pain=g_flare_pain,
        flare_duration=g_tau_f,
        reinstatement=g_reinstatement,
        exposure_learning=g_exp_learning,
        everyday_activity=g_everyday,
        safety_decay=g_safety_decay,
        chronicity_effect=g_chron_effect,
        fear_rate=g_fear_rate,
        avoid_rate=g_avoid_rate,
        cat_rate=g_cat_rate,
        cat_belief_weight=g_w,
        placebo_duration=g_tau_e,
        consolidation_rate=g_consolidation_rate,
        stable_decay_ratio=g_ratio,
        fear_threat_weight=g_fear_weight,
        course_sd=zero,  # enters through the drift trait (g_traits.drift)
        drift_reversion=g_reversion,
        contact_effect=g_contact_effect,
        contact_duration=g_tau_k,
        pain_report_sd=zero,
        item_noise_sd=zero,
        tsk11_pain_state=zero,
        pcs_pain_state=zero,
        odi_pain_state=zero,
        survey_offset=zero,
    )
    g_shocks = Shocks(noise=g_noise, flare=g_zflare, attend=g_attend, adhere=g_adhere)
    g_drive = Drive(
        education=g_d_education,
        exposure=g_d_exposure,
        placebo=g_d_placebo,
        self_guided=g_d_self_guided,
        dt=zero,
    )
    return g_state, g_traits, g_params, g_shocks, g_drive


daily_step_vjp_jit = njit(cache=True)(daily_step_vjp)
daily_step_vjp_inline = njit(inline="always")(daily_step_vjp)
