"""What web needs from the composition root, named here so that web depends on nothing
above it: the root's container has these attributes and so satisfies `Services` as it is.

`container_of` is how a handler reaches them; the app keeps them in `app.ctx.container`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from sanic import Request

from core.bus import EventBus
from core.services.privacy import PrivacyService
from core.services.queues import Clock, QueueService
from core.settings import Settings


class SmsReply(Protocol):
    @property
    def text(self) -> str | None:
        """What is texted back; None when nothing is (after STOP)."""

    @property
    def record_id(self) -> str | None:
        """The outbox record of that answer."""


class SmsConversation(Protocol):
    """Answers a patient's text, as Twilio's webhook feeds it (the dev inbox's simulator)."""

    def handle(self, sender: str, body: str) -> Awaitable[SmsReply]: ...


class TelegramChat(Protocol):
    """The bot's dispatcher, fed the updates a patient's private chat would send."""

    def say(self, chat_id: int, text: str) -> Awaitable[None]: ...

    def press(self, chat_id: int, message_id: int, data: str) -> Awaitable[str | None]: ...


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def queues(self) -> QueueService: ...

    @property
    def privacy(self) -> PrivacyService: ...

    @property
    def sms(self) -> SmsConversation: ...

    @property
    def telegram(self) -> object | None:
        """The real bot, when a Telegram token is set."""

    def simulated_telegram(self) -> TelegramChat:
        """The dev inbox's patient simulator: the real bot, or one answering into the inbox."""

    def telegram_deep_link(self, code: str) -> Awaitable[str | None]:
        """`https://t.me/<bot>?start=q_<CODE>`, None without a bot."""


def container_of(request: Request) -> Services:
    services: Services = request.app.ctx.container
    return services
