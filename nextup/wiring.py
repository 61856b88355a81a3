"""The composition root: the one place that builds concrete adapters from settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.bus import EventBus
from core.bus.memory import InProcessBus
from core.delivery import Sender
from core.delivery.dispatcher import Dispatcher, DispatchSettings
from core.delivery.inbox import DevInboxSender, UnconfiguredSender
from core.delivery.limits import TELEGRAM_LIMITS, ChannelLimits
from core.services.patients import PatientService
from core.services.privacy import PrivacyService
from core.services.queues import Clock, QueueService
from core.services.sms_guard import SmsGuard, SmsLimits
from core.services.staff_chat import StaffChat
from core.settings import Settings
from core.storage import db, pseudonyms
from sms.conversation import SmsConversation

# The adapters over aiogram, twilio and redis are imported below only where the settings
# ask for them: aiogram alone takes seconds to import, and `nextup --help`, `migrate` or
# `passwd` use none of them. The composition root is the one module where that choice is
# made, so it is also the one place such function-level imports belong.
if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram import Dispatcher as BotDispatcher

    from bot.context import BotServices
    from bot.dev_session import TelegramSimulator
    from bot.sender import TelegramSender
    from sms.sender import TwilioSender

DEV_INBOX_LIMITS = ChannelLimits(per_second=200.0)
SMS_RATE_HEADROOM = 0.99
"""Sends are spaced a little under each number's rate, so network jitter never makes two
of them arrive at Twilio closer than the rate allows."""


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
    privacy: PrivacyService = field(init=False)
    sms: SmsConversation = field(init=False)
    """Answers texts; Twilio's webhook feeds it, and so can the console's simulator."""
    telegram: Telegram | None = field(init=False, default=None)
    _simulator: TelegramSimulator | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.queues = QueueService(self.bus, self.clock, self.settings.phone_region)
        self.patients = PatientService(self.queues)
        self.staff_chat = StaffChat(self.queues)
        self.privacy = PrivacyService(self.queues, self.clock, self.settings.retention_days)
        settings = self.settings
        self.sms = SmsConversation(
            self.queues,
            self.patients,
            settings.base_url,
            settings.default_language,
            SmsGuard(
                SmsLimits(
                    settings.sms_joins_per_hour,
                    settings.sms_replies_per_hour,
                    settings.sms_daily_cap,
                    settings.sms_regions,
                )
            ),
        )
        if settings.telegram_token:
            from bot.app import build_dispatcher
            from bot.client import make_bot

            self.telegram = Telegram(
                make_bot(settings.telegram_token, settings.telegram_api_base),
                build_dispatcher(self._bot_services()),
            )

    def _bot_services(self) -> BotServices:
        from bot.context import BotServices

        return BotServices(
            self.queues, self.patients, self.staff_chat, self.settings.default_language
        )

    def simulated_telegram(self) -> TelegramSimulator:
        """The console's patient simulator: the real bot when there is a token, else one
        whose Bot API is the dev inbox. Built on first use."""
        if self._simulator is None:
            from bot.app import build_dispatcher
            from bot.dev_session import TelegramSimulator, dev_bot

            telegram = self.telegram or Telegram(dev_bot(), build_dispatcher(self._bot_services()))
            self._simulator = TelegramSimulator(telegram.bot, telegram.dispatcher)
        return self._simulator

    async def start(self, migrate: bool | None = None) -> None:
        """Connects the database; migrates it first on an embedded one (or when asked)."""
        if migrate if migrate is not None else self.settings.is_embedded:
            await db.migrate(self.settings.database_url)
        await db.connect(self.settings.database_url)
        pseudonyms.use_secret(self.settings.signing_key())

    async def stop(self) -> None:
        if self.telegram is not None:
            await self.telegram.bot.session.close()
        await self.bus.close()
        await db.disconnect()

    async def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=q_<CODE>`: what the poster's QR code opens."""
        if self.telegram is None:
            return None
        from bot.patients import DEEP_LINK_PREFIX

        me = await self.telegram.bot.me()
        return f"https://t.me/{me.username}?start={DEEP_LINK_PREFIX}{code}"

    def notification_dispatcher(self, **overrides: Any) -> Dispatcher:
        """A dispatcher over every channel: the real sender where there are credentials,
        the dev inbox elsewhere (or, in production, a sender that fails visibly)."""
        senders: dict[str, Sender] = {}
        limits: dict[str, ChannelLimits] = {}
        for channel, real, real_limits in (
            ("telegram", self._telegram_sender(), TELEGRAM_LIMITS),
            ("sms", self._sms_sender(), self.sms_limits()),
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
            escalate_after_s=self.settings.sms_escalate_after_s
            if self.settings.sms_configured or self.settings.dev_inbox
            else None,
        )
        settings = dataclasses.replace(settings, **overrides)
        return Dispatcher(senders, limits, self.bus, settings, self.clock)

    def _telegram_sender(self) -> TelegramSender | None:
        if self.telegram is None:
            return None
        from bot.sender import TelegramSender

        return TelegramSender(self.telegram.bot)

    def _sms_sender(self) -> TwilioSender | None:
        settings = self.settings
        if not (settings.sms_configured and settings.twilio_account_sid):
            return None
        from sms.sender import TwilioSender

        return TwilioSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token or "",
            settings.twilio_senders,
            settings.base_url,
            settings.twilio_api_base,
        )

    def sms_limits(self) -> ChannelLimits:
        """Each sending number's rate, times the numbers (a Messaging Service counts as one
        at the rate the account was granted)."""
        numbers = max(1, len(self.settings.twilio_senders))
        rate = self.settings.twilio_rate_per_s * numbers * SMS_RATE_HEADROOM
        return ChannelLimits(per_second=rate)


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    return Container(settings=settings, bus=event_bus(settings), clock=clock)


def event_bus(settings: Settings) -> EventBus:
    """Redis when it is configured (every process hears every other), else in-process."""
    if not settings.redis_url:
        return InProcessBus()
    from core.bus.redis import RedisBus

    return RedisBus(settings.redis_url)
