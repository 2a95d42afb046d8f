"""The task summary counts every tab of the staff task view: 待办 (with its lights), 已办 and 办结."""

from __future__ import annotations

from tests.support.api import Api


async def test_summary_counts_todo_done_and_finished_for_the_caller(api: Api) -> None:
    alice = await api.applicant("alice")
    a = await api.submitted_case(alice)
    b = await api.submitted_case(alice)
    await api.submitted_case(alice)
    await api.act_ok("shouli", a["id"], "accept")
    await api.act_ok("shouli", b["id"], "not_accept", reason="不符合条件")

    async def summary(who: str) -> dict[str, int]:
        r = await api.client.get("/api/v1/staff/tasks/summary", headers=await api.staff(who))
        assert r.status_code == 200, r.text
        return r.json()

    clerk = await summary("shouli")
    assert (clerk["todo"], clerk["done"], clerk["finished"]) == (1, 1, 1)
    reviewer = await summary("shenhe")
    assert (reviewer["todo"], reviewer["done"], reviewer["finished"]) == (1, 0, 1)
    assert reviewer["todo_green"] + reviewer["todo_yellow"] + reviewer["todo_red"] == 1
    # Each count is the length of the list it labels.
    for view in ("todo", "done", "finished"):
        r = await api.client.get(f"/api/v1/staff/tasks?view={view}", headers=await api.staff("shouli"))
        assert len(r.json()["items"]) == clerk[view]
