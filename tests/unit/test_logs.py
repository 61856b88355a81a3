"""What every log line carries, in text and as JSON, and that the configuration passes
NextUp's and Sanic's INFO lines to the one handler while other libraries say only warnings."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from collections.abc import Iterator
from typing import Any

import pytest

from core.settings import LogFormat
from nextup import logs

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<logger>[\w.]+) "
    r"\[(?P<process>[^\]]+) (?P<pid>\d+)\] (?P<message>.*)$"
)


class Captured:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.text = ""

    def getvalue(self) -> str:
        self.text += self.capsys.readouterr().err
        return self.text


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    """What the configuration writes to stderr; logging is put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    names = [*logs.OWN_LOGGERS, *logs.SANIC_LOGGERS, *logs.QUIET_LOGGERS, "aiogram.dispatcher"]
    levels = {n: (logging.getLogger(n).level, logging.getLogger(n).handlers[:]) for n in names}
    yield Captured(capsys)
    root.handlers, root.level = saved
    for name, (level, handlers) in levels.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).handlers = handlers


def lines(stream: Captured) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_carry_time_level_logger_and_process(captured: Captured) -> None:
    logs.configure_logging(LogFormat.TEXT)
    logging.getLogger("core.delivery.dispatcher").info("notification %s sent", 7)
    logging.getLogger("sanic.server").info("Starting worker")
    logging.getLogger("aiogram.dispatcher").info("not ours: below the root's level")
    logging.getLogger("twilio.http_client").info("every request")
    logging.getLogger("aiogram.dispatcher").warning("a library's warning")
    found = [TEXT_LINE.match(line) for line in lines(captured)]
    assert all(found), lines(captured)
    assert [(m["level"], m["logger"], m["message"]) for m in found if m] == [
        ("INFO", "core.delivery.dispatcher", "notification 7 sent"),
        ("INFO", "sanic.server", "Starting worker"),
        ("WARNING", "aiogram.dispatcher", "a library's warning"),
    ]


def test_further_lines_of_a_record_are_indented(captured: Captured) -> None:
    logs.configure_logging(LogFormat.TEXT)
    logging.getLogger("core.delivery.inbox").info("dev inbox: sms to +34•••22: A-001\nPlace 1")
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("bot.app").exception("bot update failed")
    at_margin = [line for line in lines(captured) if not line.startswith("  ")]
    assert [TEXT_LINE.match(line) is not None for line in at_margin] == [True, True]
    assert "  Place 1" in lines(captured)
    assert "  ValueError: broken" in lines(captured)


def test_the_process_is_named(captured: Captured) -> None:
    import multiprocessing

    before = multiprocessing.current_process().name
    try:
        logs.configure_logging(LogFormat.TEXT, process="nextup-worker")
        logging.getLogger("nextup.roles").info("running")
    finally:
        multiprocessing.current_process().name = before
    match = TEXT_LINE.match(lines(captured)[0])
    assert match is not None and match["process"] == "nextup-worker"
    assert int(match["pid"]) > 0


def test_json_lines_for_log_shippers(captured: Captured) -> None:
    logs.configure_logging(LogFormat.JSON)
    logging.getLogger("web.app").info("ready on %d", 8000)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("bot.app").exception("bot update failed")
    first, second = (json.loads(line) for line in lines(captured) if line.startswith("{"))
    assert first.keys() == {"time", "level", "logger", "process", "pid", "message"}
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "web.app",
        "ready on 8000",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert second["level"] == "ERROR" and "ValueError: broken" in second["exc"]


def test_every_handler_gets_every_filter(
    captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Shout(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = str(record.msg).upper()
            return True

    filters: dict[str, dict[str, Any]] = {"shout": {"()": lambda: Shout()}}
    monkeypatch.setattr(logs, "HANDLER_FILTERS", filters)
    config = logs.logging_config()
    assert all(h["filters"] == ["shout"] for h in config["handlers"].values())
    logging.config.dictConfig(config)
    logging.getLogger("sms.webhooks").info("text from a patient")
    assert lines(captured)[0].endswith("TEXT FROM A PATIENT")
