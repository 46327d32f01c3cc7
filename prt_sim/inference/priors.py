"""Priors of the fitted population parameters (validated, documented).

Each fitted quantity names where its value goes: a :class:`~prt_sim.model.params.ModelParams`
field ("params"), a :class:`~prt_sim.model.cohorts.CohortSpec` field ("spec"), or
``self_guided_scale`` ("protocol"), a multiplier of the protocols' self-guided doses. Each
prior names its basis in ``doc``: a published figure from a study other than the PRT trial, or
a weakly informative range argued from the parameter's meaning, and is centred where that basis
puts it, not on the hand-set defaults chosen with the trial's outcomes in view
(:data:`DEFAULT_PRIORS`).

A prior is only accepted where it can be learned: on a ``CohortSpec`` field that the models
compute symbolically (:data:`FITTABLE_SPEC`), and, once a model is built, on a quantity its
likelihood depends on (:func:`check_priors_reach_likelihood`). A prior that would be silently
ignored is refused with an error naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import ValidationError, check_range

__all__ = [
    "Prior",
    "DEFAULT_PRIORS",
    "PATIENT_PAIN_SD_PRIOR",
    "PATIENT_FLOOR_MEAN_PRIOR",
    "SURVEY_OFFSET_PRIOR",
    "PATIENT_VARIABILITY_SD_PRIOR",
    "MECHANISM_PRIORS",
    "mechanism_priors",
    "FITTABLE_SPEC",
    "prior_table",
    "validate_priors",
    "check_priors_reach_likelihood",
]

#: CohortSpec fields the PyMC models compute with (so a prior on them is learned). The others
#: shape the surrogate agents' standardized draws, evaluated once with scipy before the model
#: is built (:func:`prt_sim.model.baseline.standard_draws`): they can only be fixed.
FITTABLE_SPEC = (
    "pain_mean",
    "pain_sd",
    "entry_shift",
    "edu_efficacy_median",
    "edu_efficacy_log_sd",
    "placebo_median",
    "placebo_logit_sd",
    # patient level only, where each patient's floor is a random effect (the arm-level agents'
    # floors are standardized draws, so a prior on it there does not reach the likelihood)
    "floor_mean",
    # patient level only, where each patient's rating variability is a random effect (the
    # arm-level agents are all of variability 1)
    "variability_sd",
)

_FAMILIES = ("normal", "lognormal", "beta", "truncnormal")
_TARGETS = ("params", "spec", "protocol")


@dataclass(frozen=True)
class Prior:
    """A prior for one fitted parameter.

    Parameters
    ----------
    family : {"normal", "lognormal", "beta", "truncnormal"}
        ``normal(a=mu, b=sigma)``, ``lognormal(a=median, b=sigma of log)``,
        ``beta(a=alpha, b=beta)``, ``truncnormal(a=mu, b=sigma, lower, upper)``.
    a, b : float
        Family parameters (see above).
    target : {"params", "spec", "protocol"}
        Where the value goes.
    doc : str
        Why this prior.
    lower, upper : float, optional
        Bounds (required for ``truncnormal``; any family is truncated to them). Priors are
        truncated to their target field's declared range automatically.
    """

    family: Literal["normal", "lognormal", "beta", "truncnormal"]
    a: float
    b: float
    target: Literal["params", "spec", "protocol"]
    doc: str = ""
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValidationError("Prior.family", self.family, f"one of {_FAMILIES}")
        if self.target not in _TARGETS:
            raise ValidationError("Prior.target", self.target, f"one of {_TARGETS}")
        check_range("Prior.a", self.a)
        check_range("Prior.b", self.b, 0.0, None, lo_open=True)
        if self.family in ("lognormal", "beta"):
            check_range("Prior.a", self.a, 0.0, None, lo_open=True)
        if self.family == "truncnormal" and (self.lower is None or self.upper is None):
            raise ValidationError(
                "Prior.lower/upper",
                (self.lower, self.upper),
                "finite lower and upper for a truncnormal prior",
            )
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValidationError("Prior.lower/upper", (self.lower, self.upper), "lower < upper")

    def dist(self, name: str, **kwargs):
        """The PyMC random variable (inside a model context), truncated to ``[lower, upper]``
        when bounds are set."""
        import pymc as pm

        if self.family == "truncnormal":
            return pm.TruncatedNormal(
                name, self.a, self.b, lower=self.lower, upper=self.upper, **kwargs
            )
        if self.family == "normal":
            base = pm.Normal.dist(self.a, self.b)
        elif self.family == "lognormal":
            base = pm.LogNormal.dist(math.log(self.a), self.b)
        else:
            base = pm.Beta.dist(self.a, self.b)
        if self.lower is None and self.upper is None:
            return _untruncated(self, name, **kwargs)
        # Give PyMC both bounds where the family has a natural one, so it picks an interval
        # transform (an upper bound alone would let a log-normal go negative).
        lower = (
            self.lower
            if self.lower is not None
            else {"lognormal": 0.0, "beta": 0.0}.get(self.family)
        )
        upper = self.upper if self.upper is not None else {"beta": 1.0}.get(self.family)
        return pm.Truncated(name, base, lower=lower, upper=upper, **kwargs)

    def bounds(self) -> tuple[float | None, float | None]:
        """The support's (lower, upper) as :meth:`dist` gives it to PyMC: the bounds set, else
        the family's own (0 for a log-normal, 0 and 1 for a beta; None: unbounded)."""
        natural = {"lognormal": (0.0, None), "beta": (0.0, 1.0)}.get(self.family, (None, None))
        return (
            self.lower if self.lower is not None else natural[0],
            self.upper if self.upper is not None else natural[1],
        )

    def unconstrained(self, x) -> np.ndarray:
        """``x`` on the scale NUTS moves on (PyMC's default transform of :meth:`dist`): the
        log of the distance to a single bound, the log-odds of the position between two,
        unchanged where there is none. Values on a bound map to -inf or inf."""
        x = np.asarray(x, dtype=float)
        lower, upper = self.bounds()
        with np.errstate(divide="ignore", invalid="ignore"):
            if lower is None and upper is None:
                return x
            if upper is None:
                return np.log(x - lower)
            if lower is None:
                return np.log(upper - x)
            return np.log(x - lower) - np.log(upper - x)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draws from the prior with numpy, within its bounds (prior checks, SBC)."""
        from scipy import stats

        if self.family in ("normal", "truncnormal"):
            lo = -np.inf if self.lower is None else (self.lower - self.a) / self.b
            hi = np.inf if self.upper is None else (self.upper - self.a) / self.b
            return stats.truncnorm.rvs(
                lo, hi, loc=self.a, scale=self.b, size=size, random_state=rng
            )
        dist = (
            stats.lognorm(self.b, scale=self.a)
            if self.family == "lognormal"
            else stats.beta(self.a, self.b)
        )
        lo = dist.cdf(self.lower) if self.lower is not None else 0.0
        hi = dist.cdf(self.upper) if self.upper is not None else 1.0
        return dist.ppf(lo + (hi - lo) * rng.random(size))  # inverse CDF within the bounds

    def logpdf(self, x) -> np.ndarray:
        """Log density at ``x`` (numpy), truncated to the bounds (-inf outside them)."""
        from scipy import stats

        x = np.asarray(x, dtype=float)
        if self.family in ("normal", "truncnormal"):
            dist = stats.norm(self.a, self.b)
        elif self.family == "lognormal":
            dist = stats.lognorm(self.b, scale=self.a)
        else:
            dist = stats.beta(self.a, self.b)
        lo = -np.inf if self.lower is None else self.lower
        hi = np.inf if self.upper is None else self.upper
        mass = dist.cdf(hi) - dist.cdf(lo)
        inside = (x >= lo) & (x <= hi)
        with np.errstate(divide="ignore"):
            return np.where(inside, dist.logpdf(x) - np.log(mass), -np.inf)

    def describe(self) -> str:
        """Human-readable form, e.g. ``LogNormal(median 0.12, log-SD 0.75)``."""
        if self.family == "normal":
            return f"Normal({self.a:g}, {self.b:g})"
        if self.family == "lognormal":
            return f"LogNormal(median {self.a:g}, log-SD {self.b:g})"
        if self.family == "beta":
            return f"Beta({self.a:g}, {self.b:g})"
        return f"TruncatedNormal({self.a:g}, {self.b:g}; [{self.lower:g}, {self.upper:g}])"


#: The default set of fitted parameters and their priors. Each names its basis: a figure from a
#: study other than the PRT trial, or, where none bears on the parameter, a weakly informative
#: range argued from the parameter's meaning; each is centred where that basis puts it, not on
#: the hand-set defaults of ``ModelParams`` / ``CohortSpec`` (chosen with the trial's outcomes
#: in view; the priors were centred on them until 0.6.0). Many centres still land near those
#: defaults: docs/inference.md discloses how near, and ``tests/test_priors.py`` keeps that
#: disclosure and the citations in step with this table.
DEFAULT_PRIORS: dict[str, Prior] = {
    "edu_efficacy_median": Prior(
        "lognormal",
        0.1,
        1.0,
        "spec",
        "safety learned per education session, median patient. Anchored on pain education "
        "alone, which moves pain little: -0.3 (-1.0 to 0.3) points at 3 months after two "
        "sessions in acute low-back pain (Traeger et al. 2019, JAMA Neurol 76:161) and -0.6 "
        "points short term over 12 trials (Watson et al. 2019, J Pain 20:1140). Through the "
        "model at its other defaults, two sessions worth about 0.1 of safety each lower pain "
        "by a few tenths of a point (experiments/prior_predictive.py simulates both trials "
        "under all the priors); wide (95% within 0.014-0.71)",
    ),
    "edu_efficacy_log_sd": Prior(
        "lognormal",
        0.7,
        0.5,
        "spec",
        "between-patient spread of education efficacy (log scale). Weakly informative: 95% "
        "within 0.26-1.9, i.e. efficacies 2.4-fold (nearly alike) to 500-fold apart between "
        "the 5th and 95th percentile patients (10-fold at the median)",
    ),
    "exposure_learning": Prior(
        "lognormal",
        0.1,
        1.0,
        "params",
        "safety learned per exposure session per unit expected harm. Weakly informative, on "
        "the education prior's scale (a session of exposure teaches as much as one of "
        "education when the harm expected is 1): exposure changes harm beliefs at least as "
        "much as graded activity (Leeuw et al. 2008, Pain 138:192), no study gives a rate",
    ),
    "threat_midpoint": Prior(
        "truncnormal",
        0.75,
        0.3,
        "params",
        "belief at which threat appraisal is one half. Weakly informative: centred on the "
        "middle of what the appraisal reads (belief 0-1 plus catastrophizing 0-1 at weight "
        "0.5: 0-1.5), truncated to that range",
        lower=0.0,
        upper=1.5,
    ),
    "threat_slope": Prior(
        "lognormal",
        8.0,
        0.6,
        "params",
        "steepness of threat appraisal in belief. Weakly informative: 95% within 2.5 "
        "(threat changes gradually over the whole belief range) and 26 (a near switch)",
    ),
    "reinstatement": Prior(
        "beta",
        1.5,
        15.0,
        "params",
        "share of safety memory lost to a flare read fully as damage. Anchored, roughly, on "
        "relapse after CBT for anxiety disorders, 0-14% of patients at 3-12 months (van Dis "
        "et al. 2020, JAMA Psychiatry 77:265; Levy et al. 2021, J Anxiety Disord: about 14%), "
        "read as a loss of up to 14% of the learned safety in a year (a share of patients "
        "relapsing is not a share of memory lost; the same budget also anchors safety_decay, "
        "so each alone may take all of it): at the default six flares a year and a residual "
        "belief near 0.4 that is 0-0.06 per flare. Wide and right-skewed (95% within "
        "0.007-0.26, median 0.075, mean 0.09)",
    ),
    "safety_decay": Prior(
        "lognormal",
        0.001,
        1.5,
        "params",
        "daily decay of safety memory at full avoidance. Anchored, roughly, on the same "
        "relapse figures (0-14% of patients at 3-12 months after CBT for anxiety disorders; "
        "van Dis et al. 2020), read as a loss of up to 14% of safety in a year at the "
        "avoidance of treated patients (about 0.2): 0-0.002 per day; wide (95% within "
        "5e-5-0.019: half-lives at full avoidance from 5 weeks to 36 years)",
    ),
    "placebo_median": Prior(
        "beta",
        2.0,
        4.0,
        "spec",
        "median open-label placebo expectancy (share of amplified pain removed). Anchored on "
        "open-label placebo in chronic low-back pain against usual care: -1.3 points at 3 "
        "weeks (Carvalho et al. 2016, Pain 157:2766) and d = -0.44, about -0.75 points "
        "(Kleine-Borgmann et al. 2019, Pain 160:2891), of about 2.4 points of amplified pain "
        "in the model's cohort: shares 0.3-0.55; wide (Beta(2, 4): mean 0.33, 95% within "
        "0.05-0.72)",
    ),
    "placebo_duration": Prior(
        "lognormal",
        180.0,
        1.5,
        "params",
        "e-folding time of the placebo expectancy, days. Sources disagree: an uncontrolled "
        "5-year follow-up of the trial of Carvalho et al. 2016 found no change from its end, "
        "a controlled 3-year follow-up of the trial of Kleine-Borgmann et al. 2019 no "
        "difference between groups, and placebo against no treatment in chronic low-back "
        "pain gives SMD -0.37 short term, not significant at medium term (Strijkers et al.); "
        "so wide: 95% within 10 days and the range's 10 years",
    ),
    "pain_mean": Prior(
        "normal",
        3.5,
        1.5,
        "spec",
        "mean steady-state weekly pain, points. Anchored on persistent low-back pain cohorts, "
        "mean 51/100 at entry and 23/100 at one year (Menezes Costa et al. 2012, CMAJ "
        "184:E613; recent-onset cases, who improve more than long-duration ones, so the centre "
        "sits between the two): 95% within 0.5-6.5",
    ),
    "entry_shift": Prior(
        "truncnormal",
        1.0,
        1.0,
        "spec",
        "selection excess at eligibility (regression to the mean), points. Anchored on the "
        "within-arm improvement of trial arms, a standardized mean change of 1.0 at 6 weeks "
        "over 70 trials (Artus et al. 2014, BMC Musculoskelet Disord 15:68), about 1.5 points "
        "at a baseline SD of about 1.5, of which regression to the mean is a part: centred "
        "below it, 95% within 0-3",
        lower=0.0,
        upper=4.0,
    ),
    "self_guided_scale": Prior(
        "lognormal",
        1.0,
        0.75,
        "protocol",
        "multiplier of every arm's self-guided dose (usual care's workbook and website after "
        "post). Centred on the protocols' nominal doses (the trial's protocol descriptions, "
        "not its outcomes); 95% within a quarter and four times them",
    ),
    "fear_rate": Prior(
        "beta",
        1.5,
        10.0,
        "params",
        "daily rate at which fear tracks belief. In daily diaries during exposure, fear of "
        "movement fell in 65% of patients and changed before pain did (Bontinck et al. 2022, "
        "J Clin Med 11:1360), so fear moves on a time scale of days to weeks; wide (95% "
        "within 0.01-0.37 per day: time constants from 3 days to 3 months)",
    ),
    "avoid_rate": Prior(
        "beta",
        1.5,
        15.0,
        "params",
        "daily rate at which avoidance tracks fear. Weakly informative: 95% within "
        "0.007-0.26 per day (time constants from 4 days to 5 months); no study gives a rate",
    ),
    "tsk11_pain_state": Prior(
        "lognormal",
        0.04,
        1.0,
        "params",
        "TSK-11 reading (fraction of range) per point of pain fluctuation. Weakly informative, "
        "the same for the three instruments: 95% within 0.6-28% of the range per point",
    ),
    "pcs_pain_state": Prior(
        "lognormal",
        0.04,
        1.0,
        "params",
        "PCS reading (fraction of range) per point of pain fluctuation. Weakly informative, "
        "the same for the three instruments: 95% within 0.6-28% of the range per point",
    ),
    "odi_pain_state": Prior(
        "lognormal",
        0.04,
        1.0,
        "params",
        "Oswestry reading (fraction of range) per point of pain fluctuation. Weakly "
        "informative, the same for the three instruments: 95% within 0.6-28% of the range "
        "per point",
    ),
}

#: Priors of the parameters a mechanism switches on (:mod:`prt_sim.model.mechanisms`), added to
#: the defaults when a model is fitted under that mechanism. Weakly informative: neither was set
#: with the trial's outcomes in view.
MECHANISM_PRIORS: dict[str, Prior] = {
    "consolidation_rate": Prior(
        "lognormal",
        0.01,
        1.0,
        "params",
        "daily rate at which practised safety memory consolidates; weakly informative, "
        "centred on consolidation over weeks to months (Dudai 2004, Annu Rev Psychol 55:51; "
        "Benna & Fusi 2016, Nat Neurosci 19:1697), 95% within 1.4-70 days^-1 x 10^-3",
    ),
    "fear_threat_weight": Prior(
        "beta",
        2.0,
        2.0,
        "params",
        "share of threat appraisal read from fear of movement; weakly informative on [0, 1]",
    ),
    "course_sd": Prior(
        "lognormal",
        0.3,
        1.2,
        "params",
        "between-patient SD of the level each patient's natural course settles at, logit "
        "units of the damage schema; weakly informative, not set from any outcome: 95% within "
        "0.03 (the schema's odds barely move) and 3.2 (patients a SD apart end with odds "
        "25-fold apart). Until 0.6.0 the spread was of the drift at entry (drift_sd, per "
        "year), a product of this level and the rate, which the first fits pushed against "
        "its bound",
    ),
    "drift_reversion": Prior(
        "lognormal",
        1.0,
        1.0,
        "params",
        "rate at which a patient's natural-course drift levels off, per year (its time "
        "constant is the inverse): centred on levelling within about a year, because changes "
        "in persistent low-back pain come mostly in the first 6-26 weeks and then slow "
        "(Menezes Costa et al. 2012, CMAJ 184:E613; a recent-onset population, so the prior "
        "is wide) and because cohorts' trajectory classes recur 5 years on (Chen et al. 2018, "
        "Pain 159:252); 95% of time constants within 7 weeks and 7 years. Not set from the "
        "HUNT trajectory shares, which stay an out-of-sample check",
    ),
    "contact_effect": Prior(
        "beta",
        2.0,
        8.0,
        "params",
        "share of amplified pain that the expectancy brought by sessions with a clinician "
        "removes; weakly informative, on the scale of a placebo's effect against no treatment "
        "(SMD -0.23 overall, Hrobjartsson & Gotzsche 2010, Cochrane CD003974; -0.37 short "
        "term in chronic low-back pain, Strijkers et al.): about 0.3-0.5 points of a 3-point "
        "amplified pain, a share near 0.1-0.2; median 0.18, 90% within 0.04-0.43",
    ),
    "contact_duration": Prior(
        "lognormal",
        30.0,
        1.0,
        "params",
        "e-folding time of the contact expectancy after sessions stop, days; weakly "
        "informative: non-specific effects fade within months (placebo against no treatment "
        "in chronic low-back pain, significant short term but not medium term, Strijkers et "
        "al.; the post-treatment effects of CBT for back pain gone by 6-12 months, Williams "
        "et al. 2012, Cochrane CD007407); median a month, 95% within 4 and 210 days",
    ),
}


def mechanism_priors(
    mechanism, priors: dict[str, Prior] | None = None, *, level: str = "arm"
) -> dict[str, Prior]:
    """The default priors of a fit under ``mechanism``: :data:`DEFAULT_PRIORS` (plus
    ``pain_sd`` at patient level), without the parameters the mechanism fixes, with
    :data:`MECHANISM_PRIORS` for those it switches on. Given ``priors`` replace the defaults."""
    from ..model.mechanisms import mechanism as _mechanism

    m = _mechanism(mechanism)
    if priors is None:
        priors = dict(DEFAULT_PRIORS)
        if level == "patient":  # per-patient steady pain: its spread is fitted too
            priors["pain_sd"] = PATIENT_PAIN_SD_PRIOR
            # per-patient floors (a random effect) around a fitted population mean
            priors["floor_mean"] = PATIENT_FLOOR_MEAN_PRIOR
            # per-patient rating variability (a random effect) with a fitted spread
            priors["variability_sd"] = PATIENT_VARIABILITY_SD_PRIOR
            # the weekly surveys' mode offset (dropped by TrialModel for data without surveys)
            priors["survey_offset"] = SURVEY_OFFSET_PRIOR
        for name in m.fixed:
            priors.pop(name, None)
        for name in m.free:
            priors.setdefault(name, MECHANISM_PRIORS[name])
    for name in priors:
        if name in m.fixed:
            raise ValidationError(
                f"priors[{name}]",
                priors[name].describe(),
                f"no prior: the {m.name!r} mechanism fixes {name} = {m.fixed[name]:g}",
            )
    return dict(priors)


#: Added to the defaults for patient-level fits, where each patient's steady pain is a random
#: effect and its population spread is identified.
PATIENT_PAIN_SD_PRIOR = Prior(
    "lognormal",
    1.5,
    0.5,
    "spec",
    "between-patient SD of steady-state pain, points. Weakly informative: 95% within "
    "0.56-4.0, from patients a point apart to the whole width of the 0-10 scale",
)

#: Added to the defaults for patient-level fits, where each patient's pain floor (the pain
#: left when threat no longer amplifies it) is a random effect around this population mean.
#: Its between-patient SD stays fixed (``CohortSpec.floor_sd``): only patients who recover
#: show their floor, too few to estimate a spread as well.
PATIENT_FLOOR_MEAN_PRIOR = Prior(
    "lognormal",
    0.4,
    0.75,
    "spec",
    "population mean of the pain floor, points. Weakly informative, centred on the trial's 54 "
    "healthy controls (not randomized, no outcome of any arm): average pain 0.62 at T1, less "
    "the 0.23 points the default flare-ups add to a week's mean = 0.39; 95% within 0.09-1.74",
)

#: Added to the defaults for patient-level fits of data with survey visits (``Visit.mode``):
#: how much higher a survey reads the same week's pain than a visit does.
SURVEY_OFFSET_PRIOR = Prior(
    "normal",
    0.0,
    0.5,
    "params",
    "reported pain at a survey minus a visit's reading of the same 7-day mean, points. Weakly "
    "informative, centred on no difference: 95% within -1 and +1 point, the standard error of "
    "measurement of a pain rating (about 1.0, Spine 2005;30:1331)",
)


#: Added to the defaults for patient-level fits (0.9.0), where each patient's rating
#: variability (the scale of their day-to-day fluctuation and report noise) is a random effect
#: with this between-patient spread.
PATIENT_VARIABILITY_SD_PRIOR = Prior(
    "truncnormal",
    0.0,
    0.5,
    "spec",
    "between-patient SD of the log of each patient's rating variability. Weakly informative: "
    "the within-person SD of momentary pain ratings differs between people and is stable "
    "within a person (Pagé et al. 2022, J Pain 23:1151, 140 chronic low-back pain patients, "
    "mean within-person SD 1.2 points), by how much is not given there; a half-normal of SD "
    "0.5 puts 95% of the spread below 1.0 (patients a SD apart vary e-fold apart), and 0 (all "
    "alike, the model before 0.9.0) at its mode",
    lower=0.0,
    upper=1.5,
)


def _untruncated(pr: Prior, name: str, **kwargs):
    import pymc as pm

    if pr.family == "normal":
        return pm.Normal(name, pr.a, pr.b, **kwargs)
    if pr.family == "lognormal":
        return pm.LogNormal(name, math.log(pr.a), pr.b, **kwargs)
    return pm.Beta(name, pr.a, pr.b, **kwargs)


def prior_table(priors: dict[str, Prior] | None = None) -> list[dict[str, str]]:
    """Rows (name, prior, target, doc) for documentation."""
    priors = DEFAULT_PRIORS if priors is None else priors
    return [
        {"name": k, "prior": p.describe(), "target": p.target, "doc": p.doc}
        for k, p in priors.items()
    ]


def validate_priors(priors: dict[str, Prior]) -> dict[str, Prior]:
    """Check each prior's name against its target; return a copy."""
    import dataclasses

    from ..model.params import ModelParams

    param_fields = {f.name for f in dataclasses.fields(ModelParams)}
    spec_fields = set(FITTABLE_SPEC)
    out = {}
    for name, pr in dict(priors).items():
        if not isinstance(pr, Prior):
            raise ValidationError(f"priors[{name}]", pr, "a prt_sim.inference.Prior")
        ok = (
            (pr.target == "params" and name in param_fields)
            or (pr.target == "spec" and name in spec_fields)
            or (pr.target == "protocol" and name == "self_guided_scale")
        )
        if not ok:
            raise ValidationError(
                f"priors[{name}]",
                pr.target,
                "a ModelParams field (target 'params'), one of the CohortSpec fields "
                f"{list(FITTABLE_SPEC)} (target 'spec') or 'self_guided_scale' ('protocol')",
                "the other CohortSpec fields shape the standardized draws and are fixed",
            )
        out[name] = _bounded(name, pr)
    return out


def _bounded(name: str, pr: Prior) -> Prior:
    """Truncate a prior to its target field's declared range, so that no draw (prior, posterior,
    SBC or SMC) is an invalid parameter value."""
    import dataclasses

    from ..model.cohorts import CohortSpec
    from ..model.params import ModelParams

    if pr.target == "protocol":
        return pr
    cls = ModelParams if pr.target == "params" else CohortSpec
    lo, hi = cls.field_range(name)
    support = {
        "normal": (None, None),
        "truncnormal": (pr.lower, pr.upper),
        "lognormal": (0.0, None),
        "beta": (0.0, 1.0),
    }[pr.family]
    lower, upper = pr.lower, pr.upper
    if lo is not None and (support[0] is None or support[0] < lo):
        lower = lo if lower is None else max(lower, lo)
    if hi is not None and (support[1] is None or support[1] > hi):
        upper = hi if upper is None else min(upper, hi)
    if (lower, upper) == (pr.lower, pr.upper):
        return pr
    return dataclasses.replace(pr, lower=lower, upper=upper)


def check_priors_reach_likelihood(model, priors: dict[str, Prior]) -> None:
    """Refuse a fitted parameter that the model's likelihood does not depend on.

    Such a prior would pass through the fit untouched (posterior = prior) while looking fitted.
    Checked on the built graph: the parameter's value variable must be an ancestor of the
    observed variables' or potentials' log density.

    Raises
    ------
    ValidationError
        Naming the parameter.
    """
    from pytensor.graph.traversal import ancestors

    terms = list(model.observed_RVs) + list(model.potentials)
    reach = set(ancestors([model.logp(vars=terms, sum=True, jacobian=False)]))
    for name in priors:
        rv = model.named_vars[name]
        if model.rvs_to_values[rv] not in reach:
            raise ValidationError(
                f"priors[{name}]",
                priors[name].describe(),
                "a parameter this model's likelihood depends on",
                "it does not enter this model's predictions of the data, so its posterior "
                "would be its prior; fix it instead",
            )
