"""The channel interface and the outcome of one attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

OutcomeKind = Literal["sent", "retry", "fallback", "failed"]


@dataclass(frozen=True)
class Message:
    key: str  # the delivery's idempotency key, passed to the provider where it takes one
    to: str  # phone number, openid or e-mail address
    title: str
    body: str
    fields: dict[str, str] = field(default_factory=dict)  # WeChat data fields
    provider_template: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # template variables (SMS providers' TemplateParam)


@dataclass(frozen=True)
class Outcome:
    """``sent``: accepted by the provider. ``retry``: a transient failure, try again later. ``fallback``: this channel
    will never work for this message (e.g. WeChat 43101, the user refused): go to the next channel at once, no
    retry. ``failed``: a permanent error (bad number): next channel if any, else dead letter."""

    kind: OutcomeKind
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, when the provider says

    @classmethod
    def sent(cls, message_id: str | None) -> Outcome:
        return cls("sent", provider_message_id=message_id)


class Channel(Protocol):
    name: str
    provider: str

    async def send(self, message: Message) -> Outcome: ...
