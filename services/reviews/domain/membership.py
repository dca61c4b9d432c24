"""Which projects a yearly review cycle covers. Pure: no I/O.

A project is under review in year Y when its fixed service period (定服务期) overlaps Y:
the period runs from its start date for `months` calendar months, the end being the first
day after it (a 12-month period from 2019-06-01 ends before 2020-06-01; from 2019-01-31, one
month ends before 2019-02-28, the day clamped to the month). Dates and year boundaries are
Chongqing calendar dates (shared.clock.PROGRAMME_TZ).
"""

from __future__ import annotations

import calendar
from datetime import date

from shared.contract.events.orders import ServicePeriod


def service_end(period: ServicePeriod) -> date:
    """The first day after the service period."""
    return months_after(period.start, period.months)


def months_after(start: date, months: int) -> date:
    """`start` plus whole calendar months, the day clamped to the month (2019-01-31 + 1 = 2019-02-28)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def in_service_during(period: ServicePeriod, year: int) -> bool:
    """The period shares at least one day with the calendar year."""
    return period.start < date(year + 1, 1, 1) and service_end(period) > date(year, 1, 1)
