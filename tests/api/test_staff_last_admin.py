"""The last active admin stays, even when two admins take each other away at the same instant: the check ("is there
another active admin?") and the change are one step, so of two such changes at once exactly one succeeds and the
other is refused with 409 ``last_admin``."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain.errors import AccountRuleViolation
from case_core.models import Staff
from case_core.principals import StaffPrincipal
from case_core.services import accounts
from case_core.services import staff_accounts as svc
from tests.api.test_profile import assert_error, staff_id
from tests.api.test_staff_accounts import ADMIN_URL, NEW_PASSWORD, login, ready_account
from tests.support.api import Api


async def active_admins(api: Api) -> list[str]:
    async with AsyncSession(api.app.state.engine) as session:
        rows = (await session.execute(select(Staff.username, Staff.roles).where(Staff.active.is_(True)))).all()
    return sorted(name for name, roles in rows if "admin" in roles)


async def principal(api: Api, username: str) -> StaffPrincipal:
    async with AsyncSession(api.app.state.engine) as session:
        staff = await session.scalar(select(Staff).where(Staff.username == username))
        assert staff is not None
        return await accounts.staff_principal(session, staff)


async def test_the_second_of_two_admins_removing_each_other_waits_for_the_first_and_is_refused(api: Api) -> None:
    """Step by step, in two transactions as two API workers would run them: the second waits until the first has
    committed, then finds no other active admin. (Without the serialisation it would not wait, and would succeed.)"""
    await ready_account(api, "admin2", ["admin", "leader"])
    assert await active_admins(api) == ["admin", "admin2"]
    first_admin, second_admin = await principal(api, "admin"), await principal(api, "admin2")
    state = api.app.state.weijian
    now = state.clock()
    first, second = state.write_sessions(), state.write_sessions()
    try:
        # The first admin demotes the second: the check has passed and the change is made, not yet committed.
        target = await svc.get_managed(first, first_admin, second_admin.id)
        await svc.update(first, svc.Origin(caller=first_admin), target, roles=["leader"], now=now)

        async def second_disables_the_first() -> None:
            me = await svc.get_managed(second, second_admin, first_admin.id)
            await svc.set_active(second, svc.Origin(caller=second_admin), me, active=False, now=now)

        racing = asyncio.create_task(second_disables_the_first())
        await asyncio.sleep(0.5)
        assert not racing.done(), "the second change must wait for the first transaction"
        await first.commit()
        with pytest.raises(AccountRuleViolation) as refused:
            await racing
        assert refused.value.code == "last_admin"
        await second.rollback()
    finally:
        await first.close()
        await second.close()
    assert await active_admins(api) == ["admin"]


async def test_two_admins_disabling_each_other_at_once_through_the_api_one_succeeds(api: Api) -> None:
    second = await ready_account(api, "admin2", ["admin"])
    first = await api.staff("admin")
    first_id, second_id = await staff_id(api, "admin"), await staff_id(api, "admin2")
    results = await asyncio.gather(
        api.client.post(f"{ADMIN_URL}/{second_id}/disable", headers=first),
        api.client.post(f"{ADMIN_URL}/{first_id}/disable", headers=second),
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    refused = next(r for r in results if r.status_code == 409)
    assert "管理员" in assert_error(refused, 409, "last_admin")["message"]
    survivors = await active_admins(api)
    assert len(survivors) == 1
    # The survivor still manages accounts; the other can no longer log in.
    (survivor,) = survivors
    loser = "admin2" if survivor == "admin" else "admin"
    password = NEW_PASSWORD if loser == "admin2" else "test-Passw0rd"
    assert_error(await login(api, loser, password), 403, "account_disabled")
    token = await api.staff(survivor) if survivor == "admin" else second
    assert (await api.client.get(ADMIN_URL, headers=token)).status_code == 200


async def test_admins_removed_one_after_the_other_leave_the_last_one(api: Api) -> None:
    """Sequentially: with two admins one may be disabled; the one left can be neither disabled nor demoted — here
    by an admin whose account was disabled a moment ago in a transaction of its own (as a worker that has not
    yet heard of it would let them try)."""
    await ready_account(api, "admin2", ["admin"])
    first_admin, second_admin = await principal(api, "admin"), await principal(api, "admin2")
    state = api.app.state.weijian
    async with state.write_sessions() as session, session.begin():
        target = await svc.get_managed(session, first_admin, second_admin.id)
        await svc.set_active(session, svc.Origin(caller=first_admin), target, active=False, now=state.clock())
    for change in ("disable", "demote"):
        async with state.write_sessions() as session, session.begin():
            last = await svc.get_managed(session, second_admin, first_admin.id)
            with pytest.raises(AccountRuleViolation) as refused:
                if change == "disable":
                    await svc.set_active(
                        session, svc.Origin(caller=second_admin), last, active=False, now=state.clock()
                    )
                else:
                    await svc.update(
                        session, svc.Origin(caller=second_admin), last, roles=["leader"], now=state.clock()
                    )
            assert refused.value.code == "last_admin"
    assert await active_admins(api) == ["admin"]
