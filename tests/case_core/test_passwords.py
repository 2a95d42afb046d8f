"""The staff password policy (GB/T 22239 level 3 as section 7.2 asks): length, character classes, no username;
and generated passwords that always pass it."""

from __future__ import annotations

import pytest

from case_core.domain import passwords
from case_core.domain.errors import PasswordRejected
from case_core.domain.passwords import PasswordPolicy

POLICY = PasswordPolicy()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1-xyz", "password_too_short"),
        ("abcdefgh", "password_too_simple"),
        ("abcd1234", "password_too_simple"),
        ("ABCD-EFGH", "password_too_simple"),
        ("Tab\tbed1A", "password_invalid_characters"),
        ("Long-Pass1" * 13, "password_too_long"),
        ("My-liwei-2026", "password_contains_username"),
        ("LIWEI-my-2026", "password_contains_username"),
    ],
)
def test_a_password_breaking_a_rule_is_refused_with_that_rules_code_in_chinese(password: str, code: str) -> None:
    with pytest.raises(PasswordRejected) as caught:
        passwords.check(password, username="liwei", policy=POLICY)
    assert caught.value.code == code
    assert caught.value.status == 422
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.message)


@pytest.mark.parametrize("password", ["abcd123A", "abcd-1234", "ABCD-1234", "水清木华-Ab1", "Qingshui-2026"])
def test_three_character_classes_of_eight_characters_pass(password: str) -> None:
    passwords.check(password, username="liwei", policy=POLICY)


def test_the_policy_is_configurable() -> None:
    strict = PasswordPolicy(min_length=12, min_classes=4)
    with pytest.raises(PasswordRejected, match="12"):
        passwords.check("Abcd-12345", username="x", policy=strict)
    with pytest.raises(PasswordRejected) as caught:
        passwords.check("abcdefgh-12345", username="x", policy=strict)
    assert caught.value.code == "password_too_simple"
    passwords.check("Abcd-1234567", username="x", policy=strict)


def test_generated_passwords_pass_the_strictest_policy_and_differ() -> None:
    strict = PasswordPolicy(min_length=12, min_classes=4)
    made = {passwords.generate() for _ in range(200)}
    assert len(made) == 200
    for password in made:
        passwords.check(password, username="admin", policy=strict)
        assert not set(password) & set("0O1lI")  # nothing to misread off a screen
