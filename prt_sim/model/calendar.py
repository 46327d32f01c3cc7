"""The trial's calendar, written once: visit days, session days, the recall window, the month.

Study day 0 is the trial's pretreatment session (T1). Protocols, visit schedules, the data
loaders, the skeleton's grid and the forecasts all take their days from here.
"""

from __future__ import annotations

__all__ = [
    "RECALL_DAYS",
    "DAYS_PER_MONTH",
    "ELIGIBILITY_DAY",
    "POST_DAY",
    "FOLLOW_UP_MONTHS",
    "PRT_SESSION_DAYS",
    "month_day",
]

#: Days covered by a "pain in the last week" report, ending on the visit day.
RECALL_DAYS = 7
#: Mean Gregorian month length, for "N months after post".
DAYS_PER_MONTH = 30.4375
#: Study day of the eligibility visit.
ELIGIBILITY_DAY = -10
#: Study day of the post-treatment visit (T2): time 0 of follow-ups and forecasts.
POST_DAY = 30
#: The trial's follow-up visits, in months after post.
FOLLOW_UP_MONTHS = (1, 2, 3, 6, 12)
#: Study days of the PRT trial arm: one physician session, then 8 therapy sessions twice weekly.
PRT_SESSION_DAYS = (1, 4, 7, 11, 14, 18, 21, 25, 28)


def month_day(months: float, post_day: int = POST_DAY) -> int:
    """Study day ``months`` (mean Gregorian months) after the post-treatment visit."""
    return post_day + int(round(months * DAYS_PER_MONTH))
