"""Working days on China's holiday calendar (services/data/holidays_cn.json, data).

Monday to Friday are working days unless the State Council's arrangement gives them off;
weekend days it makes working days (调休上班) count. Outside the years the calendar holds,
only weekends are days off, and `covered()` says so, so a deadline computed beyond the data is
never silently treated as exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

CALENDAR_FILE = Path(__file__).resolve().parent / "data" / "holidays_cn.json"


@dataclass(frozen=True)
class Calendar:
    days_off: frozenset[date]
    extra_working_days: frozenset[date]
    years: frozenset[int]
    provisional_years: frozenset[int]

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        return day.weekday() < 5 and day not in self.days_off

    def add_working_days(self, start: date, count: int) -> date:
        """The `count`-th working day after `start` (start itself not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day, left = start, count
        while left:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def covered(self, start: date, end: date) -> bool:
        """Whether every year from `start` to `end` is in the calendar, not provisionally."""
        needed = set(range(start.year, end.year + 1))
        return needed <= (self.years - self.provisional_years)


def parse(data: dict) -> Calendar:
    off, extra, years, provisional = set(), set(), set(), set()
    for year, entry in data["years"].items():
        years.add(int(year))
        if entry.get("provisional"):
            provisional.add(int(year))
        off.update(date.fromisoformat(d) for d in entry.get("days_off", []))
        extra.update(date.fromisoformat(d) for d in entry.get("extra_working_days", []))
    if off & extra:
        raise ValueError(f"days both off and working: {sorted(off & extra)}")
    return Calendar(frozenset(off), frozenset(extra), frozenset(years), frozenset(provisional))


@cache
def calendar() -> Calendar:
    return parse(json.loads(CALENDAR_FILE.read_text(encoding="utf-8")))


def add_working_days(start: date, count: int) -> date:
    return calendar().add_working_days(start, count)
