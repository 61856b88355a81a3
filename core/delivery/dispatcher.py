"""The dispatcher: claims due notifications from the outbox and sends them, within each
channel's rate limits, "called" messages first, retrying what can be retried.

It wakes on every bus event and also polls, so a lost pub/sub message (or Redis being
down) delays a notification by at most `poll_interval_s`. Each result is recorded as soon
as the provider answers; if the process dies between a provider's "accepted" and that
record, the lease runs out and the message is sent again. That window holds at most the
sends in flight at the moment of death (`max_in_flight` per channel).

Leases are short (`lease_s`, 5 s by default) and renewed, every third of a lease, for every
row the dispatcher still holds (waiting for its turn or being sent), so a dead dispatcher's
"called" messages are claimed again within seconds while a slow provider is never mistaken
for a dead one. A message that no longer tells the truth when its turn comes is superseded
instead of sent (`core.domain.freshness`): checked at the claim, and again just before the
send, since a call can land in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.bus import EventBus
from core.delivery import (
    Outgoing,
    PermanentFailure,
    Receipt,
    RecipientOptedOut,
    RetryAfter,
    Sender,
    SendError,
)
from core.delivery.ladder import LadderStore, MarkUnreachable, climb_ladders
from core.delivery.limits import (
    ALREADY_LIMITED,
    ChannelLimits,
    Limiter,
    LocalLimiter,
    Rule,
    Verdict,
)
from core.delivery.wording import outgoing
from core.domain.freshness import still_true, why_superseded
from core.storage import contacts as stored_contacts
from core.storage import outbox as stored_outbox
from core.storage.models import OutboxMessage
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)
SENT = Counter("nextup_notifications_total", "Notification outcomes", ["channel", "outcome"])
DELAY = Histogram(
    "nextup_notification_delay_seconds",
    "From the change that caused a notification to its send",
    ["channel", "urgent"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


class LastClaimRound(Collector):
    """`nextup_dispatcher_last_claim_round_timestamp_seconds`: when this process's
    dispatcher last finished a claim round (one every `poll_interval_s` at the least, even
    with nothing to send), for the "dispatcher silent" alert. A process that does not
    dispatch exports nothing rather than a 0 an alert would read as "silent since 1970"."""

    def __init__(self) -> None:
        self.at_s: float | None = None

    def mark(self) -> None:
        self.at_s = time.time()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.at_s is not None:
            yield GaugeMetricFamily(
                "nextup_dispatcher_last_claim_round_timestamp_seconds",
                "When this process's dispatcher last finished a claim round (Unix time)",
                value=self.at_s,
            )


LAST_CLAIM_ROUND = LastClaimRound()
REGISTRY.register(LAST_CLAIM_ROUND)


SHUTDOWN_GRACE_S = 2.0
"""After a stop, how long sends in flight get to finish, all together: a provider answers in
well under a second when it answers at all, and a send cut short goes again when its claim
runs out. A server stopping (SIGTERM) never waits longer than this on a provider."""
CLAIM_GAP_S = 0.02
"""The shortest time between the starts of two claim rounds woken by events. Idle, a wake
claims at once; under load, a message waits at most this long more to be claimed, and a
round (two statements per channel) claims what many commands queued."""


class OutboxStore(LadderStore, Protocol):
    """What the dispatcher asks of the outbox table (`core.storage.outbox`; a fake in unit
    tests): claims under a lease, and the result of each send, recorded by the claim's holder."""

    async def claim(
        self, channel: str, now: datetime, limit: int, lease_s: float, urgent_only: bool = False
    ) -> list[OutboxMessage]: ...

    async def mark_sent(
        self,
        row: OutboxMessage,
        now: datetime,
        provider_message_id: str | None,
        delivered_to: str,
        segments: int | None,
    ) -> bool: ...

    async def record_provider_status(
        self, outbox_id: str, provider_message_id: str | None, status: str
    ) -> bool: ...

    async def retry_later(self, row: OutboxMessage, at: datetime, error: str) -> bool: ...

    async def mark_failed(self, row: OutboxMessage, error: str) -> bool: ...

    async def mark_suppressed(self, row: OutboxMessage, reason: str) -> bool: ...

    async def mark_superseded(self, row: OutboxMessage, reason: str) -> bool: ...

    async def supersede_stale(
        self, channel: str, now: datetime, waiting: Collection[OutboxMessage] = ()
    ) -> set[str]: ...

    async def standing(self, row: OutboxMessage) -> stored_outbox.Standing: ...

    async def renew(
        self, rows: Collection[OutboxMessage], now: datetime, lease_s: float
    ) -> set[str]: ...


class ContactBook(Protocol):
    """Who opted out of a channel (`core.storage.contacts`; a fake in unit tests)."""

    async def opted_out(self, channel: str, addresses: Collection[str]) -> set[str]: ...

    async def set_opted_out(self, channel: str, address: str, opted_out: bool) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0

    def delay_s(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so retries of
        many messages spread out instead of arriving together."""
        ceiling: float = min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempt - 1))
        return ceiling / 2 + rand() * ceiling / 2


@dataclass(frozen=True)
class DispatchSettings:
    base_url: str
    default_language: str = "en"
    lease_s: float = 5.0
    """How long a claim holds unless renewed; renewed every third of it while held."""
    poll_interval_s: float = 1.0
    max_in_flight: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    ladder_channels: frozenset[str] = frozenset()
    """The channels the call ladder may use (`sms`, `voice`); empty: none, so a ladder can
    only end in "unreachable". Each queue's ladder says when (`QueueConfig.call_ladder`)."""
    ladder: bool = True
    """Whether this dispatcher climbs call ladders at all."""


@dataclass
class Pending:
    row: OutboxMessage
    message: Outgoing
    booking: tuple[tuple[Rule, ...], str] | None = None
    """The rules its send was booked under and the booking's ticket, once it was."""

    @property
    def order(self) -> tuple[bool, datetime]:
        return (not self.row.urgent, self.row.created_at)


class Lane:
    """One channel: claimed messages waiting for their turn under the channel's limits.

    Messages to one recipient keep their order; among recipients, one with a "called"
    message waiting goes first. The limits are asked through `limiter` (shared with every
    other process when it is kept in Redis); a recipient who must wait lets the next one go.
    """

    def __init__(
        self, channel: str, sender: Sender, limits: ChannelLimits, limiter: Limiter
    ) -> None:
        self.channel = channel
        self.sender = sender
        self.limits = limits
        self.limiter = limiter
        self.pending: list[Pending] = []
        self.busy_recipients: set[str] = set()
        self.handed_back: list[Pending] = []
        """Messages another process is to send (see Verdict.elsewhere), to requeue."""
        self.recipient_free_at: dict[str, float] = {}
        """Recipients the limiter told to wait, until when (monotonic): not asked again."""
        self.changed = asyncio.Event()
        self.capacity = max(8, min(64, round(limits.per_second)))
        """About a second of sends: enough to keep the channel busy between claims."""
        self._next_origin = 0

    def room(self) -> int:
        return self.capacity - len(self.pending)

    def add(self, items: list[Pending]) -> None:
        self.pending.extend(items)
        self.pending.sort(key=lambda p: p.order)
        self.changed.set()

    async def take_next(self, now: float) -> tuple[Pending | None, float | None]:
        """The message to send now, booked under the limits (its origin chosen), or else
        the time the next one may go (None: nothing pending)."""
        seen: set[str] = set()
        earliest: float | None = None
        if len(self.recipient_free_at) > 1000:
            self.recipient_free_at = {r: t for r, t in self.recipient_free_at.items() if t > now}
        for item in list(self.pending):
            recipient = item.message.recipient
            if recipient in seen or recipient in self.busy_recipients:
                continue  # an earlier message to this recipient goes first
            seen.add(recipient)
            free_at = self.recipient_free_at.get(recipient, 0.0)
            if free_at > now:
                earliest = free_at if earliest is None else min(earliest, free_at)
                continue
            origin, rules, verdict = await self._book(recipient)
            if verdict.granted:
                assert verdict.ticket is not None
                if any(p is item for p in self.pending):
                    self.pending = [p for p in self.pending if p is not item]
                    item.booking = (rules, verdict.ticket)
                    if origin is not None:
                        item.message = dataclasses.replace(item.message, origin=origin)
                    return item, None
                await self.limiter.answered(rules, verdict.ticket)  # taken away meanwhile
                continue
            if verdict.elsewhere:
                mine = [p for p in self.pending if p.message.recipient == recipient]
                self.pending = [p for p in self.pending if p.message.recipient != recipient]
                self.handed_back += mine
                continue
            ready_at = now + verdict.wait_s
            earliest = ready_at if earliest is None else min(earliest, ready_at)
            if verdict.blocked_by is None or not verdict.blocked_by.per_recipient:
                break  # the channel itself is full: no other recipient may go either
            self.recipient_free_at[recipient] = ready_at
        return None, earliest

    async def _book(self, recipient: str) -> tuple[str | None, tuple[Rule, ...], Verdict]:
        """Books a send to `recipient` from the first origin with room, in turn."""
        choices = self.limits.choices(recipient)
        start = self._next_origin % len(choices)
        best: tuple[str | None, tuple[Rule, ...], Verdict] | None = None
        for index in [*range(start, len(choices)), *range(start)]:
            origin, rules = choices[index]
            verdict = await self.limiter.acquire(rules)
            if verdict.granted:
                self._next_origin = index + 1
                return origin, rules, verdict
            # "elsewhere" only when no origin is this process's to send from
            if best is None or (best[2].elsewhere, best[2].wait_s) > (
                verdict.elsewhere,
                verdict.wait_s,
            ):
                best = (origin, rules, verdict)
        assert best is not None
        return best

    async def answered(self, item: Pending) -> None:
        """The provider answered (or the send failed): the limits count it from now."""
        if item.booking is not None:
            rules, ticket = item.booking
            item.booking = None
            await self.limiter.answered(rules, ticket)


class Dispatcher:
    def __init__(
        self,
        senders: Mapping[str, Sender],
        limits: Mapping[str, ChannelLimits],
        bus: EventBus,
        settings: DispatchSettings,
        clock: Callable[[], datetime],
        outbox: OutboxStore = stored_outbox,
        contacts: ContactBook = stored_contacts,
        mark_unreachable: MarkUnreachable | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        shared = limiter or LocalLimiter()
        local = LocalLimiter()
        self.lanes = {
            channel: Lane(
                channel, sender, limits[channel], local if limits[channel].local_only else shared
            )
            for channel, sender in senders.items()
        }
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.outbox = outbox
        self.contacts = contacts
        self.mark_unreachable = mark_unreachable
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, OutboxMessage] = {}
        """Rows claimed and not yet recorded (waiting in a lane, or being sent): renewed."""
        self._maybe_more_due = False
        """The last claim round filled a lane's room: claim again without waiting."""

    async def run(self) -> None:
        """Runs until cancelled."""
        for limiter in {id(lane.limiter): lane.limiter for lane in self.lanes.values()}.values():
            await limiter.start()
        workers = [asyncio.create_task(self._listen()), asyncio.create_task(self._renew_loop())]
        workers += [asyncio.create_task(self._send_loop(lane)) for lane in self.lanes.values()]
        try:
            await self._claim_loop()
        finally:
            await self._stop(workers)

    async def _stop(self, workers: list[asyncio.Task[None]]) -> None:
        """Stops claiming at once; sends in flight and a bus connection that does not close
        share one SHUTDOWN_GRACE_S, then what is left is cancelled (and awaited, briefly)."""
        for task in workers:
            task.cancel()
        pending = {*workers, *self._tasks}
        _, late = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)
        if late:
            log.warning("%d sends or dispatcher tasks cut short by the stop", len(late))
            await cancel_and_wait(late)

    async def close(self) -> None:
        for lane in self.lanes.values():
            await lane.sender.close()

    # -- claiming --------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Wake the claimer on every bus event; a broken bus only means polling."""
        while True:
            try:
                subscription = await self.bus.subscribe()
                try:
                    while True:
                        if await subscription.get(timeout_s=30.0) is not None:
                            self._wake.set()
                finally:
                    await subscription.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event bus unavailable (%s); polling the outbox meanwhile", exc)
                await asyncio.sleep(self.settings.poll_interval_s * 5)

    async def _claim_loop(self) -> None:
        next_ladder = 0.0
        while True:
            started = time.monotonic()
            try:
                if started >= next_ladder:
                    next_ladder = started + self.settings.poll_interval_s
                    await self.climb_ladders_once()
                await self.claim_once()
                LAST_CLAIM_ROUND.mark()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming notifications failed; trying again")
                self._maybe_more_due = False
            if self._maybe_more_due and any(lane.room() > 0 for lane in self.lanes.values()):
                continue  # a claim came back full: there is more due right now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_interval_s):  # see bus.memory
                    await self._wake.wait()
            # Every command and every finished send wakes the claimer; under load, the
            # wakes of one short gap share a round (two statements) instead of one each.
            await asyncio.sleep(max(0.0, started + CLAIM_GAP_S - time.monotonic()))

    async def claim_once(self) -> int:
        """Claims what each lane has room for ("called" messages even when it is full)."""
        total = 0
        self._maybe_more_due = False
        for lane in self.lanes.values():
            now = self.clock()
            lease_s = self.settings.lease_s
            await self._supersede_stale(lane, now)
            room = lane.room()
            if room < lane.capacity:
                urgent = await self.outbox.claim(
                    lane.channel, now, lane.capacity, lease_s, urgent_only=True
                )
                asked = room - len(urgent)
                rest = await self.outbox.claim(lane.channel, now, asked, lease_s)
                rows = urgent + rest
                full = len(urgent) >= lane.capacity or (asked > 0 and len(rest) >= asked)
            else:
                # Nothing pending: the claim takes "called" messages first, as many as the
                # one of them alone would, so it is all the two would take. Every command
                # wakes the claimer: one claim per lane, not two, is most of what it costs.
                rows = await self.outbox.claim(lane.channel, now, room, lease_s)
                full = len(rows) >= room
            self._maybe_more_due |= full
            blocked = await self.contacts.opted_out(lane.channel, {r.recipient for r in rows})
            items = []
            for row in rows:
                if row.recipient in blocked:
                    await self._suppressed(row)
                    continue
                try:
                    message = outgoing(row, self.settings.base_url, self.settings.default_language)
                except Exception as exc:  # a template bug must not block the rest
                    log.exception("cannot render notification %s (%s)", row.id, row.kind)
                    await self._failed(row, f"cannot render the message: {exc}")
                    continue
                items.append(Pending(row, message))
                self._held[row.id] = row
            lane.add(items)
            total += len(rows)
        return total

    async def _supersede_stale(self, lane: Lane, now: datetime) -> None:
        """Before a claim: what is queued, and what this lane holds but has not begun to
        send, is superseded where stale. The lane's waiting messages are set aside for the
        statement, so none of them is sent while it may be being superseded."""
        waiting, lane.pending = lane.pending, []
        superseded: set[str] = set()
        try:
            superseded = await self.outbox.supersede_stale(
                lane.channel, now, [item.row for item in waiting]
            )
        finally:
            lane.add([item for item in waiting if item.row.id not in superseded])
        for row_id in superseded:
            self._held.pop(row_id, None)
        if superseded:
            SENT.labels(lane.channel, "superseded").inc(len(superseded))

    async def _renew_loop(self) -> None:
        """Keeps the claims this dispatcher holds, one statement every third of a lease; a
        row whose claim was lost meanwhile is not renewed (nor taken back) and is dropped."""
        every_s = self.settings.lease_s / 3
        while True:
            await asyncio.sleep(every_s)
            await self.renew_once()

    async def renew_once(self) -> None:
        held = list(self._held.values())
        if not held:
            return
        try:
            renewed = await self.outbox.renew(held, self.clock(), self.settings.lease_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the next round tries again
            log.warning("could not renew %d notification claims: %s", len(held), exc)
            return
        for row in held:
            if row.id not in renewed:
                # Lost, or its result was recorded meanwhile; the send path logs a loss.
                self._held.pop(row.id, None)

    async def climb_ladders_once(self) -> int:
        """Takes the call ladders' steps due now (`core.delivery.ladder`)."""
        if not self.settings.ladder:
            return 0
        channels = self.settings.ladder_channels & self.lanes.keys()
        return await climb_ladders(self.outbox, self.clock(), channels, self.mark_unreachable)

    # -- sending ---------------------------------------------------------------------------

    async def _send_loop(self, lane: Lane) -> None:
        in_flight = asyncio.Semaphore(self.settings.max_in_flight)
        # The sends are booked under the limits here; the provider's client must not book
        # them a second time (the bot's session limits what else the bot sends).
        context = contextvars.copy_context()
        context.run(ALREADY_LIMITED.set, True)
        while True:
            await in_flight.acquire()
            try:
                now = time.monotonic()
                item, ready_at = await lane.take_next(now)
            except asyncio.CancelledError:
                in_flight.release()
                raise
            except Exception:  # a limiter's bug must not stop the channel for good
                log.exception("asking the %s limits failed; trying again", lane.channel)
                in_flight.release()
                await asyncio.sleep(self.settings.poll_interval_s)
                continue
            await self._hand_back(lane)
            if item is None:
                in_flight.release()
                lane.changed.clear()
                timeout_s = None if ready_at is None else max(0.0, ready_at - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.changed.wait(), timeout_s)
                continue
            if lane.room() >= lane.capacity // 2:
                self._wake.set()  # claim more before the lane runs dry, not at the next poll
            recipient = item.message.recipient
            lane.busy_recipients.add(recipient)
            task = asyncio.create_task(self._deliver_booked(lane, item), context=context)
            self._tasks.add(task)

            def done(t: asyncio.Task[None], recipient: str = recipient) -> None:
                self._tasks.discard(t)
                lane.busy_recipients.discard(recipient)
                in_flight.release()
                lane.changed.set()

            task.add_done_callback(done)

    async def _hand_back(self, lane: Lane) -> None:
        """Requeues what another process is to send, due now, for it to claim."""
        items, lane.handed_back = lane.handed_back, []
        for item in items:
            try:
                await self.outbox.retry_later(
                    item.row, self.clock(), "left to another process while Redis is down"
                )
            except Exception:  # the lease runs out and the row is claimed again anyway
                log.exception("could not hand notification %s back", item.row.id)

    async def _deliver_booked(self, lane: Lane, item: Pending) -> None:
        try:
            await self._deliver(lane, item)
        finally:
            try:
                await lane.answered(item)
            except Exception:
                log.exception("could not record a send's answer under the limits")

    async def _deliver(self, lane: Lane, item: Pending) -> None:
        try:
            await self._attempt(lane, item)
        except Exception:
            # The database is away: the claim's lease runs out and the row is tried again.
            log.exception("could not record the result of notification %s", item.row.id)
        finally:
            self._held.pop(item.row.id, None)
            self._wake.set()  # the recipient's next message may be claimed now

    async def _still_worth_sending(self, row: OutboxMessage) -> bool:
        """The last look before a send: the claim still holds and the message still tells
        the truth (a call may have landed since the claim); if not, it is not sent."""
        standing = await self.outbox.standing(row)
        if not standing.held:
            log.warning("notification %s lost its claim before its send", row.id)
            return False
        if still_true(row.kind, standing.ticket_status, standing.newer_kinds):
            return True
        reason = why_superseded(row.kind, standing.ticket_status, standing.newer_kinds)
        SENT.labels(row.channel, "superseded").inc()
        await self.outbox.mark_superseded(row, reason)
        return False

    async def _attempt(self, lane: Lane, item: Pending) -> None:
        row = item.row
        if not await self._still_worth_sending(row):
            return
        try:
            receipt = await lane.sender.send(item.message)
        except RetryAfter as exc:
            # Providers do not say which limit was hit: the whole channel waits (every
            # process, when the limits are shared), not only this recipient.
            await lane.limiter.pause(lane.limits.pause_key(item.message.origin), exc.delay_s)
            await self._retry(row, exc.delay_s, str(exc), "throttled")
        except RecipientOptedOut as exc:
            log.info("notification %s: %s", row.id, exc)
            await self.contacts.set_opted_out(row.channel, row.recipient, True)
            await self._suppressed(row)
        except PermanentFailure as exc:
            await self._failed(row, str(exc))
        except Exception as exc:  # TemporaryFailure, and anything a sender did not expect
            reason = str(exc) if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}"
            if row.attempts >= self.settings.retry.max_attempts:
                await self._failed(row, f"gave up after {row.attempts} attempts: {reason}")
            else:
                await self._retry(row, self.settings.retry.delay_s(row.attempts), reason, "retry")
        else:
            await self._sent(lane, row, receipt)

    async def _sent(self, lane: Lane, row: OutboxMessage, receipt: Receipt) -> None:
        now = self.clock()
        provider_id = receipt.provider_message_id
        if not await self.outbox.mark_sent(
            row, now, provider_id, receipt.delivered_to, receipt.segments
        ):
            log.warning("notification %s was sent after its claim ran out", row.id)
            return
        if receipt.provider_status is not None:
            # A status callback may have overtaken this answer; the ranks keep its news.
            await self.outbox.record_provider_status(row.id, provider_id, receipt.provider_status)
        SENT.labels(lane.channel, "sent").inc()
        DELAY.labels(lane.channel, str(row.urgent).lower()).observe(
            max(0.0, (now - row.created_at).total_seconds())
        )

    async def _retry(self, row: OutboxMessage, delay_s: float, reason: str, outcome: str) -> None:
        SENT.labels(row.channel, outcome).inc()
        log.info("notification %s: %s; next try in %.1f s", row.id, reason, delay_s)
        await self.outbox.retry_later(row, self.clock() + timedelta(seconds=delay_s), reason)

    async def _suppressed(self, row: OutboxMessage) -> None:
        SENT.labels(row.channel, "suppressed").inc()
        await self.outbox.mark_suppressed(row, f"the patient opted out of {row.channel} messages")

    async def _failed(self, row: OutboxMessage, reason: str) -> None:
        SENT.labels(row.channel, "failed").inc()
        log.warning("notification %s (%s to %s) failed: %s", row.id, row.kind, row.channel, reason)
        await self.outbox.mark_failed(row, reason)
