"""What the services need from the outside world, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from case_core.crypto import FieldCipher
from case_core.storage import Storage
from case_core.uploads import UploadLimits


@dataclass(frozen=True)
class CoreContext:
    cipher: FieldCipher
    storage: Storage
    limits: UploadLimits = field(default_factory=UploadLimits)
    yellow_days: int = 2
