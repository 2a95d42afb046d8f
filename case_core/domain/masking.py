"""Masking of personal data in responses and logs."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    if len(value) < 11:  # short or odd values: show only the last two
        return "*" * max(len(value) - 2, 0) + value[-2:] if len(value) > 4 else "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_text(value: str, keep: int = 6) -> str:
    """Addresses and the like: keep the first characters (the district), hide the rest."""
    if len(value) <= keep:
        return value[:1] + "*" * (len(value) - 1)
    return value[:keep] + "****"


def mask_account(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def mask_email(value: str) -> str:
    """First character of the mailbox and the whole domain: enough to recognise one's own address."""
    local, at, domain = value.partition("@")
    if not at:
        return mask_text(value, keep=1)
    return local[:1] + "***@" + domain


def mask_by_kind(kind: str, value: str) -> str:
    if kind == "id_number":
        return mask_id_number(value)
    if kind == "phone":
        return mask_phone(value)
    if kind == "account":
        return mask_account(value)
    return mask_text(value)
