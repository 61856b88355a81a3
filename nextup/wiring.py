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
from core.delivery.limits import ChannelLimits, Limiter, LocalLimiter, bot_id_of, telegram_limits
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
    from core.storage.poller_lock import PollerLock
    from sms.sender import TwilioSender
    from sms.voice import TwilioVoiceSender

DEV_INBOX_LIMITS = ChannelLimits("dev_inbox", count=200, window_s=1.0, local_only=True)
POLLER_RETRY_S = 2.0
"""How often a process refused the Telegram poller lock asks again (and the holder checks
that its database connection, and so its lock, is alive)."""
VOICE_LIMITS = ChannelLimits("twilio:voice", count=1, window_s=1.0)
"""Twilio places one outbound call a second per account unless raised (its "CPS"); a
ladder's calls are a few an hour."""
SMS_RATE_HEADROOM = 0.99
"""Sends are spaced a little under each number's rate, so network jitter never makes two
of them arrive at Twilio closer than the rate allows."""
SMS_LIMITS_IDENTITY = "twilio"


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
    limiter: Limiter = field(init=False)
    """The provider limits, shared by every process through Redis when it is configured:
    the dispatcher's sends and the bot's replies both go through it."""
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
        self.limiter = provider_limiter(settings)
        if settings.telegram_token:
            from bot.app import build_dispatcher
            from bot.client import make_bot

            self.telegram = Telegram(
                make_bot(
                    settings.telegram_token,
                    settings.telegram_api_base,
                    self.limiter,
                    self.telegram_limits(),
                ),
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
        await self.limiter.close()
        await db.disconnect()

    async def telegram_deep_link(self, code: str) -> str | None:
        """`https://t.me/<bot>?start=q_<CODE>`: what the poster's QR code opens."""
        if self.telegram is None:
            return None
        from bot.patients import DEEP_LINK_PREFIX

        me = await self.telegram.bot.me()
        return f"https://t.me/{me.username}?start={DEEP_LINK_PREFIX}{code}"

    def poller_lock(self, process: str) -> PollerLock:
        """The lock that keeps one Telegram poller per bot: in Redis when it is configured,
        else in the database (PostgreSQL's advisory lock, a file beside SQLite)."""
        from core.storage import poller_lock as locks

        settings = self.settings
        assert settings.telegram_token is not None
        name = locks.lock_name(settings.telegram_token)
        me = locks.Holder.this_process(process)
        retry_s = POLLER_RETRY_S
        if settings.redis_url:
            ttl_s = settings.bot_lock_ttl_s
            return locks.RedisPollerLock(settings.redis_url, name, me, ttl_s, retry_s)
        if not settings.is_embedded:
            return locks.PostgresPollerLock(settings.database_url, name, me, retry_s)
        return locks.FilePollerLock(locks.lock_file_path(settings.database_url, name), me, retry_s)

    def notification_dispatcher(self, **overrides: Any) -> Dispatcher:
        """A dispatcher over every channel: the real sender where there are credentials,
        the dev inbox elsewhere (or, in production, a sender that fails visibly)."""
        senders: dict[str, Sender] = {}
        limits: dict[str, ChannelLimits] = {}
        for channel, real, real_limits in (
            ("telegram", self._telegram_sender(), self.telegram_limits()),
            ("sms", self._sms_sender(), self.sms_limits()),
        ):
            if real is not None:
                senders[channel], limits[channel] = real, real_limits
            elif self.settings.dev_inbox:
                senders[channel], limits[channel] = DevInboxSender(), DEV_INBOX_LIMITS
            else:
                senders[channel], limits[channel] = UnconfiguredSender(channel), DEV_INBOX_LIMITS
        ladder_channels = set()
        if self.settings.sms_configured or self.settings.dev_inbox:
            ladder_channels.add("sms")
        voice = self._voice_sender()
        if voice is not None:  # no voice in the dev inbox: the ladder skips the step
            senders["voice"], limits["voice"] = voice, VOICE_LIMITS
            ladder_channels.add("voice")
        settings = DispatchSettings(
            base_url=self.settings.base_url,
            default_language=self.settings.default_language,
            lease_s=self.settings.outbox_lease_s,
            poll_interval_s=self.settings.outbox_poll_s,
            ladder_channels=frozenset(ladder_channels),
        )
        settings = dataclasses.replace(settings, **overrides)
        return Dispatcher(
            senders,
            limits,
            self.bus,
            settings,
            self.clock,
            mark_unreachable=self.queues.mark_unreachable,
            limiter=self.limiter,
        )

    def _voice_sender(self) -> TwilioVoiceSender | None:
        settings = self.settings
        if not (settings.voice_configured and settings.twilio_account_sid):
            return None
        from sms.voice import TwilioVoiceSender

        return TwilioVoiceSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token or "",
            settings.twilio_voice_from or "",
            settings.base_url,
            settings.twilio_api_base,
        )

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

    def telegram_limits(self) -> ChannelLimits:
        return telegram_limits(bot_id_of(self.settings.telegram_token or "dev"))

    def sms_limits(self) -> ChannelLimits:
        """Each sending number at its rate, every process together (a Messaging Service
        counts as one number, at the rate the account was granted): a send goes from the
        first number with room."""
        rate = self.settings.twilio_rate_per_s * SMS_RATE_HEADROOM
        return ChannelLimits(
            SMS_LIMITS_IDENTITY,
            count=1,
            window_s=1.0 / rate,
            origins=tuple(self.settings.twilio_senders),
        )


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    return Container(settings=settings, bus=event_bus(settings), clock=clock)


def provider_limiter(settings: Settings) -> Limiter:
    """Redis when it is configured (every process shares each bot's and number's limits),
    else this process's memory."""
    if not settings.redis_url:
        return LocalLimiter()
    from core.delivery.shared_limits import SharedLimiter

    return SharedLimiter(settings.redis_url)


def event_bus(settings: Settings) -> EventBus:
    """Redis when it is configured (every process hears every other), else in-process."""
    if not settings.redis_url:
        return InProcessBus()
    from core.bus.redis import RedisBus

    return RedisBus(settings.redis_url)
