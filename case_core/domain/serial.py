"""统一申办流水号: ``WJ`` + date (YYYYMMDD) + 6-digit daily sequence + one ISO 7064 MOD 37,36 check character.

The check character catches any single mistyped character and any swap of two neighbours, so a number read
over the phone or typed into the bot is rejected before anything is looked up.
"""

from __future__ import annotations

import re
from datetime import date

from stdnum.iso7064 import mod_37_36

PREFIX = "WJ"
_PATTERN = re.compile(r"^WJ\d{8}\d{6}[0-9A-Z]$")


def make_serial(day: date, sequence: int) -> str:
    if not 0 < sequence < 1_000_000:
        raise ValueError("daily sequence out of range")
    body = f"{PREFIX}{day:%Y%m%d}{sequence:06d}"
    return body + mod_37_36.calc_check_digit(body)


def normalize(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper()


def is_valid_serial(text: str) -> bool:
    value = normalize(text)
    return bool(_PATTERN.match(value)) and mod_37_36.is_valid(value)
