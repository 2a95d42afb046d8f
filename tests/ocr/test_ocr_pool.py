"""The worker pool: CPU work off the event loop, and a hung or slow job never blocks the next one."""

from __future__ import annotations

import asyncio
import random
from datetime import date

import pytest

from ocr.pool import EngineConfig, OcrPool, OcrTimeout
from ocr.samples import TEST_FONTS, available_fonts, make_sample


async def test_a_job_past_its_timeout_is_abandoned_and_the_pool_recovers() -> None:
    s = make_sample("diploma", random.Random(8), fonts=available_fonts(TEST_FONTS), rotate=0)
    pool = OcrPool(EngineConfig("rapidocr", threads=1), workers=1, timeout=0.05)
    try:
        with pytest.raises(OcrTimeout):
            await pool.inspect(s.image, today=date(2026, 11, 27))
        pool.timeout = 120
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        result = await pool.inspect(s.image, expect="diploma", today=date(2026, 11, 27))
        beat.cancel()
        assert result["material_type"] == "diploma" and result["fields"]["cert_no"] == s.fields["cert_no"]
        assert ticks > 5  # the event loop kept running while the worker read the image
    finally:
        pool.close()
