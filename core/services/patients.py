"""What a patient does from a phone (Telegram or SMS): join, ask, leave, say they are late,
answer a call, rate the visit, choose a language.

A patient is known by an address: a Telegram chat or a phone number. What they chose for
that address (language, SMS opt-out) is kept across queues in `contacts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.domain.eta import Eta
from core.domain.model import Ticket, TicketAction, TicketStatus
from core.domain.notify import Channel, patient_actor
from core.messages import wait_minutes
from core.services.errors import AlreadyCalled, Forbidden, SeveralTickets
from core.services.queues import JoinedTicket, QueueService, TicketView, new_join_request
from core.storage import outbox
from core.storage import patients as stored
from core.storage.errors import NotFound

MAX_TICKETS_SHOWN = 10


def eta_minutes(estimate: Eta | None) -> dict[str, int | None]:
    """A wait as replies show it: `eta_low_min` and `eta_high_min`, None when unknown."""
    if estimate is None:
        return {"eta_low_min": None, "eta_high_min": None}
    return {**wait_minutes(estimate.low_s, estimate.high_s)}


@dataclass(frozen=True)
class Patient:
    channel: Channel
    address: str
    """A Telegram chat id, or a phone number in E.164."""

    @classmethod
    def telegram(cls, chat_id: int) -> Patient:
        return cls(Channel.TELEGRAM, str(chat_id))

    @classmethod
    def sms(cls, phone: str) -> Patient:
        return cls(Channel.SMS, phone)

    @property
    def actor(self) -> str:
        return patient_actor(self.channel)

    def ticket_filter(self) -> dict[str, Any]:
        if self.channel is Channel.TELEGRAM:
            return {"telegram_chat_id": int(self.address)}
        return {"phone": self.address}

    def owns(self, ticket: Ticket) -> bool:
        if self.channel is Channel.TELEGRAM:
            return ticket.telegram_chat_id == int(self.address)
        return ticket.phone == self.address


class PatientService:
    def __init__(self, queues: QueueService) -> None:
        self.queues = queues

    async def language(self, patient: Patient) -> str | None:
        return await stored.chosen_language(patient.channel, patient.address)

    async def reply_language(self, patient: Patient) -> str | None:
        """The language to answer the patient in: the one they chose, else the one of their
        latest ticket (its own, else its queue's), else None (the caller's default)."""
        chosen = await self.language(patient)
        if chosen:
            return chosen
        latest = await stored.latest_ticket(patient.ticket_filter())
        if latest is None:
            return None
        if latest.language:
            return latest.language
        config = await self.queues.get_config(latest.queue)
        return config.language

    async def set_language(self, patient: Patient, language: str) -> None:
        """For later messages of every ticket the patient holds, and for the next ones."""
        await stored.choose_language(
            patient.channel, patient.address, patient.ticket_filter(), language
        )

    async def join(
        self,
        patient: Patient,
        code: str,
        travel_s: int | None = None,
        consent: str | None = None,
        service: str | None = None,
    ) -> JoinedTicket:
        """`consent`: how the patient asked to be messaged, when the actor alone does not
        say (a Telegram deep link); `service`: the kind of visit, when they said it."""
        request = new_join_request(
            language=await self.language(patient),
            travel_s=travel_s,
            consent=consent,
            service=service,
            **patient.ticket_filter(),
        )
        return await self.queues.join(code, request, patient.actor)

    async def tickets(self, patient: Patient) -> list[TicketView]:
        """The patient's live tickets, each with its estimate."""
        return [
            await self.queues.ticket_view(t.id, with_history=False)
            for t in await self._live_tickets(patient)
        ]

    async def status(self, patient: Patient) -> list[dict[str, Any]]:
        """The patient's live tickets as a status reply shows them (bot or SMS)."""
        views = await self.tickets(patient)
        if not views:
            return []
        names = {q.code: q.shown_name for q in await self.queues.list_queues()}
        return [
            {
                "id": v.ticket.id,
                "number": v.ticket.number,
                "queue_name": names.get(v.ticket.queue, v.ticket.queue),
                "status": v.ticket.status.value,
                "position": v.ticket.position,
                "counter": v.ticket.counter,
                **eta_minutes(v.estimate),
            }
            for v in views
        ]

    async def _live_tickets(self, patient: Patient, code: str | None = None) -> list[Ticket]:
        """Waiting, called or being served; without estimates, which need each queue read."""
        return await stored.live_tickets(patient.ticket_filter(), code, MAX_TICKETS_SHOWN)

    async def leave(self, patient: Patient, code: str | None = None) -> list[Ticket]:
        """Cancels the patient's waiting tickets (in one queue, or all); none: NotFound."""
        live = await self._live_tickets(patient, code)
        waiting = [t for t in live if t.status is TicketStatus.WAITING]
        if not waiting:
            if live:  # called or being served: only staff can end that visit now
                raise AlreadyCalled()
            raise NotFound("ticket", code or patient.channel)
        return [
            await self.queues.ticket_action(t.id, TicketAction.CANCEL, patient.actor)
            for t in waiting
        ]

    async def late(self, patient: Patient, minutes: int, code: str | None = None) -> TicketView:
        ticket = await self._waiting_ticket(patient, code)
        await self.queues.on_ticket(
            ticket.id, lambda q, now: q.delay(ticket.id, minutes * 60, now, patient.actor)
        )
        return await self.queues.ticket_view(ticket.id, with_history=False)

    async def set_travel_time(
        self, patient: Patient, minutes: int, code: str | None = None
    ) -> TicketView:
        ticket = await self._waiting_ticket(patient, code)
        await self.queues.on_ticket(
            ticket.id, lambda q, now: q.set_travel_time(ticket.id, minutes * 60)
        )
        return await self.queues.ticket_view(ticket.id, with_history=False)

    async def waiting_tickets(self, patient: Patient) -> list[Ticket]:
        """The patient's tickets waiting in a line, without estimates."""
        live = await self._live_tickets(patient)
        return [t for t in live if t.status is TicketStatus.WAITING]

    async def choose_service(
        self, patient: Patient, ticket_id: str, service: str | None
    ) -> TicketView:
        """The kind of visit of the patient's own waiting ticket (None: not sure), under the
        queue's lock like every command; answered with the ticket's new place and wait."""
        await self._own_ticket(patient, ticket_id)
        await self.queues.on_ticket(
            ticket_id, lambda q, now: q.choose_service(ticket_id, service, now, patient.actor)
        )
        return await self.queues.ticket_view(ticket_id, with_history=False)

    async def set_phone(self, patient: Patient, phone: str | None) -> list[Ticket]:
        """Sets (or, with None, forgets) the number a missed call is texted to, on each of the
        patient's live tickets; returns those it changed. None live: NotFound."""
        live = await self._live_tickets(patient)
        if not live:
            raise NotFound("ticket", patient.channel)
        return [await self._set_phone(t.id, phone) for t in live if t.phone != phone]

    async def _set_phone(self, ticket_id: str, phone: str | None) -> Ticket:
        return await self.queues.on_ticket(ticket_id, lambda q, now: q.set_phone(ticket_id, phone))

    async def acknowledge(self, patient: Patient, ticket_id: str) -> Ticket:
        """ "I'm on my way": recorded on the ticket and on the call's delivery record."""
        await self._own_ticket(patient, ticket_id)
        ticket = await self.queues.on_ticket(
            ticket_id, lambda q, now: q.acknowledge(ticket_id, now, patient.actor)
        )
        await outbox.acknowledge(ticket_id, self.queues.clock())
        return ticket

    async def acknowledge_call(self, patient: Patient) -> Ticket | None:
        """A reply to the call by text ("OK"): "I'm on my way" for the patient's ticket being
        called (each, should two queues call them at once). None: none is called."""
        called = [t for t in await self._live_tickets(patient) if t.status is TicketStatus.CALLED]
        for ticket in called:
            await self.acknowledge(patient, ticket.id)
        return called[0] if called else None

    async def rate(self, patient: Patient, ticket_id: str, score: int) -> Ticket:
        await self._own_ticket(patient, ticket_id)
        return await self.queues.on_ticket(
            ticket_id, lambda q, now: q.rate(ticket_id, score, now, patient.actor)
        )

    async def _waiting_ticket(self, patient: Patient, code: str | None) -> Ticket:
        live = await self._live_tickets(patient, code)
        waiting = [t for t in live if t.status is TicketStatus.WAITING]
        if not waiting:
            raise NotFound("ticket", code or patient.channel)
        if len(waiting) > 1:
            raise SeveralTickets([t.queue for t in waiting])
        return waiting[0]

    async def _own_ticket(self, patient: Patient, ticket_id: str) -> None:
        view = await self.queues.ticket_view(ticket_id, with_history=False)
        if not patient.owns(view.ticket):
            raise Forbidden("that ticket is not yours")
