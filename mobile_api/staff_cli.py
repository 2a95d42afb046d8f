"""`weijian staff create|reset-password|unlock|disable|enable|list`: staff accounts from the console, for the first
admin of a new installation and for operators without the API.

The rules are the API's (``case_core.services.staff_accounts``) without the department scope: whoever runs this
holds the database. Passwords never come from the command line (it shows in ``ps`` and the shell's history):
``--password-stdin`` reads one line, otherwise one is generated and printed once. Every change is audited as
``actor_type="operator"`` with ``via: cli`` and the OS user and host. When a change revokes the account's tokens
(disable, reset) and Redis is configured, it is published on the API's push channel and every API process refuses
the old tokens at once; otherwise (or if Redis is unreachable) they notice within
``WEIJIAN_STAFF_SESSIONS_REFRESH_SECONDS``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import socket
import sys
from typing import Any

import redis
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_core import catalogue
from case_core.db import make_engine, make_sessionmaker, sqlite_write_transactions
from case_core.domain.errors import CaseError
from case_core.domain.passwords import PasswordPolicy
from case_core.models import Department, Staff
from case_core.services import staff_accounts as svc
from case_core.settings import Settings
from case_core.timeutil import utcnow
from mobile_api import push, staff_sessions

log = logging.getLogger("weijian.staff_cli")


class CliError(Exception):
    """A mistake on the command line (an unknown department, passwords that differ): the message says what."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("staff", help="staff accounts: create, reset-password, unlock, disable, enable, list")
    cmds = p.add_subparsers(dest="staff_command", required=True)
    c = cmds.add_parser("create", help="create a staff account (e.g. the first admin)")
    c.add_argument("username")
    c.add_argument("--name", required=True, help="the person's name")
    c.add_argument("--department", required=True, help="department name or code (e.g. 440000)")
    c.add_argument("--role", action="append", required=True, help="a role (repeat for several), e.g. admin")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.add_argument("--new-department", action="store_true", help="create the department if there is none of that name")
    c.add_argument(
        "--no-change-required",
        action="store_true",
        help="do not ask for a new password at first login (the operator is the account's owner)",
    )
    r = cmds.add_parser("reset-password", help="set a temporary password, to be changed at next login")
    r.add_argument("username")
    r.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for name, text in (
        ("unlock", "lift a lockout after repeated wrong passwords"),
        ("disable", "disable an account (no login, its tokens stop working)"),
        ("enable", "enable a disabled account"),
    ):
        cmds.add_parser(name, help=text).add_argument("username")
    cmds.add_parser("list", help="list the accounts (JSON lines)")


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise CliError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _department(session: AsyncSession, text: str, create: bool) -> Department:
    dept = await session.scalar(select(Department).where(or_(Department.name == text, Department.code == text)))
    if dept is not None:
        return dept
    if create:
        return await catalogue.ensure_department(session, text)
    known = (await session.scalars(select(Department.name).order_by(Department.path))).all()
    raise CliError(f"no department {text!r} (known: {', '.join(known) or 'none'}); --new-department creates it")


def _account(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "name": staff.name,
        "department_id": staff.department_id,
        "roles": staff.roles,
        "active": staff.active,
        "must_change_password": staff.must_change_password,
        "locked_until": staff.locked_until.isoformat() if staff.locked_until else None,
    }


async def _run(args: argparse.Namespace, settings: Settings, password: str | None) -> dict[str, Any]:
    engine = make_engine(settings.resolved_database_url)
    if engine.dialect.name == "sqlite":
        sqlite_write_transactions(engine)
    try:
        async with make_sessionmaker(engine.execution_options(sqlite_immediate=True))() as session, session.begin():
            policy = PasswordPolicy(settings.password_min_length, settings.password_min_classes)
            result, revoked = await _command(session, args, password, policy)
    finally:
        await engine.dispose()
    if revoked is not None:  # committed: the API may hear of it now
        _announce(settings, *revoked)
    return result


async def _command(
    session: AsyncSession, args: argparse.Namespace, password: str | None, policy: PasswordPolicy
) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """The command's output, and the account and new token version when it revoked the account's tokens."""
    origin = svc.Origin(caller=None, console=f"{getpass.getuser()}@{socket.gethostname()}")
    now = utcnow()
    cmd = args.staff_command
    if cmd == "list":
        rows = (await session.scalars(select(Staff).order_by(Staff.id))).all()
        return {"items": [_account(s) for s in rows]}, None
    if cmd == "create":
        dept = await _department(session, args.department, args.new_department)
        staff, generated = await svc.create(
            session,
            origin,
            username=args.username,
            name=args.name,
            department_id=dept.id,
            roles=args.role,
            password=password,
            policy=policy,
            now=now,
            must_change=not args.no_change_required,
        )
        return {**_account(staff), "password": generated}, None
    staff = await svc.by_username(session, args.username)
    version = staff.token_version
    generated = None
    if cmd == "reset-password":
        generated = await svc.reset_password(session, origin, staff, password=password, policy=policy, now=now)
    elif cmd == "unlock":
        await svc.unlock(session, origin, staff, now=now)
    else:
        await svc.set_active(session, origin, staff, active=cmd == "enable", now=now)
    out = {**_account(staff), "password": generated} if cmd == "reset-password" else _account(staff)
    return out, (staff.id, staff.token_version) if staff.token_version > version else None


def _announce(settings: Settings, staff_id: int, version: int) -> None:
    """Tell the running API processes over their push channel; if that fails they re-read within the interval."""
    if not settings.redis_url:
        return
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        try:
            client.publish(settings.resolved_push_channel, push.envelope(*staff_sessions.revocation(staff_id, version)))
        finally:
            client.close()
    except (redis.RedisError, OSError) as exc:
        log.warning("could not announce the revocation over Redis (%s): the API notices at its next re-read", exc)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from migrations import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)  # the first admin may come before anything else
    try:
        password = _read_password() if getattr(args, "password_stdin", False) else None
        result = asyncio.run(_run(args, settings, password))
    except CaseError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except CliError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.staff_command == "list":
        for item in result["items"]:
            print(json.dumps(item, ensure_ascii=False))
        return 0
    generated = result.pop("password", None)
    print(json.dumps(result, ensure_ascii=False))
    if generated:
        print(f"password: {generated}")
        then = "; its owner must change it at first login" if result["must_change_password"] else ""
        print(f"This password is shown only now{then}.", file=sys.stderr)
    return 0
