"""OCR fixtures: one real RapidOCR engine for the whole session (loading it takes a second or two)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ocr.inspect import Inspector
from ocr.pool import EngineConfig, OcrPool, make_inspector


@pytest.fixture(scope="session")
def inspector() -> Inspector:
    return make_inspector(EngineConfig("rapidocr", threads=2))


@pytest.fixture(scope="session")
def ocr_pool() -> Iterator[OcrPool]:
    pool = OcrPool(EngineConfig("rapidocr", threads=1), workers=1, timeout=60)
    yield pool
    pool.close()
