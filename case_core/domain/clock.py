"""The working-day clock: calendars, deadlines and the green / yellow / red light.

Conventions (also in docs/architecture.md):
- The day of acceptance does not count; the clock starts the next working day.
- A pause (挂起, or a step that does not count toward the limit) that starts on day S and ends on day E stops
  the clock for the working days S < d <= E: the day of the pause counts, the day of the resume does not
  (it restarts the clock like an acceptance). A pause still open stops every day after S.
- The deadline is the end of the N-th counted working day, N = promised limit + extensions.
- A year the calendar does not know is counted Monday to Friday and the result is marked provisional.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True)
class WorkCalendar:
    """Working days: weekdays, except the listed holidays, plus the listed make-up working days (调休)."""

    overrides: Mapping[date, bool]  # date -> is_workday, where it differs from Monday..Friday
    known_years: frozenset[int]

    @classmethod
    def weekdays_only(cls) -> WorkCalendar:
        return cls(overrides={}, known_years=frozenset())

    def is_workday(self, day: date) -> bool:
        override = self.overrides.get(day)
        if override is not None:
            return override
        return day.weekday() < 5

    def knows(self, day: date) -> bool:
        return day.year in self.known_years

    @cached_property
    def _adjustments(self) -> tuple[list[int], list[int]]:
        """Sorted override ordinals and the running sum of how each changes the Monday–Friday count."""
        ordinals, running, total = [], [], 0
        for day in sorted(self.overrides):
            weekday_rule = day.weekday() < 5
            if self.overrides[day] != weekday_rule:
                total += 1 if self.overrides[day] else -1
                ordinals.append(day.toordinal())
                running.append(total)
        return ordinals, running

    def count_workdays(self, start: date, end: date) -> int:
        """Working days d with start < d <= end, in O(log n): weekdays by arithmetic, then the overrides."""
        if end <= start:
            return 0
        ordinals, running = self._adjustments

        def adjust_upto(ordinal: int) -> int:
            i = bisect_right(ordinals, ordinal)
            return running[i - 1] if i else 0

        return (
            _weekdays_upto(end) - _weekdays_upto(start) + adjust_upto(end.toordinal()) - adjust_upto(start.toordinal())
        )


def _weekdays_upto(day: date) -> int:
    """Monday–Friday days from a fixed origin up to and including ``day`` (ordinal 1 is a Monday)."""
    weeks, rest = divmod(day.toordinal() - 1, 7)
    return weeks * 5 + min(rest + 1, 5)


@dataclass(frozen=True)
class Pause:
    start: date
    end: date | None = None  # None: still paused

    def covers(self, day: date) -> bool:
        return self.start < day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Deadline:
    due: date
    provisional: bool  # some counted day fell in a year the calendar does not know
    paused: bool  # the clock stands still now; ``due`` assumes it restarts today


def _counted_days(calendar: WorkCalendar, start: date, pauses: Iterable[Pause]) -> Iterable[tuple[date, bool]]:
    """Yield (day, known) for each counted working day after ``start``, forever."""
    pauses = tuple(pauses)
    day = start
    while True:
        day += timedelta(days=1)
        if calendar.is_workday(day) and not any(p.covers(day) for p in pauses):
            yield day, calendar.knows(day)


def compute_deadline(
    calendar: WorkCalendar,
    accepted_on: date,
    working_days: int,
    pauses: Iterable[Pause] = (),
    today: date | None = None,
) -> Deadline:
    """Deadline of a case accepted on ``accepted_on`` with ``working_days`` to finish (limit + extensions)."""
    pauses = list(pauses)
    open_pause = next((p for p in pauses if p.end is None), None)
    if open_pause is not None and today is None:
        raise ValueError("a deadline with an open pause needs today's date")
    if open_pause is not None and today is not None:
        # While paused, show the deadline as if the clock restarted today.
        pauses = [p for p in pauses if p is not open_pause] + [Pause(open_pause.start, max(today, open_pause.start))]
    provisional = False
    due = accepted_on
    if working_days > 0:
        for n, (day, known) in enumerate(_counted_days(calendar, accepted_on, pauses), start=1):
            provisional = provisional or not known
            if n >= working_days:
                due = day
                break
    else:
        provisional = not calendar.knows(accepted_on)
    return Deadline(due=due, provisional=provisional, paused=open_pause is not None)


def working_days_between(calendar: WorkCalendar, start: date, end: date) -> int:
    """Working days d with start < d <= end (negative when end is before start)."""
    if end < start:
        return -calendar.count_workdays(end, start)
    return calendar.count_workdays(start, end)


def light_for(
    calendar: WorkCalendar, deadline: Deadline, now: datetime | date, yellow_days: int = 2
) -> tuple[Light, int]:
    """The light and the working days left (negative when overdue) at ``now``."""
    today = now.date() if isinstance(now, datetime) else now
    if today > deadline.due:
        return Light.RED, -working_days_between(calendar, deadline.due, today)
    left = working_days_between(calendar, today, deadline.due)
    return (Light.YELLOW if left < yellow_days else Light.GREEN), left
