"""What log lines may say about patients and credentials: phone numbers, patient-page and
API tokens, the Telegram bot token and the Twilio account masked.

`redact` masks a text; `install_log_masking` makes every log record of the process pass
through it, whoever logs it (NextUp, Sanic, aiogram, aiohttp, twilio) and whichever handler
writes it, so a log shipped to a third party (or read over a shoulder) gives away neither a
number nor the key to someone's ticket, an account or the bot.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable
from typing import Any

PHONE = re.compile(r"(?:\+|%2[Bb])\d{7,15}\b|\b\d{9,15}\b")
"""A number in E.164 (as stored; `%2B` when URL-encoded, as in a Twilio request body), or
a long run of digits (one typed without +, a chat id); not times, dates or counts."""
CHAT_ID = re.compile(r"(?i)(\bchat(?:_id|\.id)?[\"']?\s*[:=]?\s*[\"']?)(-?\d{5,8})\b")
"""A shorter Telegram chat id, known by its name (`chat 1234567`, `"chat_id": 1234567`):
PHONE takes the longer ones wherever they are."""
TOKEN_IN_PATH = re.compile(r"(/(?:t|ws/tickets|api/v1/public/tickets)/)([^/?#\s\"'<>]+)")
"""A patient-page token where it travels: in the page's, the websocket's or the API's path."""
BOT_TOKEN = re.compile(r"(?<!\d)(\d{3,15}):[A-Za-z0-9_-]{30,}")
"""A Telegram bot token (`123456:ABC…`), in a Bot API URL (`/bot<token>/sendMessage`) or
anywhere else: the part after the colon is the bot's password."""
API_TOKEN = re.compile(r"\bnxt_[A-Za-z0-9_-]{8,}")
"""A NextUp API token (`accounts.TOKEN_PREFIX`)."""
TWILIO_ACCOUNT = re.compile(r"\bAC[0-9a-fA-F]{32}\b")
"""The Twilio Account SID: half of the credential pair, and in every REST URL. Message and
call SIDs (`SM…`, `CA…`) stay: without the credentials they open nothing, and staff need
them to find a message in Twilio's console."""
CREDENTIAL = re.compile(
    r"(?i)((?:authorization|x-telegram-bot-api-secret-token)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic)\s+)?"
    r"|\b(?:auth_token|access_token|token|secret|secret_key|password|api_key)[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s\"'&,;}]+)"
)
"""A credential by its name: a header, a `key=value` or a JSON `"key": "value"`."""
CREDENTIAL_WORDS = ("authorization", "secret", "token", "password", "api_key")
"""One of these (lower-cased) is in every text CREDENTIAL matches."""
URL_USERINFO = re.compile(r"(//)[^/\s:@]+:[^/\s@]+@")
"""`https://user:password@host`: twilio's client may log the URL it was given."""
KEPT_DIGITS = 2
KEPT_TOKEN = 4
HIDDEN = "…"


def mask_phone(phone: str) -> str:
    """`+15550100123` -> `+1•••••••23`: the country, the last two digits, nothing else."""
    phone = phone.strip()
    encoded = phone[:3].upper() == "%2B"  # URL-encoded, as in a request body
    digits = re.sub(r"\D", "", phone[3:] if encoded else phone)
    if len(digits) <= KEPT_DIGITS + 1:
        return "•" * len(digits)
    head = ("%2B" if encoded else "+" if phone.startswith("+") else "") + digits[0]
    return head + "•" * (len(digits) - 1 - KEPT_DIGITS) + digits[-KEPT_DIGITS:]


def mask_token(token: str) -> str:
    return token[:KEPT_TOKEN] + HIDDEN if len(token) > KEPT_TOKEN else HIDDEN


def redact(text: str) -> str:
    """`text` with every phone number, token and credential in it masked. Masking a masked
    text changes nothing, so a record may pass through it more than once."""
    # Every log line comes through here: a pattern runs only when the text holds what it
    # must match (a substring test costs a fraction of a regular expression's scan).
    if "@" in text:
        text = URL_USERINFO.sub(lambda m: m[1] + HIDDEN + "@", text)
    if ":" in text:
        text = BOT_TOKEN.sub(lambda m: m[1] + ":" + HIDDEN, text)
    if "nxt_" in text:
        text = API_TOKEN.sub("nxt_" + HIDDEN, text)
    if "AC" in text:
        text = TWILIO_ACCOUNT.sub(lambda m: "AC" + HIDDEN + m[0][-KEPT_TOKEN:], text)
    lowered = text.lower()
    if any(word in lowered for word in CREDENTIAL_WORDS):
        text = CREDENTIAL.sub(lambda m: m[1] + HIDDEN, text)
    if "/" in text:
        text = TOKEN_IN_PATH.sub(lambda m: m[1] + mask_token(m[2]), text)
    if "chat" in lowered:
        text = CHAT_ID.sub(_masked_chat_id, text)
    return PHONE.sub(lambda m: mask_phone(m[0]), text)


def _masked_chat_id(match: re.Match[str]) -> str:
    sign = "-" if match[2].startswith("-") else ""  # a group's id
    return match[1] + sign + mask_phone(match[2])


# -- log records -------------------------------------------------------------------------

_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
"""What every record has; anything else came in `extra=` (Sanic's access line puts the
request's URL there)."""
_TRACEBACKS = logging.Formatter()
_MADE_MASKED: weakref.WeakSet[logging.LogRecord] = weakref.WeakSet()
"""Records masked as they were made (by `_MaskingFactory`)."""


def mask_record(record: logging.LogRecord) -> None:
    """Masks the record in place: its message (with its arguments merged in), traceback,
    stack and `extra` fields."""
    if record not in _MADE_MASKED:
        _mask_made(record)
    for key in vars(record).keys() - _STANDARD_FIELDS:
        setattr(record, key, _masked(getattr(record, key)))


def _mask_made(record: logging.LogRecord) -> None:
    """What a record holds once made, before `extra` is added. A record whose arguments do
    not fit its message stays the error it is, for the handler to report (with the call
    that made it), but that report prints the arguments: they are masked one by one."""
    try:
        record.msg, record.args = redact(record.getMessage()), ()
    except Exception:  # logging's own error report names the culprit
        record.msg = redact(str(record.msg))
        record.args = _masked_args(record.args)
    if record.exc_info and not record.exc_text:
        # Formatters print `exc_text` when it is set: a traceback quotes values and URLs.
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _masked(value: Any) -> Any:
    """Strings and long numbers masked, also inside the dicts and lists Sanic's formatter
    prints."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):  # a chat id, say
        text = str(value)
        return value if redact(text) == text else redact(text)
    return value


def _masked_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(redact(str(a)) for a in args)
    if isinstance(args, dict):
        return {k: redact(str(v)) for k, v in args.items()}
    return args


class LogMasking(logging.Filter):
    """A handler filter: what the handler writes is masked, `extra` fields included."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


RecordFactory = Callable[..., logging.LogRecord]


class _MaskingFactory:
    """Wraps the process's log record factory: every record is masked as it is made, so
    handlers nobody here configured (Sanic's, logging's last resort, a test's) get it masked
    too."""

    def __init__(self, inner: RecordFactory) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        _mask_made(record)
        # Handler filters then mask only what is added after (`extra`), not all again.
        _MADE_MASKED.add(record)
        return record


def install_log_masking(handler: logging.Handler | None = None) -> None:
    """Masks phone numbers, tokens and credentials in what is logged.

    With a handler: in what that handler writes. Without: in every record the process
    makes, whoever logs it, and in every handler configured so far (which also masks
    `extra` fields, made after the record). Call it again after a library configures its
    own handlers (Sanic does when an app is made). Installing twice changes nothing.
    """
    if handler is not None:
        if not any(isinstance(f, LogMasking) for f in handler.filters):
            handler.addFilter(LogMasking())
        return
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _MaskingFactory):
        logging.setLogRecordFactory(_MaskingFactory(factory))
    for each in _all_handlers():
        install_log_masking(each)


def _all_handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    for candidate in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(candidate, logging.Logger):
            loggers.append(candidate)
    found = [h for each in loggers for h in each.handlers]
    if logging.lastResort is not None:
        found.append(logging.lastResort)
    return list(dict.fromkeys(found))
