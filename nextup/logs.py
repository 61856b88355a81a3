"""How every process logs: one configuration for `serve` (each of its Sanic workers applies
it too), `worker` and `bot`, so every line carries its time (UTC), level, logger and
process, in text or as JSON lines for a log shipper."""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
import time
from typing import Any

from core.redact import install_log_masking
from core.settings import LogFormat

OWN_LOGGERS = ("nextup", "core", "web", "bot", "sms")
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.server", "sanic.websockets", "sanic.access")
QUIET_LOGGERS = {
    "twilio": "WARNING",  # it logs every request at INFO
    "aiogram.event": "WARNING",  # a line per update handled
}

HANDLER_FILTERS: dict[str, dict[str, Any]] = {"mask": {"()": "core.redact.LogMasking"}}
"""Filters installed on every handler, by name (`dictConfig` filter definitions), so they
apply to every line of every process shape: phone numbers and tokens are masked
(`core.redact`)."""


class UtcFormatter(logging.Formatter):
    """Times in UTC, ISO 8601 with milliseconds: `2026-03-02T09:00:00.123Z`."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.converter = time.gmtime


class TextFormatter(UtcFormatter):
    """`2026-03-02T09:00:00.123Z INFO nextup.serve [Sanic-Server-0-0 4242] message`. The
    further lines of one record (a message's own, a traceback) are indented, so that every
    line that starts at the margin starts a record."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(processName)s %(process)d] %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\n  ")


class JsonFormatter(UtcFormatter):
    """One JSON object per line: time, level, logger, process, pid, message (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def logging_config(log_format: LogFormat = LogFormat.TEXT) -> dict[str, Any]:
    """The `dictConfig` every process applies. One handler (stderr) on the root logger;
    NextUp's and Sanic's loggers pass their INFO lines up to it, anything else its
    warnings. Sanic's workers get it as the app's `log_config`, since they are separate
    processes that never run `main()`."""
    formatter = JsonFormatter if log_format is LogFormat.JSON else TextFormatter
    info = {"level": "INFO", "handlers": [], "propagate": True}
    loggers: dict[str, Any] = {name: dict(info) for name in (*OWN_LOGGERS, *SANIC_LOGGERS)}
    loggers |= {name: {"level": level} for name, level in QUIET_LOGGERS.items()}
    return {
        "version": 1,
        # Modules imported before this ran hold their loggers: they must keep logging.
        "disable_existing_loggers": False,
        "filters": dict(HANDLER_FILTERS),
        "formatters": {"line": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": list(HANDLER_FILTERS),
            }
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": loggers,
    }


def configure_logging(log_format: LogFormat = LogFormat.TEXT, process: str | None = None) -> None:
    """This process's logging; `process` names it in every line (`nextup-worker`)."""
    if process:
        multiprocessing.current_process().name = process
    logging.config.dictConfig(logging_config(log_format))
    install_log_masking()  # also in records' `extra` fields, and in libraries' own handlers
