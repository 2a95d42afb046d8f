"""Fast JSON responses for hot paths (orjson, no re-validation of data we built ourselves)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


def json_response(data: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def file_response(data: bytes, content_type: str) -> Response:
    """A stored material file: never sniffed as something else, never cached by shared caches."""
    return Response(
        data,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )
