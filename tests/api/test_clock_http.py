"""The working-day clock seen through the API: deadlines over 国庆 2025, a suspension across the holiday, lights,
a year the calendar does not know, and an operator publishing that year."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tests.support.api import Api


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)  # hour in China time


class Clock:
    def __init__(self, api: Api) -> None:
        self.now = at(date(2025, 9, 26))
        api.app.state.weijian.clock = lambda: self.now  # type: ignore[attr-defined]


async def accepted_case(api: Api, clock: Clock, day: date) -> dict:
    clock.now = at(day)
    case = await api.submitted_case(await api.applicant("alice"))
    return await api.act_ok("shouli", case["id"], "accept")


async def test_deadline_skips_the_national_day_holiday_and_counts_make_up_days(api: Api) -> None:
    clock = Clock(api)
    # Accepted Friday 26 Sep 2025; 5 working days: Sun 28 (调休), Mon 29, Tue 30, Thu 9 Oct, Fri 10 Oct.
    case = await accepted_case(api, clock, date(2025, 9, 26))
    assert case["deadline"]["due_date"] == "2025-10-10"
    assert case["deadline"]["provisional"] is False


async def test_a_suspension_across_the_holiday_moves_the_deadline(api: Api) -> None:
    clock = Clock(api)
    case = await accepted_case(api, clock, date(2025, 9, 26))
    clock.now = at(date(2025, 9, 29))
    suspended = await api.act_ok("shenhe", case["id"], "suspend", reason="现场核查")
    assert suspended["status"] == "suspended" and suspended["deadline"]["paused"] is True
    clock.now = at(date(2025, 10, 9))
    resumed = await api.act_ok("shenhe", case["id"], "resume")
    # Counted: 28 Sep, 29 Sep (suspension day counts); 30 Sep–9 Oct stood still; then 10, 11 (调休), 13 Oct.
    assert resumed["deadline"]["due_date"] == "2025-10-13"
    assert resumed["deadline"]["paused"] is False


async def test_an_extension_adds_working_days_up_to_the_legal_limit(api: Api) -> None:
    clock = Clock(api)
    case = await accepted_case(api, clock, date(2025, 9, 26))
    extended = await api.act_ok("shenhe", case["id"], "extend", days=2, reason="需补充核查")
    assert extended["deadline"]["due_date"] == "2025-10-13"  # 10 Oct, then two more: Sat 11 (调休), Mon 13
    r = await api.act("shenhe", case["id"], "extend", days=14, reason="再延")  # 5 + 2 + 14 > 20 legal days
    assert r.status_code == 422 and r.json()["error"]["code"] == "beyond_legal_limit"


async def test_lights_turn_yellow_near_the_limit_and_red_after_it(api: Api) -> None:
    clock = Clock(api)
    case = await accepted_case(api, clock, date(2025, 9, 26))  # due 10 Oct
    alice = await api.applicant("alice")
    lights = {}
    for day in (date(2025, 9, 29), date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 13)):
        clock.now = at(day)
        lights[day.isoformat()] = (await api.detail(alice, case["id"]))["deadline"]["light"]
    assert lights == {"2025-09-29": "green", "2025-10-09": "yellow", "2025-10-10": "yellow", "2025-10-13": "red"}
    clock.now = at(date(2025, 10, 13))
    clerk = await api.staff("shenhe")
    red = (await api.client.get("/api/v1/staff/tasks?view=todo&light=red", headers=clerk)).json()["items"]
    green = (await api.client.get("/api/v1/staff/tasks?view=todo&light=green", headers=clerk)).json()["items"]
    assert [c["id"] for c in red] == [case["id"]] and green == []
    summary = (await api.client.get("/api/v1/staff/tasks/summary", headers=clerk)).json()
    assert summary["todo"] == 1 and summary["todo_red"] == 1


async def test_an_unknown_year_counts_weekdays_and_is_marked_provisional_until_published(api: Api) -> None:
    clock = Clock(api)
    # Accepted Mon 28 Dec 2026: 29, 30, 31 Dec, then 2027 which chinesecalendar does not know (Fri 1 Jan counted).
    case = await accepted_case(api, clock, date(2026, 12, 28))
    assert case["deadline"] == {**case["deadline"], "due_date": "2027-01-04", "provisional": True}
    admin = await api.staff("admin")
    r = await api.client.put(
        "/api/v1/admin/calendar/2027", headers=admin, json={"holidays": ["2027-01-01"], "workdays": []}
    )
    assert r.status_code == 200 and r.json()["recomputed_cases"] == 1
    detail = await api.detail(await api.applicant("alice"), case["id"])
    assert detail["deadline"]["due_date"] == "2027-01-05" and detail["deadline"]["provisional"] is False
    r = await api.client.put("/api/v1/admin/calendar/2027", headers=await api.staff("shouli"), json={"holidays": []})
    assert r.status_code == 403
