"""Fixtures for the notification tests: a dispatcher on the app's database with a controllable clock, local
provider servers, and helpers to walk a case and read what was sent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from case_core.timeutil import CST
from notifiers.channels.sms import AliyunSms, TencentSms
from notifiers.dispatcher import Dispatcher
from notifiers.models import Delivery
from tests.support.api import Api
from tests.support.fake_sms import FakeSmsServer


class Clock:
    """The dispatcher's clock: starts at 10:00 China time today (outside the quiet hours), moves when told."""

    def __init__(self) -> None:
        today = datetime.now(CST).date()
        self.now = datetime(today.year, today.month, today.day, 10, 0, tzinfo=CST).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set_local(self, hour: int, minute: int = 0) -> None:
        local = self.now.astimezone(CST)
        self.now = local.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher(app: Any, clock: Clock) -> Dispatcher:
    d: Dispatcher = app.state.notify.dispatcher
    d.clock = clock
    d.settings.backoff_base_seconds = 1.0
    d.settings.backoff_max_seconds = 10.0
    return d


@pytest.fixture(scope="session")
def aliyun() -> Iterator[FakeSmsServer]:
    server = FakeSmsServer("aliyun").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tencent() -> Iterator[FakeSmsServer]:
    server = FakeSmsServer("tencent").start()
    yield server
    server.stop()


@pytest.fixture
def aliyun_sms(aliyun: FakeSmsServer, dispatcher: Dispatcher) -> FakeSmsServer:
    aliyun.accepted.clear()
    aliyun.script.clear()
    dispatcher.channels["sms"] = AliyunSms(aliyun.key_id, aliyun.secret, "卫健政务", endpoint=aliyun.url, timeout=1.0)
    return aliyun


@pytest.fixture
def tencent_sms(tencent: FakeSmsServer, dispatcher: Dispatcher) -> FakeSmsServer:
    tencent.accepted.clear()
    tencent.script.clear()
    dispatcher.channels["sms"] = TencentSms(
        tencent.key_id, tencent.secret, "1400000001", "卫健政务", endpoint=tencent.url
    )
    return tencent


class Inbox:
    """An SMTP server's mailbox (aiosmtpd handler): (recipients, parsed message) per mail received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check needs the real port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


async def with_phone(api: Api, code: str, phone: str = "13800138000", email: str | None = None) -> dict[str, str]:
    who = await api.applicant(code)
    body: dict[str, Any] = {"phone": phone}
    if email:
        body["email"] = email
    r = await api.client.put("/api/v1/me", json=body, headers=who)
    assert r.status_code == 200, r.text
    return who


async def deliveries(app: Any, **where: Any) -> list[Delivery]:
    async with app.state.weijian.read_sessions() as session:
        q = select(Delivery).order_by(Delivery.id)
        for k, v in where.items():
            q = q.where(getattr(Delivery, k) == v)
        return list((await session.scalars(q)).all())


async def operator(api: Api) -> dict[str, str]:
    return await api.staff("admin")
