"""`weijian staff …` from the console: the first admin of an installation, and an operator's reset, unlock and
disable without the API — audited as the operator, noticed by a running API at once over Redis (at its next
re-read without)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys

import pytest

from case_core.settings import Settings
from mobile_api import staff_cli
from tests.api.test_profile import assert_error
from tests.api.test_staff_accounts import NEW_PASSWORD, audit, bearer, change_password, lock_out, login
from tests.api.test_staff_revocation import seconds_until_refused
from tests.support.api import Api


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="weijian")
    staff_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def weijian_staff(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = await asyncio.to_thread(staff_cli.run, parse("staff", *argv), settings)  # it runs its own event loop
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_the_first_admin_is_created_from_the_console_and_logs_in(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = await weijian_staff(
        settings, capsys, monkeypatch,
        "create", "chief", "--name", "主任", "--department", "440000", "--role", "admin", "--role", "pii_reader",
    )  # fmt: skip
    assert code == 0, err
    account, shown = out.splitlines()
    made = json.loads(account)
    assert made["roles"] == ["admin", "pii_reader"] and made["must_change_password"] is True
    password = shown.removeprefix("password: ")
    assert "shown only now" in err
    pending = bearer(await login(api, "chief", password))
    fresh = bearer(await change_password(api, pending, password, NEW_PASSWORD))
    assert (await api.client.get("/api/v1/admin/staff", headers=fresh)).status_code == 200
    entry = (await audit(api, "staff.create"))[0]
    assert entry.actor_type == "operator" and entry.actor_id is None and entry.detail is not None
    assert entry.detail["via"] == "cli" and "@" in entry.detail["operator"]
    assert password not in str(entry.detail)


async def test_a_password_from_stdin_meets_the_policy_and_an_unknown_department_is_refused(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("create", "ops", "--name", "运维", "--department", "440000", "--role", "admin", "--password-stdin")
    code, _, err = await weijian_staff(settings, capsys, monkeypatch, *args, stdin="weak\n")
    assert code == 1 and err.startswith("password_too_short:")
    code, out, _ = await weijian_staff(
        settings, capsys, monkeypatch, *args, "--no-change-required", stdin="Yunwei-2026!\n"
    )
    assert code == 0 and "password:" not in out and json.loads(out)["must_change_password"] is False
    assert (await login(api, "ops", "Yunwei-2026!")).json()["must_change_password"] is False
    code, _, err = await weijian_staff(
        settings, capsys, monkeypatch, "create", "x1", "--name", "某", "--department", "火星卫健委", "--role", "admin"
    )
    assert code == 2 and "no department" in err and "广东省卫生健康委员会" in err


async def test_an_operator_disables_resets_and_unlocks_and_a_running_api_notices(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = api.app.state.weijian
    create = ("create", "duty", "--name", "值班员", "--department", "440000", "--role", "acceptor")
    await weijian_staff(
        settings, capsys, monkeypatch, *create, "--password-stdin", "--no-change-required", stdin=f"{NEW_PASSWORD}\n"
    )
    before = bearer(await login(api, "duty", NEW_PASSWORD))
    await state.push.start()
    # The console runs with the deployment's settings: the API's Redis and push channel.
    assert (await weijian_staff(state.settings, capsys, monkeypatch, "disable", "duty"))[0] == 0
    if settings.redis_url:
        # Another process made the change and published it: this one hears it at once.
        await seconds_until_refused(api.client, before)  # no re-read runs here: only the message can do it
    else:
        # Without Redis this one learns it at its next re-read, not before.
        assert (await api.client.get("/api/v1/staff/me", headers=before)).status_code == 200
        await state.tokens.sessions.refresh(state.read_sessions)
        assert_error(await api.client.get("/api/v1/staff/me", headers=before), 401, "session_revoked")
    assert_error(await login(api, "duty", NEW_PASSWORD), 403, "account_disabled")
    assert (await weijian_staff(settings, capsys, monkeypatch, "enable", "duty"))[0] == 0

    await lock_out(api, "duty")
    assert_error(await login(api, "duty", NEW_PASSWORD), 429, "too_many_requests")
    assert (await weijian_staff(settings, capsys, monkeypatch, "unlock", "duty"))[0] == 0
    assert (await login(api, "duty", NEW_PASSWORD)).status_code == 200

    code, out, _ = await weijian_staff(settings, capsys, monkeypatch, "reset-password", "duty")
    temporary = out.splitlines()[1].removeprefix("password: ")
    assert (await login(api, "duty", temporary)).json()["must_change_password"] is True
    actions = [(e.action, e.actor_type) for e in await audit(api, "staff.")]
    assert actions == [
        ("staff.create", "operator"),
        ("staff.disable", "operator"),
        ("staff.enable", "operator"),
        ("staff.unlock", "operator"),
        ("staff.password.reset", "operator"),
    ]
    code, _, err = await weijian_staff(settings, capsys, monkeypatch, "unlock", "nosuchuser")
    assert code == 1 and err.startswith("not_found:")


async def test_the_console_will_not_disable_or_demote_the_last_admin(
    api: Api, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = await weijian_staff(settings, capsys, monkeypatch, "disable", "admin")
    assert code == 1 and err.startswith("last_admin:")
    assert (await api.client.get("/api/v1/admin/roles", headers=await api.staff("admin"))).status_code == 200
