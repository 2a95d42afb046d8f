"""Staff accounts' administration (6.7.8 用户管理, 7.3 权限管理): create, change roles and department, disable and
enable, unlock, reset a password; and each staff member's own password change and logout.

Who may: an admin (role ``admin``) manages the accounts of their department and the departments below it (the
same materialised-path scope as cases); an operator at the console (``weijian staff``, ``caller=None``) manages
any. No one locks the administrators out: an admin cannot take away their own admin role, disable themself or
reset their own password here (they change it with the old one), and no one disables or demotes the last active
admin.

Every change is audited (``staff.*``: who, when, from which address, what changed) and none writes a password or
a hash into the audit or the log. A change that makes existing tokens wrong (disabled, new password, new roles or
department: tokens carry roles and department) raises the account's ``token_version``; the API refuses tokens
issued under an older one (``mobile_api.staff_sessions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from case_core.domain import passwords
from case_core.domain.errors import AccountRuleViolation, FieldInvalid, Forbidden, NotFound, PasswordRejected
from case_core.domain.passwords import PasswordPolicy
from case_core.domain.states import Role
from case_core.models import Department, Staff
from case_core.principals import RequestInfo, StaffPrincipal
from case_core.services import audit
from case_core.services.accounts import hash_password, verify_password

ROLE_LABELS: dict[str, str] = {
    Role.WINDOW_CLERK: "收件窗口",
    Role.ACCEPTOR: "受理",
    Role.HANDLER: "审核",
    Role.INSPECTOR: "现场核查",
    Role.EXPERT_PANEL: "专家评审",
    Role.COMMUNITY_WORKER: "社区核实",
    Role.LEADER: "签批领导",
    Role.LICENCE_MAKER: "制证",
    Role.DISPATCH_CLERK: "送达",
    Role.ADMIN: "系统管理员",
    Role.PII_READER: "查看个人完整信息",
    Role.CONSULT_AGENT: "咨询坐席",
    Role.KB_REVIEWER: "知识库审核",
}
assert set(ROLE_LABELS) == set(Role), "every role has a label"

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$")


@dataclass(frozen=True)
class Origin:
    """Who acts and from where, for the audit: a signed-in admin (``caller``) or an operator at the console."""

    caller: StaffPrincipal | None
    info: RequestInfo | None = None
    console: str | None = None  # "user@host" of a CLI run

    def record(self, session: AsyncSession, action: str, now: datetime, target: Staff, **detail: Any) -> None:
        if self.console is not None:
            detail["via"] = "cli"
            detail["operator"] = self.console
        audit.record(
            session,
            actor_type="staff" if self.caller is not None else "operator",
            actor_id=self.caller.id if self.caller is not None else None,
            action=action,
            now=now,
            info=self.info,
            target=f"staff:{target.id}",
            detail=detail or None,
        )


# ----------------------------------------------------------------------------------------------- scope


def require_admin(caller: StaffPrincipal | None) -> None:
    if caller is not None and not caller.has(Role.ADMIN):
        raise Forbidden("仅系统管理员可以管理工作人员账号")


async def _department_in_scope(session: AsyncSession, caller: StaffPrincipal | None, department_id: int) -> Department:
    dept = await session.get(Department, department_id)
    if dept is None or (caller is not None and not dept.path.startswith(caller.department_path)):
        raise FieldInvalid({"department_id": "部门不存在或不在您管理的范围内"})
    return dept


async def get_managed(session: AsyncSession, caller: StaffPrincipal | None, staff_id: int) -> Staff:
    """An account the caller manages (their department or below); any other is as absent as a missing one."""
    require_admin(caller)
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None:
        raise NotFound("工作人员")
    if caller is not None:
        dept = await session.get(Department, staff.department_id)
        if dept is None or not dept.path.startswith(caller.department_path):
            raise NotFound("工作人员")
    return staff


async def by_username(session: AsyncSession, username: str) -> Staff:
    staff = await session.scalar(select(Staff).where(func.lower(Staff.username) == username.strip().lower()))
    if staff is None:
        raise NotFound("工作人员")
    return staff


async def departments_in_scope(session: AsyncSession, caller: StaffPrincipal) -> list[Department]:
    require_admin(caller)
    stmt = select(Department).where(Department.path.startswith(caller.department_path, autoescape=True))
    return list((await session.scalars(stmt.order_by(Department.path))).all())


async def search(
    session: AsyncSession,
    caller: StaffPrincipal,
    *,
    q: str | None = None,
    department_id: int | None = None,
    role: str | None = None,
    active: bool | None = None,
    locked_at: datetime | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[Staff]:
    """Accounts in the caller's scope by id; ``q`` matches username or name, ``locked_at`` keeps the accounts
    locked out at that moment. (A role filter is applied in Python: roles are a JSON list on both backends.)"""
    require_admin(caller)
    stmt = (
        select(Staff)
        .join(Department, Department.id == Staff.department_id)
        .where(Department.path.startswith(caller.department_path, autoescape=True), Staff.id > after_id)
        .order_by(Staff.id)
    )
    if q:
        stmt = stmt.where(or_(Staff.username.contains(q, autoescape=True), Staff.name.contains(q, autoescape=True)))
    if department_id is not None:
        stmt = stmt.where(Staff.department_id == department_id)
    if active is not None:
        stmt = stmt.where(Staff.active.is_(active))
    if locked_at is not None:
        stmt = stmt.where(Staff.locked_until > locked_at)
    if role is None:
        return list((await session.scalars(stmt.limit(limit))).all())
    matching = [s for s in (await session.scalars(stmt)).all() if role in (s.roles or ())]
    return matching[:limit]


# ----------------------------------------------------------------------------------------------- validation


def _clean_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLE_LABELS]
    if unknown:
        raise FieldInvalid({"roles": f"没有这些角色：{'、'.join(unknown)}"})
    if not roles:
        raise FieldInvalid({"roles": "请至少选择一个角色"})
    return sorted(set(roles))


def _clean_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise FieldInvalid({"name": "请填写姓名（不超过64个字）"})
    return name


# A transaction-level advisory lock (PostgreSQL) that every change able to remove an active admin takes before
# counting the others: the count and the change then happen one transaction at a time. The number is arbitrary but
# fixed; it names "the set of active admins".
ADMIN_SET_LOCK = 0x57_4A_41_44_4D  # "WJADM"


async def _lock_the_admin_set(session: AsyncSession) -> None:
    """Serialise "is there another active admin?" with the change that follows, until the transaction ends.

    Without it two admins disabling (or demoting) each other at once each lock only their target's row, each
    count the other as still active, and both succeed: no admin left. On PostgreSQL an advisory lock held to the
    end of the transaction makes the second wait; under READ COMMITTED its count, a new statement, then sees the
    first one's committed change and refuses. (Locking the admin rows themselves with FOR UPDATE would deadlock:
    each transaction already holds its target's row.) On SQLite writers are serialised already: the API and CLI
    open write transactions with BEGIN IMMEDIATE (``case_core.db.sqlite_write_transactions``), and a deferred
    transaction that read before another writer committed fails with SQLITE_BUSY when it writes, rather than
    writing on a stale count.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMIN_SET_LOCK})


async def _other_active_admins(session: AsyncSession, staff_id: int) -> int:
    rows = (await session.scalars(select(Staff.roles).where(Staff.active.is_(True), Staff.id != staff_id))).all()
    return sum(1 for roles in rows if Role.ADMIN in (roles or ()))


async def _keep_an_admin(session: AsyncSession, staff: Staff) -> None:
    """Refuse to take the last active admin away (disabled or demoted): no one could manage accounts then."""
    if not (staff.active and Role.ADMIN in (staff.roles or ())):
        return
    await _lock_the_admin_set(session)
    if await _other_active_admins(session, staff.id) == 0:
        raise AccountRuleViolation("last_admin", "这是最后一个有效的系统管理员账号，不能停用或取消其管理员角色")


def _set_password(staff: Staff, password: str, *, must_change: bool, now: datetime) -> None:
    staff.password_hash = hash_password(password)
    staff.must_change_password = must_change
    staff.password_changed_at = now
    staff.failed_logins = 0
    staff.locked_until = None
    staff.token_version += 1


# ----------------------------------------------------------------------------------------------- admin actions


async def create(
    session: AsyncSession,
    origin: Origin,
    *,
    username: str,
    name: str,
    department_id: int,
    roles: list[str],
    password: str | None,
    policy: PasswordPolicy,
    now: datetime,
    must_change: bool = True,
) -> tuple[Staff, str | None]:
    """A new account; returns it and the generated password when none was given (shown once, stored hashed)."""
    require_admin(origin.caller)
    errors: dict[str, str] = {}
    username = username.strip()
    if not _USERNAME.match(username):
        errors["username"] = "用户名须为3至32位字母、数字或 _ . -，并以字母开头"
    try:
        name = _clean_name(name)
    except FieldInvalid as exc:
        errors.update(exc.details["fields"] if exc.details else {})
    try:
        roles = _clean_roles(roles)
    except FieldInvalid as exc:
        errors.update(exc.details["fields"] if exc.details else {})
    if errors:
        raise FieldInvalid(errors)
    await _department_in_scope(session, origin.caller, department_id)
    if await session.scalar(select(Staff.id).where(func.lower(Staff.username) == username.lower())) is not None:
        raise AccountRuleViolation("username_taken", f"用户名“{username}”已被使用")
    generated = None
    if password is None:
        password = generated = passwords.generate()
    else:
        passwords.check(password, username=username, policy=policy)
    staff = Staff(
        username=username,
        name=name,
        password_hash=hash_password(password),
        department_id=department_id,
        roles=roles,
        active=True,
        failed_logins=0,
        created_at=now,
        token_version=0,
        must_change_password=must_change,
        password_changed_at=now,
    )
    session.add(staff)
    await session.flush()
    origin.record(
        session,
        "staff.create",
        now,
        staff,
        username=username,
        department_id=department_id,
        roles=roles,
        password="generated" if generated else "set",
    )
    return staff, generated


async def update(
    session: AsyncSession,
    origin: Origin,
    staff: Staff,
    *,
    now: datetime,
    name: str | None = None,
    roles: list[str] | None = None,
    department_id: int | None = None,
) -> Staff:
    """Change the fields given. New roles or a new department end the account's sessions (tokens carry them;
    a new name shows in tokens issued from now on)."""
    changes: dict[str, list[Any]] = {}
    if name is not None and (name := _clean_name(name)) != staff.name:
        changes["name"] = [staff.name, name]
    if roles is not None and (roles := _clean_roles(roles)) != sorted(staff.roles or ()):
        if Role.ADMIN in (staff.roles or ()) and Role.ADMIN not in roles:
            if origin.caller is not None and origin.caller.id == staff.id:
                raise AccountRuleViolation("own_admin_role", "不能取消自己的系统管理员角色，请由其他管理员操作")
            await _keep_an_admin(session, staff)
        changes["roles"] = [sorted(staff.roles or ()), roles]
    if department_id is not None and department_id != staff.department_id:
        await _department_in_scope(session, origin.caller, department_id)
        if origin.caller is not None and origin.caller.id == staff.id:
            # Moving oneself out of one's own scope could not be undone by oneself.
            raise AccountRuleViolation("own_department", "不能调整自己的所属部门，请由上级部门的管理员操作")
        changes["department_id"] = [staff.department_id, department_id]
    if not changes:
        return staff
    if "name" in changes:
        staff.name = changes["name"][1]
    if "roles" in changes:
        staff.roles = changes["roles"][1]
    if "department_id" in changes:
        staff.department_id = changes["department_id"][1]
    if "roles" in changes or "department_id" in changes:
        staff.token_version += 1  # tokens carry roles and department: the old ones would grant the old ones
    origin.record(session, "staff.update", now, staff, changes=changes)
    await session.flush()
    return staff


async def set_active(session: AsyncSession, origin: Origin, staff: Staff, *, active: bool, now: datetime) -> Staff:
    if staff.active == active:
        return staff
    if not active:
        if origin.caller is not None and origin.caller.id == staff.id:
            raise AccountRuleViolation("own_account", "不能停用自己的账号")
        await _keep_an_admin(session, staff)
        staff.token_version += 1
    else:
        staff.failed_logins = 0
        staff.locked_until = None
    staff.active = active
    origin.record(session, "staff.enable" if active else "staff.disable", now, staff)
    await session.flush()
    return staff


async def unlock(session: AsyncSession, origin: Origin, staff: Staff, *, now: datetime) -> Staff:
    was_locked = staff.locked_until is not None and staff.locked_until > now
    staff.failed_logins = 0
    staff.locked_until = None
    origin.record(session, "staff.unlock", now, staff, was_locked=was_locked)
    await session.flush()
    return staff


async def reset_password(
    session: AsyncSession,
    origin: Origin,
    staff: Staff,
    *,
    password: str | None,
    policy: PasswordPolicy,
    now: datetime,
) -> str | None:
    """A temporary password (given, or generated and returned once) that its owner must change at next login.
    Ends the account's sessions and lifts a lockout."""
    if origin.caller is not None and origin.caller.id == staff.id:
        raise AccountRuleViolation("own_password", "请通过“修改密码”更改自己的密码（需要原密码）")
    generated = None
    if password is None:
        password = generated = passwords.generate()
    else:
        passwords.check(password, username=staff.username, policy=policy)
    _set_password(staff, password, must_change=True, now=now)
    origin.record(session, "staff.password.reset", now, staff, password="generated" if generated else "set")
    await session.flush()
    return generated


# ----------------------------------------------------------------------------------------------- self-service


async def change_own_password(
    session: AsyncSession,
    *,
    staff_id: int,
    old_password: str,
    new_password: str,
    policy: PasswordPolicy,
    now: datetime,
    info: RequestInfo | None,
) -> Staff:
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None or not staff.active:
        raise NotFound("工作人员")
    if not verify_password(staff.password_hash, old_password):
        audit.record(
            session, actor_type="staff", actor_id=staff.id, action="staff.password.change_failed", now=now, info=info
        )
        raise PasswordRejected("password_incorrect", "原密码不正确")
    passwords.check(new_password, username=staff.username, policy=policy)
    if verify_password(staff.password_hash, new_password):
        raise PasswordRejected("password_reused", "新密码不能与原密码相同")
    _set_password(staff, new_password, must_change=False, now=now)
    audit.record(session, actor_type="staff", actor_id=staff.id, action="staff.password.change", now=now, info=info)
    await session.flush()
    return staff


async def logout(session: AsyncSession, *, staff_id: int, now: datetime, info: RequestInfo | None) -> Staff:
    """End every session of the account (tokens are stateless: one generation for all of them)."""
    staff = await session.get(Staff, staff_id, with_for_update=True)
    if staff is None:
        raise NotFound("工作人员")
    staff.token_version += 1
    audit.record(session, actor_type="staff", actor_id=staff.id, action="logout", now=now, info=info)
    await session.flush()
    return staff


def account_out(staff: Staff, now: datetime) -> dict[str, Any]:
    """The account's state for admins (the profile's contacts come from ``staff_contacts.profile_out``)."""
    locked = staff.locked_until is not None and staff.locked_until > now
    return {
        "department_id": staff.department_id,
        "must_change_password": staff.must_change_password,
        "locked": locked,
        "locked_until": staff.locked_until.isoformat() if locked and staff.locked_until else None,
        "last_login_at": staff.last_login_at.isoformat() if staff.last_login_at else None,
        "password_changed_at": staff.password_changed_at.isoformat() if staff.password_changed_at else None,
        "created_at": staff.created_at.isoformat(),
    }
