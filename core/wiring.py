"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram import Dispatcher as BotDispatcher

from bot.app import build_dispatcher
from bot.client import make_bot
from bot.context import BotServices
from bot.patients import DEEP_LINK_PREFIX
from bot.sender import TelegramSender
from core.bus import EventBus
from core.bus.memory import InProcessBus
from core.bus.redis import RedisBus
from core.delivery import Sender
from core.delivery.dispatcher import Dispatcher, DispatchSettings
from core.delivery.inbox import DevInboxSender, UnconfiguredSender
from core.delivery.limits import TELEGRAM_LIMITS, ChannelLimits
from core.services.patients import PatientService
from core.services.queues import Clock, QueueService
from core.services.staff_chat import StaffChat
from core.settings import Settings
from core.storage import db

DEV_INBOX_LIMITS = ChannelLimits(per_second=200.0)
SMS_LIMITS = ChannelLimits(per_second=1.0)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Telegram:
    bot: Bot
    dispatcher: BotDispatcher


@dataclass
class Container:
    settings: Settings
    bus: EventBus
    clock: Clock = utc_now
    queues: QueueService = field(init=False)
    patients: PatientService = field(init=False)
    staff_chat: StaffChat = field(init=False)
    telegram: Telegram | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.queues = QueueService(self.bus, self.clock)
        self.patients = PatientService(self.queues)
        self.staff_chat = StaffChat(self.queues)
        settings = self.settings
        if settings.telegram_token:
            services = BotServices(
                self.queues, self.patients, self.staff_chat, settings.default_language
            )
            self.telegram = Telegram(
                make_bot(settings.telegram_token, settings.telegram_api_base),
                build_dispatcher(services),
            )

    async def start(self, migrate: bool | None = None) -> None:
        """Connects the database; migrates it first on an embedded one (or when asked)."""
        if migrate if migrate is not None else self.settings.is_embedded:
            await db.migrate(self.settings.database_url)
        await db.connect(self.settings.database_url)

    async def stop(self) -> None:
        if self.telegram is not None:
            await self.telegram.bot.session.close()
        await self.bus.close()
        await db.disconnect()

    async def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=q_<CODE>`: what the poster's QR code opens."""
        if self.telegram is None:
            return None
        me = await self.telegram.bot.me()
        return f"https://t.me/{me.username}?start={DEEP_LINK_PREFIX}{code}"

    def notification_dispatcher(self, **overrides: Any) -> Dispatcher:
        """A dispatcher over every channel: the real sender where there are credentials,
        the dev inbox elsewhere (or, in production, a sender that fails visibly)."""
        senders: dict[str, Sender] = {}
        limits: dict[str, ChannelLimits] = {}
        for channel, real, real_limits in (
            ("telegram", self._telegram_sender(), TELEGRAM_LIMITS),
            ("sms", None, SMS_LIMITS),
        ):
            if real is not None:
                senders[channel], limits[channel] = real, real_limits
            elif self.settings.dev_inbox:
                senders[channel], limits[channel] = DevInboxSender(), DEV_INBOX_LIMITS
            else:
                senders[channel], limits[channel] = UnconfiguredSender(channel), DEV_INBOX_LIMITS
        settings = DispatchSettings(
            base_url=self.settings.base_url,
            default_language=self.settings.default_language,
            lease_s=self.settings.outbox_lease_s,
            poll_interval_s=self.settings.outbox_poll_s,
        )
        settings = dataclasses.replace(settings, **overrides)
        return Dispatcher(senders, limits, self.bus, settings, self.clock)

    def _telegram_sender(self) -> TelegramSender | None:
        return TelegramSender(self.telegram.bot) if self.telegram else None


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    bus: EventBus = RedisBus(settings.redis_url) if settings.redis_url else InProcessBus()
    return Container(settings=settings, bus=bus, clock=clock)
