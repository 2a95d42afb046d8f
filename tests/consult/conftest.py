"""The consultation tests' app is warmed like `weijian serve` warms it at start-up (index built, NLU trained)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
async def app(app: Any) -> Any:
    await app.state.consult.warm()
    return app
