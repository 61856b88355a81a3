"""Provider trouble: flood control, server errors, timeouts, blocked chats, giving up,
a dispatcher killed mid-batch, and Redis going away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import time
from collections import Counter

import pytest

from bot.app import IN_FLIGHT, UPDATE_GRACE_S, UpdatesInFlight, run_polling
from core.delivery.dispatcher import DispatchSettings
from core.domain.model import QueueConfig
from core.services.queues import new_join_request
from core.storage.models import OutboxMessage
from tests.bot.conftest import Live, live_nextup
from tests.bot.test_visit import wait_until
from tests.conftest import on_postgres
from tests.emulators.telegram import TelegramEmulator
from tests.processes import NEXTUP, clean_env, free_port

PATIENT = 1001


async def join(live: Live, chat_id: int = PATIENT) -> str:
    joined = await live.container.queues.join(
        "PHARM", new_join_request(telegram_chat_id=chat_id), "test"
    )
    return joined.ticket.id


async def settled(ticket_id: str, timeout_s: float = 10.0) -> OutboxMessage:
    """The ticket's one notification, once it is no longer queued or being sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        [row] = await OutboxMessage.filter(ticket_id=ticket_id)
        if row.status not in ("queued", "sending"):
            return row
        assert time.monotonic() < deadline, f"still {row.status}: {row.last_error}"
        await asyncio.sleep(0.05)


async def test_flood_control_is_honoured_and_the_message_arrives_once(live: Live) -> None:
    live.tg.fail_next("sendMessage", "retry_after", retry_after=2)
    started = time.monotonic()
    ticket_id = await join(live)
    [message] = await live.tg.wait_for_message(PATIENT, "A-001", timeout_s=8)
    refused = [r for r in live.tg.requests if r.outcome == "retry_after"]
    assert len(refused) == 1
    assert message.at - refused[0].at >= 2.0
    assert message.at - started >= 2.0
    row = await settled(ticket_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(live.tg.messages_to(PATIENT)) == 1


async def test_server_errors_are_retried_until_delivered_once(live: Live) -> None:
    live.tg.fail_next("sendMessage", "server_error", times=3, status=502)
    ticket_id = await join(live)
    await live.tg.wait_for_message(PATIENT, "A-001", timeout_s=10)
    row = await settled(ticket_id)
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 4, "1")
    assert len(live.tg.messages_to(PATIENT)) == 1
    assert len([r for r in live.tg.requests if r.outcome == "server_error"]) == 3


async def test_a_timeout_is_retried(live: Live) -> None:
    assert live.container.telegram is not None
    live.container.telegram.bot.session.timeout = 1
    live.tg.fail_next("sendMessage", "timeout", delay_s=3)
    ticket_id = await join(live)
    await live.tg.wait_for_message(PATIENT, "A-001", timeout_s=10)
    row = await settled(ticket_id)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_giving_up_is_visible_on_the_ticket(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    live.tg.fail_next("sendMessage", "server_error", times=10, status=503)
    ticket_id = await join(live)
    row = await settled(ticket_id, timeout_s=15)
    assert (row.status, row.attempts) == ("failed", 5)  # FAST_RETRY.max_attempts
    assert row.last_error and "gave up after 5 attempts" in row.last_error
    assert any("failed" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert live.tg.messages_to(PATIENT) == []


async def test_a_blocked_chat_fails_at_once(live: Live) -> None:
    live.tg.block_chat(PATIENT)
    row = await settled(await join(live))
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error and "blocked" in row.last_error


async def test_called_goes_ahead_of_routine_messages(live: Live) -> None:
    """With a backlog of routine messages, a "called" one overtakes it. Telegram holds the
    first sends open, so the backlog is there however fast this machine sends; how soon the
    "called" message goes is measured in bench/notify.py, not here. The patient called is
    the last to have joined: their own "joined", still queued, is superseded by the call
    (a patient's messages keep their order, so one in flight would go first)."""
    live.tg.enforce_limits(per_bot_per_s=30, per_chat_interval_s=1.0)
    live.tg.hold_sends()
    chats = range(5000, 5120)
    tickets = [await join(live, chat) for chat in chats]
    in_flight = live.dispatcher.settings.max_in_flight
    deadline = time.monotonic() + 30
    while len(live.tg.in_flight) < in_flight:  # the channel is full
        assert time.monotonic() < deadline, live.tg.dump()
        await asyncio.sleep(0.05)
    called = await live.container.queues.ticket_action(tickets[-1], "call", "staff:ana", "1")
    assert called.telegram_chat_id == chats[-1]
    while not await OutboxMessage.filter(urgent=True, status="sending").exists():
        assert time.monotonic() < deadline, "the dispatcher should have claimed the call"
        await asyncio.sleep(0.05)
    live.tg.release_sends()

    sent = sorted(await live.tg.wait_for_sent_count(len(chats), timeout_s=60), key=lambda m: m.at)
    [call] = [m for m in sent if "counter 1" in m.text]
    assert [m.text for m in live.tg.messages_to(chats[-1])] == [call.text]
    ahead = [m for m in sent if m.at < call.at]
    # Only what was already in flight, and what took the places left free as the held sends
    # were answered, can go before it; without priority, all 119 would.
    assert len(ahead) <= 2 * in_flight, [m.chat_id for m in ahead]
    assert live.tg.too_many_requests == 0


# -- a dispatcher killed in the middle of a batch -----------------------------------------


def start_worker(db_url: str, tg: TelegramEmulator, log_path: str) -> subprocess.Popen[bytes]:
    env = clean_env(
        DATABASE_URL=db_url,
        TELEGRAM_TOKEN=tg.token,
        TELEGRAM_API_BASE=tg.base_url,
        OUTBOX_LEASE_S="2",
        OUTBOX_POLL_S="0.2",
    )
    with open(log_path, "ab") as log:
        return subprocess.Popen([NEXTUP, "worker"], env=env, stdout=log, stderr=log)


async def test_a_killed_dispatcher_loses_nothing_and_repeats_at_most_what_was_in_flight(
    migrated: str, tg: TelegramEmulator, tmp_path: object
) -> None:
    if not on_postgres():
        pytest.skip("a worker process beside the tests needs PostgreSQL (as in production)")
    chats = range(6000, 6040)
    log_path = f"{tmp_path}/worker.log"
    async with live_nextup(migrated, tg, poll=False, dispatch=False) as live:
        await live.container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
        for chat in chats:
            await join(live, chat)
        tg.response_delay_s = 0.3  # so that sends are in flight when the blow lands
        worker = start_worker(migrated, tg, log_path)
        try:
            await tg.wait_for_sent_count(10, timeout_s=30)
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            # What the worker wrote to its sockets before dying may still be on its way to the
            # emulator: let it arrive before reading what reached Telegram.
            await asyncio.sleep(0.5)
            reached = {int(r.params["chat_id"]) for r in tg.requests if r.method == "sendMessage"}
            unrecorded = {
                int(row.recipient) for row in await OutboxMessage.filter(status="sending")
            }
            worker = start_worker(migrated, tg, log_path)
            deadline = time.monotonic() + 40
            while {m.chat_id for m in tg.sent} != set(chats):
                assert time.monotonic() < deadline, tg.dump()
                await asyncio.sleep(0.1)
            while await OutboxMessage.exclude(status="sent").count():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
        repeated = {chat for chat, n in Counter(m.chat_id for m in tg.sent).items() if n > 1}
        # Only a send that reached Telegram but whose result the dead worker had not yet
        # recorded can go twice; there are at most `max_in_flight` such sends at a time.
        maybe_twice = reached & unrecorded
        assert maybe_twice, "the kill should have caught sends in flight"
        assert repeated <= maybe_twice, (repeated, maybe_twice)
        assert len(maybe_twice) <= DispatchSettings.max_in_flight


# -- Redis goes away ------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: object) -> object:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    yield process, f"redis://127.0.0.1:{port}/0"
    if process.poll() is None:
        process.kill()
        process.wait()


async def test_notifications_go_out_by_polling_when_redis_is_down(
    migrated: str, tg: TelegramEmulator, private_redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    process, url = private_redis
    await asyncio.sleep(0.3)  # redis-server starting
    async with live_nextup(migrated, tg, poll=False, bus_url=url) as live:
        await live.container.queues.create_queue("PHARM", "Pharmacy", "A", QueueConfig(), ["1"])
        await join(live, 7001)
        await tg.wait_for_message(7001, "A-001")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        started = time.monotonic()
        await join(live, 7002)  # the publish fails; the command does not
        [message] = await tg.wait_for_message(7002, "A-002", timeout_s=5)
        assert message.at - started < 2.5  # found by polling within about a second


# -- the bot's replies ----------------------------------------------------------------------


SORRY = "Sorry, something went wrong"


async def test_a_reply_under_flood_control_is_retried_after_the_wait_and_delivered(
    live: Live,
) -> None:
    live.tg.fail_next("sendMessage", "retry_after", times=2, retry_after=1)
    answer = await live.reply_to(PATIENT, "/status", "no ticket")
    refused = [r for r in live.tg.requests if r.outcome == "retry_after"]
    assert len(refused) == 2
    assert answer.at - refused[0].at >= 2.0  # each refusal's second was waited out
    assert not [m for m in live.tg.messages_to(PATIENT) if SORRY in m.text]


async def test_a_reply_under_server_errors_and_timeouts_is_retried_and_delivered(
    live: Live,
) -> None:
    live.tg.fail_next("sendMessage", "server_error", times=2)
    live.tg.fail_next("sendMessage", "server_error", times=1, status=503)
    answer = await live.reply_to(PATIENT, "/status", "no ticket")
    failed = [r for r in live.tg.requests if r.outcome == "server_error"]
    assert len(failed) == 3 and answer.at > failed[-1].at
    assert not [m for m in live.tg.messages_to(PATIENT) if SORRY in m.text]
    assert len(live.tg.messages_to(PATIENT)) == 1


async def test_a_button_answer_is_retried_too(live: Live) -> None:
    await join(live)
    await live.container.queues.call_next("PHARM", "1", "staff:ana")
    [call] = await live.tg.wait_for_message(PATIENT, "counter 1")
    live.tg.fail_next("answerCallbackQuery", "server_error", times=2)
    ticket_id = (await OutboxMessage.filter(kind="called").first()).ticket_id  # type: ignore[union-attr]
    await live.tg.press_button(PATIENT, call.message_id, f"ack:{ticket_id}")
    deadline = time.monotonic() + 10
    while not live.tg.callback_answers:
        assert time.monotonic() < deadline, live.tg.dump()
        await asyncio.sleep(0.05)
    outcomes = [r.outcome for r in live.tg.requests if r.method == "answerCallbackQuery"]
    assert outcomes == ["server_error", "server_error", "ok"]


async def test_flood_control_on_a_reply_pauses_the_bot_s_notifications_too(live: Live) -> None:
    live.tg.fail_next("sendMessage", "retry_after", retry_after=2)
    await live.say(PATIENT, "/status")
    deadline = time.monotonic() + 5
    while not [r for r in live.tg.requests if r.outcome == "retry_after"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    [refused] = [r for r in live.tg.requests if r.outcome == "retry_after"]
    await join(live, PATIENT + 1)  # another chat: the whole bot waits
    [joined] = await live.tg.wait_for_message(PATIENT + 1, "A-001", timeout_s=8)
    assert joined.at - refused.at >= 2.0
    assert live.tg.too_many_requests == 0


async def test_a_stop_lets_a_reply_on_its_way_finish_and_cuts_short_one_still_held(
    migrated: str, tg: TelegramEmulator
) -> None:
    """Polling hands each update to a task of its own; the bot's stop ends those too, so no
    reply is still being sent (and booked under the chat's limits) once it has stopped."""
    async with live_nextup(migrated, tg, poll=False, dispatch=False) as live:
        assert live.container.telegram is not None
        bot, dp = live.container.telegram.bot, live.container.telegram.dispatcher
        in_flight: UpdatesInFlight = dp[IN_FLIGHT]
        for answered_after_s, finished in ((0.3, True), (UPDATE_GRACE_S + 3, False)):
            tg.hold_sends()
            polling = asyncio.create_task(run_polling(bot, dp))
            await live.say(PATIENT, "/help")
            await wait_until(lambda: bool(tg.in_flight))  # the reply is sent, its answer held
            handling = set(in_flight.tasks)
            assert len(handling) == 1
            answer = asyncio.get_running_loop().call_later(answered_after_s, tg.release_sends)
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            answer.cancel()
            tg.release_sends()
            assert all(task.done() for task in handling) and not in_flight.tasks
            assert [task.cancelled() for task in handling] == [not finished]
