"""Answers a patient's text message: joins, tells the place in line, moves back, leaves,
opts out or in. Every answer is one GSM-7 segment, and recorded with its cost."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.domain.errors import InvalidValue, QueueFull
from core.messages import (
    pick_language,
    render_notification,
    render_sms_reply,
    sms_segments,
    template_params,
)
from core.phones import normalize_phone
from core.redact import mask_phone, redact
from core.services.errors import NotFound, SeveralTickets
from core.services.patients import Patient, PatientService, eta_minutes
from core.services.queues import QueueService
from core.services.sms_guard import SmsGuard
from core.storage import contacts, outbox
from sms.keywords import Command, Keyword, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsReply:
    text: str | None
    """None: no answer (after STOP, the provider sends its own confirmation)."""
    kind: str
    """What the reply says (`joined`, `status`, `help`, …), for logs and the simulator."""
    record_id: str | None = None
    """The reply's delivery record, for its status callback."""


@dataclass(frozen=True)
class Answer:
    name: str
    params: dict[str, Any]
    ticket_id: str | None = None
    language: str | None = None
    """The queue's, for a patient who never chose one."""
    notification: bool = False
    """The SMS notification of that name stands in for a reply ("joined")."""


class SmsConversation:
    def __init__(
        self,
        queues: QueueService,
        patients: PatientService,
        base_url: str,
        default_language: str = "en",
        guard: SmsGuard | None = None,
    ) -> None:
        self.guard = guard
        """Limits per sender; None: none (tests of the conversation alone)."""
        self.queues = queues
        self.patients = patients
        self.base_url = base_url
        self.default_language = default_language

    async def handle(self, sender: str, body: str) -> SmsReply:
        """The answer to `body` from the phone number `sender`, recorded."""
        try:
            phone = normalize_phone(sender, self.queues.phone_region)
        except InvalidValue:
            log.info("SMS from a number we cannot read: %r", redact(sender[:32]))
            text = render_sms_reply("unreadable_number", self.default_language)
            return SmsReply(text, "unreadable_number")
        patient = Patient.sms(phone)
        keyword = parse(body)
        held = await self._held_back(phone, keyword)
        if held is not None:
            return SmsReply(None, held)
        answer: Answer | None
        try:
            answer = await self._answer(patient, keyword)
        except Exception:
            log.exception(
                "SMS from %s (%s) could not be handled", mask_phone(phone), keyword.command
            )
            answer = Answer("sorry", {})
        if answer is None:
            return SmsReply(None, keyword.command.value)
        if self.guard and not await self.guard.may_reply(phone, self.queues.clock()):
            log.warning("SMS reply to %s held back: its hourly or daily limit", mask_phone(phone))
            return SmsReply(None, "reply_limit")
        # The reply's own queue (a join) comes first; else what the patient chose or the
        # queue they were last in: a STATUS or HELP is answered in the language of the visit.
        chosen = await self.patients.language(patient)
        language = pick_language(
            chosen or answer.language or await self.patients.reply_language(patient),
            self.default_language,
        )
        if answer.notification:
            text = render_notification(answer.name, "sms", language, answer.params).text
        else:
            text = render_sms_reply(answer.name, language, **answer.params)
        record = await outbox.record_reply(
            answer.ticket_id,
            "sms",
            phone,
            answer.name,
            text,
            self.queues.clock(),
            segments=sms_segments(text),
        )
        return SmsReply(text, answer.name, record.id)

    async def _held_back(self, phone: str, keyword: Keyword) -> str | None:
        """Why the text is neither carried out nor answered, if it is not: the sender is from
        a country not served, or joins too often (each join is a paid reply)."""
        if self.guard is None:
            return None
        if not self.guard.region_allowed(phone):
            log.warning(
                "SMS from %s ignored: outside NEXTUP_SMS_ALLOWED_COUNTRIES", mask_phone(phone)
            )
            return "region_refused"
        if keyword.command is Command.JOIN and not await self.guard.may_join(
            phone, self.queues.clock()
        ):
            log.warning(
                "JOIN from %s ignored: NEXTUP_SMS_JOINS_PER_HOUR reached", mask_phone(phone)
            )
            return "join_limit"
        return None

    async def _answer(self, patient: Patient, keyword: Keyword) -> Answer | None:
        """What to reply; None: nothing (the provider confirms an opt-out itself)."""
        match keyword.command:
            case Command.OPT_OUT:
                await contacts.set_opted_out("sms", patient.address, True)
                return None
            case Command.OPT_IN:
                await contacts.set_opted_out("sms", patient.address, False)
                return Answer("opted_in", {})
            case Command.JOIN:
                return await self._join(patient, keyword)
            case Command.STATUS:
                return await self._status(patient)
            case Command.LEAVE:
                return await self._leave(patient, keyword)
            case Command.LATE:
                return await self._late(patient, keyword)
            case Command.UNKNOWN:
                return Answer("help", {"unknown": True})
        return Answer("help", {"unknown": False})

    async def _join(self, patient: Patient, keyword: Keyword) -> Answer:
        if keyword.queue is None:
            if keyword.given_queue:
                return Answer("unknown_queue", {"code": keyword.given_queue[:16]})
            return Answer("join_usage", {})
        code = keyword.queue
        try:
            joined = await self.patients.join(patient, code)
        except NotFound:
            return Answer("unknown_queue", {"code": code[:16]})
        except QueueFull:
            return Answer("queue_full", {"code": code})
        ticket = joined.ticket
        info = await self.queues.get_queue(ticket.queue)
        language = ticket.language or info.config.language
        common = {"number": ticket.number, "position": ticket.position, "queue_name": info.name}
        if joined.existing:
            return Answer("already_in", common | eta_minutes(joined.estimate), ticket.id, language)
        payload = common | {
            "token": ticket.token,
            "overflowed_from": code if ticket.queue != code else None,
        }
        if joined.estimate is not None:
            payload |= {"eta_low_s": joined.estimate.low_s, "eta_high_s": joined.estimate.high_s}
        params = template_params(payload, self.base_url)
        return Answer("joined", params, ticket.id, language, notification=True)

    async def _status(self, patient: Patient) -> Answer:
        tickets = await self.patients.status(patient)
        if not tickets:
            return Answer("status_none", {})
        only = tickets[0]["id"] if len(tickets) == 1 else None
        return Answer("status", {"tickets": tickets}, only)

    async def _leave(self, patient: Patient, keyword: Keyword) -> Answer:
        try:
            left = await self.patients.leave(patient, keyword.queue)
        except NotFound:
            return Answer(
                "status_none" if keyword.queue is None else "not_waiting", {"code": keyword.queue}
            )
        except InvalidValue:  # called already: the reply still belongs to that visit
            live = await self.patients.tickets(patient)
            return Answer("leave_called", {}, live[0].ticket.id if len(live) == 1 else None)
        only = left[0] if len(left) == 1 else None
        return Answer("left", {"numbers": [t.number for t in left]}, only.id if only else None)

    async def _late(self, patient: Patient, keyword: Keyword) -> Answer:
        if keyword.minutes is None:
            return Answer("help", {"unknown": True})
        try:
            view = await self.patients.late(patient, keyword.minutes, keyword.queue)
        except NotFound:
            return Answer("not_waiting", {"code": keyword.queue})
        except SeveralTickets as exc:
            return Answer("several_queues", {"codes": exc.queues, "command": "LATE 10"})
        except InvalidValue:
            return Answer("late_limit", {})
        params = {
            "number": view.ticket.number,
            "position": view.ticket.position,
            **eta_minutes(view.estimate),
        }
        return Answer("late_done", params, view.ticket.id)
