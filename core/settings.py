"""Settings from `NEXTUP_*` environment variables (and a `.env` file), as in the contract."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import secrets
import time
from enum import StrEnum
from pathlib import Path

import phonenumbers
from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = Path(".secret_key")
MIN_SECRET_KEY = 32
"""Characters of NEXTUP_SECRET_KEY in production: sessions and CSRF tokens are signed with it."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class ProcessRole(StrEnum):
    """What a long-running process does (NEXTUP_ROLES, `serve --roles`)."""

    WEB = "web"
    """HTTP: the API, console, pages, websockets and the webhooks."""
    DISPATCHER = "dispatcher"
    """Sends the outbox's notifications, and the periodic housekeeping (no-show sweep)."""
    BOT = "bot"
    """Long-polls Telegram (polling mode only; one process per bot holds the poller lock)."""


ALL_ROLES = frozenset(ProcessRole)


def parse_roles(text: str) -> frozenset[ProcessRole]:
    """`web,dispatcher` as roles; an unknown or missing role is a ValueError."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    known = [role.value for role in ProcessRole]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        problem = f"unknown role {', '.join(unknown)}" if unknown else "no role given"
        raise ValueError(f"{problem}: use one or more of {','.join(known)}")
    return frozenset(ProcessRole(n) for n in names)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and what is wrong."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def networks(text: str | None) -> tuple[IPNetwork, ...]:
    """`10.0.0.5, 10.1.0.0/16` as networks (a bare address is a network of one)."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    return tuple(ipaddress.ip_network(p, strict=False) for p in parts)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXTUP_", env_file=".env", extra="ignore")

    database_url: str = "sqlite://./nextup.sqlite3"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    secret_key: str | None = None
    telegram_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_webhook_secret: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_rate_per_s: float = 1.0
    """Messages a second per sending number (a long code: 1; toll-free, short codes and
    Messaging Services: what the account was granted)."""
    twilio_voice_from: str | None = None
    """The number (E.164) voice calls of the call ladder come from; unset: no voice calls
    (the ladder skips that step). Needs the account SID and auth token as well."""
    phone_region: str | None = None
    """Where local numbers (without +country code) are from, e.g. `US` or `ES`."""
    default_language: str = "en"
    env: Environment = Environment.DEVELOPMENT
    outbox_lease_s: float = 5.0
    """How long a dispatcher's claim of a notification holds unless renewed; the holder
    renews it every third of this while the message waits or is being sent, so this is
    how soon a dead dispatcher's messages are claimed again."""
    outbox_poll_s: float = 1.0
    """How often dispatchers look at the outbox when no event wakes them."""
    reevaluate_interval_s: float = 30.0
    """How often each queue with patients waiting is re-evaluated although no command
    happened: ETA changes, "leave now", a re-ordered line (dynamic, short-first's "due")."""
    trusted_proxies: str | None = None
    """Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For and
    X-Forwarded-Proto are believed; from any other peer they are ignored."""
    sms_joins_per_hour: int = 3
    """JOIN texts one number may send in an hour; past it the text gets no answer."""
    sms_replies_per_hour: int = 10
    """Replies (paid texts) one number is sent in an hour, whatever it texts."""
    sms_daily_cap: int = 30
    """Texts of any kind sent to one number in 24 hours (replies and notifications)."""
    roles: str = "web,dispatcher,bot"
    """What `nextup serve` does: any of web, dispatcher, bot (comma separated)."""
    bot_lock_ttl_s: float = 20.0
    """How long the Telegram poller lock outlives a poller that died without releasing it
    (Redis only: a database or file lock goes with its process)."""
    log_format: LogFormat = LogFormat.TEXT
    sms_allowed_countries: str | None = None
    """Regions (comma separated, e.g. `US,CA`) whose numbers may text in; default: the phone
    region; empty with no phone region: any."""
    retention_days: int = 30
    """Days after a visit ends before its patient's personal data is erased (daily)."""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("retention_days")
    @classmethod
    def _retention_range(cls, value: int) -> int:
        if not 0 <= value <= 3650:
            raise ValueError("must be between 0 and 3650 days")
        return value

    @field_validator("port")
    @classmethod
    def _port_range(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be between 0 and 65535")
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env is Environment.PRODUCTION and not self.secret_key:
            raise ValueError("NEXTUP_SECRET_KEY is required when NEXTUP_ENV=production")
        if self.env is Environment.PRODUCTION and len(self.secret_key or "") < MIN_SECRET_KEY:
            raise ValueError(
                f"NEXTUP_SECRET_KEY must be at least {MIN_SECRET_KEY} characters when "
                "NEXTUP_ENV=production (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        # Without it anyone who finds the URL can post updates as any chat, staff included.
        if self.telegram_mode is TelegramMode.WEBHOOK and not self.telegram_webhook_secret:
            raise ValueError(
                "NEXTUP_TELEGRAM_WEBHOOK_SECRET is required when NEXTUP_TELEGRAM_MODE=webhook"
            )
        return self

    @model_validator(mode="after")
    def _twilio_all_or_nothing(self) -> Settings:
        given = {
            "NEXTUP_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "NEXTUP_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "NEXTUP_TWILIO_FROM": self.twilio_from,
        }
        missing = [name for name, value in given.items() if not value]
        if 0 < len(missing) < len(given):
            raise ValueError(f"the SMS channel also needs {' and '.join(missing)}")
        if self.twilio_voice_from and missing:
            # Voice calls use the SMS channel's account, and its signed webhooks.
            raise ValueError(f"NEXTUP_TWILIO_VOICE_FROM also needs {' and '.join(missing)}")
        return self

    @field_validator("twilio_from")
    @classmethod
    def _senders(cls, value: str | None) -> str | None:
        if not value:
            return None
        for sender in value.split(","):
            sender = sender.strip()
            if not (
                re.fullmatch(r"\+[1-9]\d{6,14}", sender) or re.fullmatch(r"MG[0-9a-f]{32}", sender)
            ):
                raise ValueError(
                    "must be phone numbers in E.164 (+15551234567), separated by commas, "
                    "or one Messaging Service SID (MG...)"
                )
        return value

    @field_validator("twilio_voice_from")
    @classmethod
    def _voice_number(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"\+[1-9]\d{6,14}", value.strip()):
            raise ValueError("must be one phone number in E.164, e.g. +15550001234")
        return value.strip() if value else None

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region code such as US, GB or ES")
        return value.upper() if value else None

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        try:
            networks(value)
        except ValueError:
            raise ValueError(
                "must be IP addresses or CIDR ranges separated by commas, e.g. 10.0.0.5,10.1.0.0/16"
            ) from None
        return value or None

    @field_validator(
        "outbox_lease_s",
        "outbox_poll_s",
        "reevaluate_interval_s",
        "twilio_rate_per_s",
        "sms_joins_per_hour",
        "sms_replies_per_hour",
        "sms_daily_cap",
        "bot_lock_ttl_s",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be above 0")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: str) -> str:
        roles = parse_roles(value)
        return ",".join(role.value for role in ProcessRole if role in roles)

    @field_validator("sms_allowed_countries")
    @classmethod
    def _countries(cls, value: str | None) -> str | None:
        regions = [r.strip().upper() for r in (value or "").split(",") if r.strip()]
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown region codes {', '.join(unknown)} (use e.g. US,CA)")
        return ",".join(regions) or None

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return networks(self.trusted_proxies)

    @property
    def role_set(self) -> frozenset[ProcessRole]:
        return parse_roles(self.roles)

    @property
    def twilio_senders(self) -> list[str]:
        """The numbers SMS go out from (taken in turn), or one Messaging Service SID."""
        return [s.strip() for s in (self.twilio_from or "").split(",") if s.strip()]

    @property
    def sms_regions(self) -> frozenset[str]:
        """Where numbers that may text in are from; empty: anywhere."""
        if self.sms_allowed_countries:
            return frozenset(self.sms_allowed_countries.split(","))
        return frozenset({self.phone_region} if self.phone_region else ())

    @property
    def real_channel(self) -> bool:
        """A channel that costs money and reaches real people is configured."""
        return self.sms_configured or bool(self.telegram_token)

    @property
    def sms_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def voice_configured(self) -> bool:
        return self.sms_configured and bool(self.twilio_voice_from)

    @property
    def dev_inbox(self) -> bool:
        """Channels without credentials deliver to the dev inbox, except in production."""
        return self.env is not Environment.PRODUCTION

    @property
    def is_embedded(self) -> bool:
        """SQLite and the in-process bus: one process on one machine."""
        return self.database_url.startswith("sqlite://")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def signing_key(self) -> str:
        """The configured key, or one generated once and kept beside the embedded database."""
        if self.secret_key:
            return self.secret_key
        if SECRET_KEY_FILE.exists():
            return _written_key()
        key = secrets.token_urlsafe(48)
        # Created with its mode, never readable by others even for a moment; O_EXCL: two
        # processes starting together must not each write a different key.
        try:
            fd = os.open(SECRET_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _written_key()
        with os.fdopen(fd, "w") as file:
            file.write(key)
        return key


def _written_key(wait_s: float = 2.0) -> str:
    """The key another process has just created the file for, once it has written it."""
    deadline = time.monotonic() + wait_s
    while not (key := SECRET_KEY_FILE.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    if not key:
        raise SettingsError(f"{SECRET_KEY_FILE} is empty; delete it or set NEXTUP_SECRET_KEY")
    return key


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value becomes a SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            # A rule across settings names its variables in its message.
            problems.append(f"NEXTUP_{field.upper()}: {message}" if field else message)
        if len(problems) == 1:  # one line, as an operator's log shows it
            raise SettingsError(f"invalid setting: {problems[0]}") from None
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
