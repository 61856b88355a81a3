"""The timer that re-evaluates quiet lines, on the real storage (SQLite, PostgreSQL): time
passes with no command, and the patients hear what it made due, once, however many
processes run the timer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.bus import Message
from core.domain.model import QueueConfig, QueueMode
from core.services.housekeeping import housekeeping_forever, reevaluate_lines
from core.services.queues import QueueService, new_join_request
from core.storage.models import (
    DevInboxMessage,
    HourlyMetric,
    OutboxMessage,
    QueueRow,
    TicketEventRow,
    TicketRow,
)
from nextup.wiring import Container
from tests.conftest import FakeClock, services_required
from tests.processes import NEXTUP, clean_env, free_port

INTERVAL_S = 30.0
QUIET = QueueConfig(
    default_service_s=600, notify_positions=(), eta_change_margin_s=60, eta_update_interval_s=120
)


async def busy_line(
    queues: QueueService, code: str = "PHARM", config: QueueConfig = QUIET
) -> tuple[str, str]:
    """A visit at the counter from now, two walk-ins, a Telegram patient 15 minutes from
    home, then an SMS patient; returns the two patients' ticket ids."""
    await queues.create_queue(code, "Pharmacy", code[0], config, ["1"])
    for _ in range(3):
        await queues.join(code, new_join_request(), "staff")
    tg = await queues.join(code, new_join_request(telegram_chat_id=7, travel_s=900), "x")
    sms = await queues.join(code, new_join_request(phone="+34600111222"), "staff")
    await queues.call_next(code, "1", "staff")
    return tg.ticket.id, sms.ticket.id


async def kinds_sent(since: datetime | None = None) -> list[tuple[str, str]]:
    rows = OutboxMessage.all().order_by("created_at", "id")
    if since is not None:
        rows = rows.filter(created_at__gt=since)
    return [(str(m.ticket_id), m.kind) for m in await rows]  # type: ignore[attr-defined]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("not in time")
        await asyncio.sleep(0.05)


async def test_a_quiet_line_hears_a_changed_wait_and_leave_now_with_no_command(
    container: Container, clock: FakeClock
) -> None:
    queues = container.queues
    tg, sms = await busy_line(queues)
    start = clock.now
    assert await kinds_sent(start) == []
    timer = asyncio.create_task(housekeeping_forever(queues, reevaluate_interval_s=0.05))
    try:
        clock.advance(seconds=120)  # the visit at the counter goes on: waits get shorter
        await eventually(lambda: _has(("leave_now", tg)))
        # Both waits moved by the margin: the Telegram patient must set off now (which
        # tells the new wait too), the SMS patient hears the new wait.
        assert sorted(await kinds_sent(start)) == sorted([(tg, "leave_now"), (sms, "eta_changed")])

        clock.advance(seconds=120)
        await eventually(lambda: _has(("eta_changed", tg)))
        sent = await kinds_sent(start)
        assert Counter(sent)[(tg, "leave_now")] == 1 and Counter(sent)[(tg, "eta_changed")] == 1
    finally:
        timer.cancel()
    events = await TicketEventRow.filter(ticket_id=tg, at__gt=start).order_by("at")
    assert [(e.type, e.actor) for e in events] == [
        ("leave_now_advised", "system"),
        ("eta_revised", "system"),
    ]
    stored = await TicketRow.get(id=tg)
    assert stored.leave_now_sent and stored.announced_at == clock.now
    assert (await QueueRow.get(code="PHARM")).reevaluated_at == clock.now


async def _has(expected: tuple[str, str]) -> bool:
    kind, ticket_id = expected
    return await OutboxMessage.filter(kind=kind, ticket_id=ticket_id).exists()


async def test_nothing_is_written_when_time_changed_nothing(
    container: Container, clock: FakeClock
) -> None:
    queues = container.queues
    await queues.create_queue("PHARM", "Pharmacy", "A", QUIET, ["1"])
    for chat in (1, 2, 3):  # the counter is idle: nobody's wait moves with time
        await queues.join("PHARM", new_join_request(telegram_chat_id=chat), "x")
    await queues.create_queue("EMPTY", "Nobody waits", "E", QUIET, ["1"])

    async def snapshot() -> tuple[object, ...]:
        return (
            await TicketRow.all().order_by("id").values_list("id", "version"),
            await TicketEventRow.all().count(),
            await OutboxMessage.all().count(),
            await HourlyMetric.all().values_list("hour_start", "size_samples", "peak_size"),
        )

    before = await snapshot()
    subscription = await container.bus.subscribe()
    try:
        for _ in range(3):
            clock.advance(seconds=INTERVAL_S * 10)
            assert await reevaluate_lines(queues, INTERVAL_S) == {"PHARM": 0}
        assert await subscription.get(timeout_s=0.2) is None, "nothing published"
    finally:
        await subscription.close()
    assert await snapshot() == before
    stamps = dict(await QueueRow.all().values_list("code", "reevaluated_at"))
    assert stamps == {"PHARM": clock.now, "EMPTY": None}


async def test_under_dynamic_weights_a_line_reordered_by_time_is_announced(
    container: Container, clock: FakeClock
) -> None:
    queues = container.queues
    config = QueueConfig(mode=QueueMode.DYNAMIC, notify_positions=(1,))
    await queues.create_queue("DYN", "Dynamic", "D", config, ["1"])
    walk_in = await queues.join("DYN", new_join_request(telegram_chat_id=1), "x")
    booked = await queues.join(
        "DYN",
        new_join_request(telegram_chat_id=2, appointment_at=clock.now + timedelta(minutes=40)),
        "x",
    )
    assert await reevaluate_lines(queues, INTERVAL_S) == {"DYN": 0}  # the first round
    status = await queues.status("DYN")
    assert [t.id for t in status.queue.waiting()] == [walk_in.ticket.id, booked.ticket.id]

    subscription = await container.bus.subscribe()
    try:
        clock.advance(minutes=30)  # the appointment's score has risen past the walk-in's
        assert await reevaluate_lines(queues, INTERVAL_S) == {"DYN": 2}
        messages = [await subscription.get(timeout_s=5) for _ in range(2)]
    finally:
        await subscription.close()
    assert [_type(m) for m in messages] == ["position_changed", "line_moved"]
    assert messages[1] is not None and messages[1]["data"]["actor"] == "system:timer"
    status = await queues.status("DYN")
    assert [t.id for t in status.queue.waiting()] == [booked.ticket.id, walk_in.ticket.id]
    assert await kinds_sent(clock.now - timedelta(seconds=1)) == [(booked.ticket.id, "close")]


def _type(message: Message | None) -> str:
    assert message is not None
    return str(message["type"])


async def test_two_services_running_the_timer_at_once_send_each_message_once(
    container: Container, clock: FakeClock
) -> None:
    """Two services with their own caches, on their own connections (pooled on
    PostgreSQL), re-evaluate the same lines round after round, concurrently."""
    first = container.queues
    second = QueueService(container.bus, clock, container.settings.phone_region)
    codes = ["QA", "QB", "QC", "QD"]
    patients = [await busy_line(first, code) for code in codes]
    start = clock.now
    claimed: Counter[str] = Counter()
    for _ in range(12):
        clock.advance(seconds=INTERVAL_S)
        rounds = await asyncio.gather(
            reevaluate_lines(first, INTERVAL_S), reevaluate_lines(second, INTERVAL_S)
        )
        assert sorted(code for done in rounds for code in done) == codes, "each line once"
        claimed.update(code for done in rounds for code in done)
    sent = await kinds_sent(start)
    rows = await OutboxMessage.filter(created_at__gt=start)
    # A message is its ticket, its kind and the round (the clock) that made it.
    per_message = Counter((str(m.ticket_id), m.kind, m.created_at) for m in rows)  # type: ignore[attr-defined]
    assert per_message, "time made messages due"
    assert max(per_message.values()) == 1, per_message
    # Every Telegram patient heard "leave now" exactly once; each "ETA changed" is a new
    # figure (120 s apart at least), never a copy.
    assert sorted(t for t, kind in sent if kind == "leave_now") == sorted(tg for tg, _ in patients)
    revised = await OutboxMessage.filter(created_at__gt=start, kind="eta_changed")
    per_ticket_eta = Counter((str(m.ticket_id), m.payload["eta_s"]) for m in revised)  # type: ignore[attr-defined]
    assert all(n == 1 for n in per_ticket_eta.values())
    assert claimed == Counter(dict.fromkeys(codes, 12))


async def test_two_worker_processes_send_each_message_once(
    container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    """Two `nextup worker` processes on one database: both run the timer every 0.3 s and
    dispatch to the dev inbox."""
    services_required()
    await timer_in_processes(container, clock, tmp_path, [["worker"], ["worker"]])


async def test_the_server_process_runs_the_timer(
    container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    await timer_in_processes(container, clock, tmp_path, [["serve", "--port", str(free_port())]])


async def timer_in_processes(
    container: Container, clock: FakeClock, tmp_path: Path, commands: list[list[str]]
) -> None:
    """Runs `nextup COMMAND` processes with the timer every 0.3 s, on lines where everything
    happened ten minutes ago (their clock is the real one), so "leave now" and changed waits
    are due at their first round; each must be in the outbox, and delivered, once."""
    clock.now = datetime.now(UTC) - timedelta(minutes=10)
    # A changed wait at most once an hour (within the test, once per ticket at most), and
    # the patients at the counters stay there.
    config = dataclasses.replace(QUIET, eta_update_interval_s=3600, no_show_grace_s=0)
    codes = ["QA", "QB", "QC"]
    patients = [await busy_line(container.queues, code, config) for code in codes]
    start = clock.now
    env = clean_env(
        database_url=container.settings.database_url,
        redis_url=container.settings.redis_url or "",
        reevaluate_interval_s="0.3",
        secret_key="test-key",
    )
    processes = []
    for n, command in enumerate(commands):
        log = (tmp_path / f"process-{n}.log").open("wb")
        processes.append(
            await asyncio.create_subprocess_exec(
                NEXTUP, *command, cwd=tmp_path, env=env, stdout=log, stderr=log
            )
        )
    try:

        async def all_told() -> bool:
            leave_now = await OutboxMessage.filter(kind="leave_now", status="sent").count()
            return leave_now >= len(codes)

        await eventually(all_told, timeout_s=120)
        stamps = await QueueRow.all().values_list("reevaluated_at", flat=True)
        # A few more rounds, to give a duplicate every chance to appear.
        await eventually(lambda: _later_rounds(stamps), timeout_s=30)
        await eventually(lambda: _later_rounds(stamps, rounds=2), timeout_s=30)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=20)
    per_message = Counter(await kinds_sent(start))
    assert max(per_message.values()) == 1, per_message
    assert sorted(t for (t, kind) in per_message if kind == "leave_now") == sorted(
        tg for tg, _ in patients
    )
    delivered = Counter(await DevInboxMessage.all().values_list("outbox_id", flat=True))
    assert max(delivered.values()) == 1, "each message delivered once"
    leave_now = await OutboxMessage.filter(kind="leave_now").values_list("id", flat=True)
    assert all(delivered[str(i)] == 1 for i in leave_now)


async def _later_rounds(earlier: list[object], rounds: int = 1) -> bool:
    """Every line was re-evaluated since `earlier` was read (`rounds`: by that many
    seconds' worth of rounds, at 0.3 s each)."""
    now = await QueueRow.all().values_list("reevaluated_at", flat=True)
    pairs = zip(sorted(now, key=str), sorted(earlier, key=str), strict=True)
    return all(
        a is not None and (b is None or (a - b).total_seconds() >= 0.3 * rounds)  # type: ignore[operator]
        for a, b in pairs
    )
