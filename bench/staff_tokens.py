"""``python -m bench.staff_tokens``: what the staff-token revocation check adds to every staff request.

Every staff request decodes its bearer token (``TokenService.staff``; a verified token is cached per process, so
the steady state is a dict hit plus the checks). Measured in the same run, same token:
* baseline: ``staff()`` as it was before revocation existed (cache hit, expiry check, principal built), the
  same class with ``decode`` replaced by the previous code;
* ``revoked-0``: with the check and an empty register (no account ever revoked);
* ``revoked-N``: the register holding N revoked accounts (N = 1 000, 100 000), the token's own account among them
  at an older generation than the token's (so it passes: the common case after a password change).
Reports ns per call (median of 7 rounds of 200 000 calls) and the ratio to the baseline.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta
from typing import Any

from case_core.principals import StaffPrincipal
from case_core.timeutil import utcnow
from mobile_api.security import TokenService

CALLS = 200_000
ROUNDS = 7


class _Before(TokenService):
    """``decode`` as it was before the revocation check (session 4)."""

    def decode(self, token: str, *, password_change_ok: bool = False) -> dict[str, Any]:
        hit = self._verified.get(token)
        if hit is not None and hit["exp"] > time.time():
            return hit
        raise AssertionError("the benchmark token is verified once before timing")


def _per_call_ns(tokens: TokenService, token: str) -> float:
    rounds = []
    staff = tokens.staff
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            staff(token)
        rounds.append((time.perf_counter_ns() - start) / CALLS)
    return statistics.median(rounds)


def main() -> None:
    principal = StaffPrincipal(
        id=42, name="审核员", roles=frozenset({"handler"}), department_id=1, department_path="/440000/", token_version=3
    )
    results: dict[str, float] = {}
    before = _Before("bench-secret", timedelta(hours=2))
    token = before.for_staff(principal, utcnow())
    TokenService.decode(before, token)  # fills the cache through the real decode
    results["baseline"] = _per_call_ns(before, token)
    for revoked in (0, 1_000, 100_000):
        tokens = TokenService("bench-secret", timedelta(hours=2))
        for staff_id in range(1, revoked + 1):
            tokens.sessions.revoke_before(staff_id, 2 if staff_id == 42 else 1)
        token = tokens.for_staff(principal, utcnow())
        tokens.staff(token)  # verified once, then served from the per-process cache as in a running API
        results[f"revoked-{revoked}"] = _per_call_ns(tokens, token)
    base = results["baseline"]
    print(json.dumps({k: {"ns_per_call": round(v), "ratio": round(v / base, 3)} for k, v in results.items()}))


if __name__ == "__main__":
    main()
