"""Who is asking: an applicant, or a staff member with roles and a department scope."""

from __future__ import annotations

from dataclasses import dataclass

from case_core.domain.transitions import Actor


@dataclass(frozen=True)
class ApplicantPrincipal:
    id: int

    @property
    def actor(self) -> Actor:
        return Actor(kind="applicant", id=self.id)


@dataclass(frozen=True)
class StaffPrincipal:
    id: int
    name: str
    roles: frozenset[str]
    department_id: int
    department_path: str
    # The account's token generation when the token was issued, and whether its password must be changed first.
    token_version: int = 0
    must_change_password: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(kind="staff", id=self.id, roles=self.roles, name=self.name)

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class RequestInfo:
    """Where a request came from, for the audit log."""

    ip: str | None = None
    user_agent: str | None = None
