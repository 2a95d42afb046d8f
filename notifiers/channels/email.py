"""E-mail over SMTP (the standard library's smtplib, in a worker thread). The idempotency key goes into the
Message-ID so a receiving system can drop a duplicate."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from notifiers.channels.base import Message, Outcome


class SmtpChannel:
    name = "email"
    provider = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def _send(self, message: Message) -> Outcome:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.title
        # The same key gives the same Message-ID on every attempt: a resend is recognisably the same message.
        msgid = f"<{message.key.replace(':', '.')}@weijian.notify>"
        mail["Message-ID"] = msgid
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            return Outcome("failed", error=f"recipient refused: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
            return Outcome("failed", error=error) if 500 <= exc.smtp_code < 600 else Outcome("retry", error=error)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return Outcome("retry", error=f"SMTP unavailable: {exc!r}")
        if refused:
            return Outcome("failed", error=f"recipient refused: {refused}")
        return Outcome.sent(msgid)

    async def send(self, message: Message) -> Outcome:
        return await asyncio.to_thread(self._send, message)
