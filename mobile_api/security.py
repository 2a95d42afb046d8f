"""Access tokens (JWT, HS256). Staff tokens carry roles and department so a request needs no account lookup, and
the account's token generation (``gen``), checked against the revocation register (``mobile_api.staff_sessions``);
a token of an account whose password an admin set carries ``pwc`` and opens only the password change and logout."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

import jwt

from case_core.domain.errors import PasswordChangeRequired, SessionRevoked, Unauthenticated
from case_core.principals import ApplicantPrincipal, StaffPrincipal
from mobile_api.staff_sessions import StaffSessions

ALGORITHM = "HS256"


class TokenService:
    def __init__(self, secret: str, ttl: timedelta, sessions: StaffSessions | None = None) -> None:
        self.sessions = sessions or StaffSessions()
        # A 256-bit signing key of its own, derived from the one configured secret.
        self._secret = hashlib.sha256(f"weijian:jwt:{secret}".encode()).hexdigest()
        self._ttl = ttl
        self._verified: dict[str, dict[str, Any]] = {}

    def _encode(self, claims: dict[str, Any], now: datetime) -> str:
        return jwt.encode({**claims, "iat": now, "exp": now + self._ttl}, self._secret, algorithm=ALGORITHM)

    def for_applicant(self, applicant_id: int, now: datetime) -> str:
        return self._encode({"sub": str(applicant_id), "typ": "applicant"}, now)

    def for_staff(self, staff: StaffPrincipal, now: datetime) -> str:
        return self._encode(
            {
                "sub": str(staff.id),
                "typ": "staff",
                "name": staff.name,
                "roles": sorted(staff.roles),
                "dept": staff.department_id,
                "path": staff.department_path,
                "gen": staff.token_version,
                **({"pwc": True} if staff.must_change_password else {}),
            },
            now,
        )

    def decode(self, token: str, *, password_change_ok: bool = False) -> dict[str, Any]:
        """The token's claims; a revoked staff token is 401 ``session_revoked``, and a staff token that must
        change its password first is 403 ``password_change_required`` unless ``password_change_ok``."""
        # A verified token stays valid until it expires: remember it (per process) instead of re-verifying the
        # signature on every request; the expiry is still checked on each use, and so is the revocation.
        claims = self._verified.get(token)
        if claims is None or claims["exp"] <= time.time():
            try:
                claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
            except jwt.ExpiredSignatureError as exc:
                raise Unauthenticated("登录已过期，请重新登录") from exc
            except jwt.PyJWTError as exc:
                raise Unauthenticated("登录凭证无效，请重新登录") from exc
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = claims
        if claims.get("typ") == "staff":
            if not self.sessions.valid(int(claims["sub"]), claims.get("gen", 0)):
                raise SessionRevoked()
            if claims.get("pwc") and not password_change_ok:
                raise PasswordChangeRequired()
        return claims

    def applicant(self, token: str) -> ApplicantPrincipal:
        claims = self.decode(token)
        if claims.get("typ") != "applicant":
            raise Unauthenticated("请使用申办人账号登录")
        return ApplicantPrincipal(id=int(claims["sub"]))

    def staff(self, token: str, *, password_change_ok: bool = False) -> StaffPrincipal:
        claims = self.decode(token, password_change_ok=password_change_ok)
        if claims.get("typ") != "staff":
            raise Unauthenticated("请使用工作人员账号登录")
        return StaffPrincipal(
            id=int(claims["sub"]),
            name=claims.get("name", ""),
            roles=frozenset(claims["roles"]),
            department_id=int(claims["dept"]),
            department_path=claims["path"],
            token_version=claims.get("gen", 0),
            must_change_password=bool(claims.get("pwc")),
        )
