"""Answers a patient's text message: joins, tells the place in line, moves back, sets the
kind of visit, leaves, opts out or in. What is answered is `PatientConversation`'s; here the
text is read, held back when a limit says so, rendered (every answer one GSM-7 segment where
it can: a join naming a kind the queue does not know takes more) and recorded with its cost."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.domain.errors import InvalidValue
from core.messages import (
    FALLBACK_LANGUAGE,
    pick_language,
    render_notification,
    render_sms_reply,
    sms_segments,
    template_params,
)
from core.phones import normalize_phone
from core.redact import mask_phone, redact
from core.services.conversation import PatientConversation, Reply
from core.services.patients import Patient, PatientService
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
        self.conversation = PatientConversation(patients)
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
        answer: Reply | None
        try:
            answer = await self._answer(patient, keyword)
        except Exception:
            log.exception(
                "SMS from %s (%s) could not be handled", mask_phone(phone), keyword.command
            )
            answer = Reply("sorry")
        if answer is None:
            return SmsReply(None, keyword.command.value)
        if self.guard and not await self.guard.may_reply(phone, self.queues.clock()):
            log.warning("SMS reply to %s held back: its hourly or daily limit", mask_phone(phone))
            return SmsReply(None, "reply_limit")
        # The language of the keyword first (ESTADO is answered in Spanish); else what the
        # patient chose, the reply's own queue (a join) or the queue they were last in: a
        # STATUS or HELP is answered in the language of the visit.
        chosen = spoken_language(keyword) or await self.patients.language(patient)
        language = pick_language(
            chosen or answer.language or await self.patients.reply_language(patient),
            self.default_language,
        )
        text = self._render(answer, language)
        if answer.followed_by is not None:
            text = f"{text}\n{self._render(answer.followed_by, language)}"
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

    def _render(self, answer: Reply, language: str) -> str:
        if answer.notification:
            params = template_params(answer.params, self.base_url)
            return render_notification(answer.name, "sms", language, params).text
        return render_sms_reply(answer.name, language, **answer.params)

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
        joining = keyword.command is Command.JOIN and not keyword.acknowledges  # "OK", "VOY"
        if joining and not await self.guard.may_join(phone, self.queues.clock()):
            log.warning(
                "JOIN from %s ignored: NEXTUP_SMS_JOINS_PER_HOUR reached", mask_phone(phone)
            )
            return "join_limit"
        return None

    async def _answer(self, patient: Patient, keyword: Keyword) -> Reply | None:
        """What to reply; None: nothing (the provider confirms an opt-out itself)."""
        conversation = self.conversation
        if keyword.acknowledges:
            acknowledged = await conversation.acknowledge_call(patient)
            if acknowledged is not None:
                if keyword.command is Command.OPT_IN:  # YES: Twilio opted the number back in
                    await contacts.set_opted_out(
                        "sms", patient.address, False, "sms_start", self.queues.clock()
                    )
                return acknowledged
        match keyword.command:
            case Command.OPT_OUT:
                await contacts.set_opted_out(
                    "sms", patient.address, True, "sms_stop", self.queues.clock()
                )
                # Twilio confirms the carriers' words itself, and blocks any answer to them;
                # it knows nothing of BAJA, so that one is confirmed here.
                return None if keyword.carrier else Reply("opted_out")
            case Command.OPT_IN:
                await contacts.set_opted_out(
                    "sms", patient.address, False, "sms_start", self.queues.clock()
                )
                return Reply("opted_in")
            case Command.JOIN:
                return await self._join(patient, keyword)
            case Command.STATUS:
                return await conversation.status(patient)
            case Command.LEAVE:
                return await conversation.leave(patient, keyword.queue)
            case Command.LATE if keyword.minutes is not None:
                return await conversation.late(patient, keyword.minutes, keyword.queue)
            case Command.KIND if keyword.kind_words is not None:
                return await conversation.name_kind(patient, keyword.kind_words)
            case Command.LATE | Command.KIND | Command.UNKNOWN:
                return conversation.not_understood(patient)
        return conversation.help()

    async def _join(self, patient: Patient, keyword: Keyword) -> Reply | None:
        if keyword.queue is not None:
            # Joining with UNIRSE is taken as choosing Spanish, unless another was chosen,
            # like a Telegram app's language: the visit's texts follow it.
            spoken = spoken_language(keyword)
            return await self.conversation.join(
                patient, keyword.queue, spoken, kind_words=keyword.kind_words
            )
        if keyword.given_queue:
            return self.conversation.no_such_queue(patient, keyword.given_queue)
        return Reply("join_usage")


def spoken_language(keyword: Keyword) -> str | None:
    """The language a keyword says the patient reads: `ESTADO`, Spanish. English keywords
    say nothing: every poster and the texts of every language printed them before other
    languages had keywords, and the carriers' words are English; the reply to them follows
    the visit."""
    if keyword.language is None or keyword.language == FALLBACK_LANGUAGE:
        return None
    return keyword.language
