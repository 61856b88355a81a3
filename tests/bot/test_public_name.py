"""Through the real aiogram bot and the Bot API emulator: a patient reads the queue's public
name in its messages and replies, never its real name."""

from __future__ import annotations

from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from tests.bot.conftest import Live

PATIENT = 1001


async def test_the_bot_names_the_queue_as_patients_may_read_it(live: Live) -> None:
    queues, tg = live.container.queues, live.tg
    await queues.create_queue(
        "SHC", "Sexual health clinic", "S", QueueConfig(), ["1"], public_name="Clinic 4"
    )
    await queues.join("SHC", new_join_request(name="Walk In"), "staff:ana")
    await live.say(PATIENT, "/start q_SHC")
    [joined] = await tg.wait_for_message(PATIENT, "S-002")
    await live.say(PATIENT, "/status")
    [status] = await tg.wait_for_message(PATIENT, "S-002 \u2013 Clinic 4")
    await queues.call_next("SHC", "1", "staff:ana")  # the walk-in: the patient is next
    [close] = await tg.wait_for_message(PATIENT, "You are next at Clinic 4")
    for message in (joined, status, close):
        assert "Clinic 4" in message.text and "Sexual" not in message.text, message.text
