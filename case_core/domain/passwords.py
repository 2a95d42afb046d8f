"""The staff password policy and generated passwords.

GB/T 22239 (等级保护, level 3, which section 7.2 of the standard requires) asks for passwords of a complexity that
is enforced and changed from time to time; the usual reading, and ours: at least 8 characters (configurable) of at
least 3 of the 4 classes upper case, lower case, digits, symbols; not the username (nor containing it); not the
password it replaces. Each rule refuses with a stable code and a Chinese message (``PasswordRejected``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from case_core.domain.errors import PasswordRejected

MAX_LENGTH = 128  # argon2 takes any length; a bound keeps a request from costing seconds of hashing
CLASS_NAMES = ("大写字母", "小写字母", "数字", "符号")


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 8
    min_classes: int = 3

    @property
    def hint(self) -> str:
        return f"密码须至少{self.min_length}位，并包含大写字母、小写字母、数字、符号中的至少{self.min_classes}类"


def char_classes(password: str) -> int:
    """How many of upper case, lower case, digits and symbols (anything else printable) the password uses."""
    has = [False, False, False, False]
    for ch in password:
        if ch.isascii() and ch.isupper():
            has[0] = True
        elif ch.isascii() and ch.islower():
            has[1] = True
        elif ch.isdigit():
            has[2] = True
        else:
            has[3] = True
    return sum(has)


def check(password: str, *, username: str, policy: PasswordPolicy) -> None:
    """Raise ``PasswordRejected`` for the first rule ``password`` breaks. (Reuse is the caller's check: it needs
    the stored hash.)"""
    if len(password) < policy.min_length:
        raise PasswordRejected("password_too_short", f"密码太短：{policy.hint}", min_length=policy.min_length)
    if len(password) > MAX_LENGTH:
        raise PasswordRejected("password_too_long", f"密码不能超过{MAX_LENGTH}位", max_length=MAX_LENGTH)
    if any(ch.isspace() or not ch.isprintable() for ch in password):
        raise PasswordRejected("password_invalid_characters", "密码不能包含空格或不可见字符")
    if char_classes(password) < policy.min_classes:
        raise PasswordRejected("password_too_simple", f"密码过于简单：{policy.hint}", min_classes=policy.min_classes)
    name = username.strip().lower()
    if name and name in password.lower():
        raise PasswordRejected("password_contains_username", "密码不能与用户名相同或包含用户名")


# No look-alikes (0/O, 1/l/I) in a password someone reads off a screen and types on a phone.
_ALPHABETS = (
    "ABCDEFGHJKLMNPQRSTUVWXYZ",
    "abcdefghijkmnopqrstuvwxyz",
    "23456789",
    "@#%+=?!",
)


def generate(length: int = 12) -> str:
    """A random password with every character class (so it passes any policy of up to ``length`` characters)."""
    chars = [secrets.choice(alphabet) for alphabet in _ALPHABETS]
    everything = "".join(_ALPHABETS)
    chars += [secrets.choice(everything) for _ in range(max(length, 8) - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
