"""The working-day clock: deadlines on the official Chinese calendar (chinesecalendar data), pauses, lights."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from case_core.domain.clock import (
    Deadline,
    Light,
    Pause,
    WorkCalendar,
    compute_deadline,
    light_for,
    working_days_between,
)

KNOWN_YEARS = {2024, 2025, 2026}


def china_calendar() -> WorkCalendar:
    """Overrides for every day of 2024–2026 on which the State Council calendar differs from Monday–Friday."""
    overrides, day = {}, date(2024, 1, 1)
    while day.year in KNOWN_YEARS:
        workday = chinese_calendar.is_workday(day)
        if workday != (day.weekday() < 5):
            overrides[day] = workday
        day += timedelta(days=1)
    return WorkCalendar(overrides=overrides, known_years=frozenset(KNOWN_YEARS))


CAL = china_calendar()
D = date


# ---------------------------------------------------------------------------------------------------- the calendar
@pytest.mark.parametrize(
    ("day", "workday", "holiday_name"),
    [
        (D(2025, 9, 28), True, "National Day"),  # a Sunday worked in exchange for the 国庆 holiday
        (D(2025, 10, 1), False, "National Day"),
        (D(2025, 10, 8), False, "National Day"),
        (D(2025, 10, 9), True, None),
        (D(2025, 10, 11), True, "National Day"),  # make-up Saturday
        (D(2026, 2, 14), True, "Spring Festival"),  # make-up Saturday
        (D(2026, 2, 15), False, "Spring Festival"),
        (D(2026, 2, 23), False, "Spring Festival"),
        (D(2026, 2, 24), True, None),
        (D(2026, 2, 28), True, "Spring Festival"),  # make-up Saturday
    ],
)
def test_calendar_follows_chinesecalendar(day, workday, holiday_name):
    is_holiday, name = chinese_calendar.get_holiday_detail(day)
    assert (is_holiday, name) == (not workday, holiday_name)  # the source data, as the cases below assume
    assert CAL.is_workday(day) is workday


def test_national_day_2025_runs_october_first_to_eighth():
    assert [d.day for d in (D(2025, 9, 27) + timedelta(days=i) for i in range(16)) if not CAL.is_workday(d)] == [
        27,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        12,
    ]


def test_unknown_year_falls_back_to_weekdays():
    assert CAL.is_workday(D(2027, 1, 1)) and not CAL.is_workday(D(2027, 1, 2))  # a Friday, a Saturday
    assert not CAL.knows(D(2027, 1, 1)) and CAL.knows(D(2026, 12, 31))


# ---------------------------------------------------------------------------------------------------- deadlines
@pytest.mark.parametrize(
    ("accepted", "days", "due", "provisional"),
    [
        pytest.param(D(2025, 3, 6), 5, D(2025, 3, 13), False, id="five days over a weekend"),
        pytest.param(D(2025, 3, 7), 1, D(2025, 3, 10), False, id="accepted on a Friday"),
        pytest.param(D(2025, 3, 8), 1, D(2025, 3, 10), False, id="accepted on a Saturday"),
        pytest.param(D(2025, 9, 25), 5, D(2025, 10, 9), False, id="across national day, make-up Sunday counts"),
        pytest.param(D(2025, 9, 30), 3, D(2025, 10, 11), False, id="ends on national day make-up Saturday"),
        pytest.param(D(2025, 10, 2), 1, D(2025, 10, 9), False, id="accepted on a holiday"),
        pytest.param(D(2026, 2, 13), 3, D(2026, 2, 25), False, id="across spring festival 2026"),
        pytest.param(D(2026, 2, 11), 5, D(2026, 2, 25), False, id="spring festival with make-up Saturday"),
        pytest.param(D(2026, 2, 26), 2, D(2026, 2, 28), False, id="ends on make-up Saturday after festival"),
        pytest.param(D(2025, 1, 2), 20, D(2025, 2, 6), False, id="twenty days across spring festival 2025"),
        pytest.param(D(2027, 3, 3), 5, D(2027, 3, 10), True, id="unknown year counts weekdays"),
        pytest.param(D(2026, 12, 29), 2, D(2026, 12, 31), False, id="ends on last known day"),
        pytest.param(D(2026, 12, 30), 3, D(2027, 1, 4), True, id="crosses into unknown 2027"),
        pytest.param(D(2025, 3, 7), 0, D(2025, 3, 7), False, id="zero days"),
        pytest.param(D(2027, 3, 3), 0, D(2027, 3, 3), True, id="zero days in unknown year"),
    ],
)
def test_deadline(accepted, days, due, provisional):
    assert compute_deadline(CAL, accepted, days) == Deadline(due=due, provisional=provisional, paused=False)


def test_weekdays_only_calendar_is_always_provisional():
    deadline = compute_deadline(WorkCalendar.weekdays_only(), D(2025, 9, 30), 1)
    assert deadline == Deadline(due=D(2025, 10, 1), provisional=True, paused=False)


@pytest.mark.parametrize(
    ("accepted", "days", "pauses", "due"),
    [
        # Suspended Mon 29 Sept, resumed Fri 10 Oct: 30 Sept and 9–10 Oct are not counted; the holiday in
        # between changes nothing; the pause day itself (29th) counts, the resume day (10th) does not.
        pytest.param(
            D(2025, 9, 25),
            5,
            [Pause(D(2025, 9, 29), D(2025, 10, 10))],
            D(2025, 10, 13),
            id="suspension across national day",
        ),
        pytest.param(
            D(2025, 9, 25),
            5,
            [Pause(D(2025, 10, 2), D(2025, 10, 7))],
            D(2025, 10, 9),
            id="suspension entirely inside the holiday costs nothing",
        ),
        pytest.param(
            D(2025, 3, 3),
            5,
            [Pause(D(2025, 3, 4), D(2025, 3, 6)), Pause(D(2025, 3, 10), D(2025, 3, 11))],
            D(2025, 3, 13),
            id="two pauses",
        ),
        pytest.param(
            D(2025, 3, 3),
            5,
            [Pause(D(2025, 3, 4), D(2025, 3, 4))],
            D(2025, 3, 10),
            id="pause resumed the same day costs nothing",
        ),
        pytest.param(
            D(2025, 3, 3),
            2,
            [Pause(D(2025, 3, 10), D(2025, 3, 12))],
            D(2025, 3, 5),
            id="pause after the deadline changes nothing",
        ),
    ],
)
def test_deadline_with_closed_pauses(accepted, days, pauses, due):
    assert compute_deadline(CAL, accepted, days, pauses) == Deadline(due=due, provisional=False, paused=False)


@pytest.mark.parametrize(
    ("today", "due"),
    [
        (D(2025, 3, 5), D(2025, 3, 10)),  # paused today: nothing lost yet
        (D(2025, 3, 7), D(2025, 3, 12)),  # Thu 6 and Fri 7 lost
        (D(2025, 3, 10), D(2025, 3, 13)),  # ... and Mon 10
        (D(2025, 3, 2), D(2025, 3, 10)),  # a today before the pause start moves nothing
    ],
)
def test_open_pause_shifts_deadline_with_today(today, due):
    deadline = compute_deadline(CAL, D(2025, 3, 3), 5, [Pause(D(2025, 3, 5))], today=today)
    assert deadline == Deadline(due=due, provisional=False, paused=True)


def test_open_pause_combines_with_closed_pause():
    pauses = [Pause(D(2025, 3, 4), D(2025, 3, 5)), Pause(D(2025, 3, 10))]
    # counted: Tue 4, Thu 6, Fri 7, Mon 10, then paused until today (Wed 12), then Thu 13
    assert compute_deadline(CAL, D(2025, 3, 3), 5, pauses, today=D(2025, 3, 12)).due == D(2025, 3, 13)


# ---------------------------------------------------------------------------------------------------- lights
DUE = Deadline(due=D(2025, 3, 12), provisional=False, paused=False)  # a Wednesday


@pytest.mark.parametrize(
    ("now", "yellow_days", "light", "left"),
    [
        (D(2025, 3, 3), 2, Light.GREEN, 7),
        (D(2025, 3, 10), 2, Light.GREEN, 2),
        (D(2025, 3, 10), 3, Light.YELLOW, 2),  # threshold is configurable
        (D(2025, 3, 11), 2, Light.YELLOW, 1),
        (datetime(2025, 3, 11, 17, 30), 2, Light.YELLOW, 1),
        (D(2025, 3, 12), 2, Light.YELLOW, 0),  # the due day itself is not yet overdue
        (D(2025, 3, 12), 0, Light.GREEN, 0),  # no yellow at all when the threshold is 0
        (D(2025, 3, 13), 2, Light.RED, -1),
        (datetime(2025, 3, 17, 9, 0), 2, Light.RED, -3),
    ],
)
def test_light(now, yellow_days, light, left):
    assert light_for(CAL, DUE, now, yellow_days=yellow_days) == (light, left)


def test_red_days_skip_holidays():
    due = Deadline(due=D(2025, 9, 30), provisional=False, paused=False)
    assert light_for(CAL, due, D(2025, 10, 9)) == (Light.RED, -1)


def test_green_days_skip_holidays():
    due = Deadline(due=D(2025, 10, 10), provisional=False, paused=False)
    assert light_for(CAL, due, D(2025, 9, 29)) == (Light.GREEN, 3)


# ---------------------------------------------------------------------------------------------------- between
@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (D(2025, 3, 7), D(2025, 3, 10), 1),  # Fri → Mon
        (D(2025, 3, 3), D(2025, 3, 3), 0),
        (D(2025, 9, 30), D(2025, 10, 9), 1),
        (D(2025, 9, 26), D(2025, 10, 11), 6),  # 28, 29, 30 Sept; 9, 10, 11 Oct
        (D(2026, 2, 13), D(2026, 2, 28), 6),  # 14; 24, 25, 26, 27, 28 Feb
        (D(2026, 12, 30), D(2027, 1, 4), 3),  # 31 Dec; Fri 1 and Mon 4 Jan 2027 (weekdays, unknown year)
    ],
)
def test_working_days_between_is_antisymmetric(start, end, days):
    assert working_days_between(CAL, start, end) == days
    assert working_days_between(CAL, end, start) == -days


def test_an_open_pause_without_today_is_refused_rather_than_counted_forever():
    with pytest.raises(ValueError):
        compute_deadline(WorkCalendar.weekdays_only(), date(2025, 3, 3), 5, [Pause(date(2025, 3, 4))])


def test_counting_working_days_by_arithmetic_matches_counting_day_by_day():
    import random

    def by_day(start: date, end: date) -> int:
        return sum(1 for i in range(1, (end - start).days + 1) if CAL.is_workday(start + timedelta(days=i)))

    rng = random.Random(11)
    for _ in range(2000):
        start = date(2023, 11, 1) + timedelta(days=rng.randrange(1300))
        end = start + timedelta(days=rng.randrange(-500, 500))
        expected = by_day(start, end) if end >= start else -by_day(end, start)
        assert working_days_between(CAL, start, end) == expected, (start, end)
