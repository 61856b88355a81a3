"""One patient conversation for every channel: what a patient can ask from a phone (join,
status, leave, "I'm late", travel time, the kind of visit, a number to text a missed call
to, language, help, the buttons under a call or a finished visit) and what they are
answered, refusals included.

The bot (`bot/`) and the SMS webhook (`sms/`) parse their input into these calls and render
the `Reply` with their own templates (`templates/<lang>/bot/`, `templates/<lang>/sms_reply/`);
neither turns a service error into a reply itself. Where the two channels do answer
differently, the difference is data: the `Wording` of each channel in `WORDINGS`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.errors import (
    DomainError,
    IllegalTransition,
    InvalidValue,
    LateLimitReached,
    QueueClosed,
    QueueClosing,
    QueueFull,
)
from core.domain.hours import WEEKDAYS
from core.domain.model import MAX_LATE, TicketStatus
from core.messages import LANGUAGE_NAMES, SUPPORTED_LANGUAGES, match_kind
from core.redact import mask_phone, redact
from core.services.errors import AlreadyCalled, Forbidden, SeveralTickets
from core.services.patients import Patient, PatientService, eta_minutes
from core.services.queues import JoinedTicket, TicketView
from core.storage.errors import NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """What to answer: the name of a template of the channel's catalogue, and its params."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    ticket_id: str | None = None
    """The visit the answer is about, when it is about one (its delivery record names it)."""
    language: str | None = None
    """The queue's language, for a patient who never chose one."""
    notification: bool = False
    """The notification `name` stands in for a reply (a join by text is answered "joined")."""
    buttons_spent: bool = False
    """The buttons the patient pressed are answered, or stale: they can go."""
    followed_by: Reply | None = None
    """A second answer said in the same message, after this one (a join by text that named
    a kind of visit the queue does not know: joined, and the kinds it does)."""


@dataclass(frozen=True)
class Wording:
    """Where one channel answers the same thing differently from the other."""

    joined_in_reply: bool
    """A join is answered with the "joined" notification itself. By text it is: one paid
    message instead of two (`core.domain.notify` sends no other). On Telegram that
    notification follows through the outbox, and a join needs no answer of its own."""
    not_in_named_queue: str
    """The answer to leaving a named queue one is not waiting in: by text it names the
    queue back (`not_waiting`); the bot says there is no ticket (`status_none`)."""
    example_command: str
    """How "you are in several queues, add the code" shows the command to send again:
    `{action}` and `{keyword}` are its name in lower and upper case, `{minutes}` as sent."""
    not_understood: Reply
    """The answer to a message that is no command of the channel's."""
    echoed_code_chars: int | None
    """How much of a queue code that does not exist is said back; None: all of it."""


WORDINGS: dict[str, Wording] = {
    "telegram": Wording(
        joined_in_reply=False,
        not_in_named_queue="status_none",
        example_command="/{action} {minutes}",
        not_understood=Reply("unknown_command"),
        echoed_code_chars=None,
    ),
    "sms": Wording(
        joined_in_reply=True,
        not_in_named_queue="not_waiting",
        example_command="{keyword} 10",  # the help text's example, whatever was sent
        not_understood=Reply("help", {"unknown": True}),
        echoed_code_chars=16,  # keeps "we have no queue called …" to one segment
    ),
}
"""Keyed by `Patient.channel`."""


KIND_WORD_CHARS = 16
"""How much of a kind of visit we do not know is said back, like a queue code by text."""


class PatientConversation:
    """The answers to a patient, whichever channel they write from."""

    def __init__(self, patients: PatientService) -> None:
        self.patients = patients

    def help(self) -> Reply:
        """What the patient can ask, as the channel's help text lists it."""
        return Reply("help", {"unknown": False})

    def not_understood(self, patient: Patient) -> Reply:
        """The answer to a message or a button the conversation cannot read."""
        return WORDINGS[patient.channel].not_understood

    def no_such_queue(self, patient: Patient, code: str) -> Reply:
        """The answer to a queue code that is not one of ours, said back as typed."""
        chars = WORDINGS[patient.channel].echoed_code_chars
        return Reply("unknown_queue", {"code": code[:chars]})

    async def join(
        self,
        patient: Patient,
        code: str,
        app_language: str | None = None,
        consent: str | None = None,
        kind_words: str | None = None,
    ) -> Reply | None:
        """Joins queue `code`; None: nothing to answer (the "joined" notification follows).

        `app_language` is the language of the patient's app (Telegram's), taken as their
        choice when they made none. `kind_words` name the kind of visit (`JOIN PHARM
        PICKUP`): one the queue does not offer still joins, without a kind, and the answer
        goes on to list the kinds it does; a queue that offers none ignores them.
        """
        if app_language:
            await self._adopt_language(patient, app_language)
        try:
            offered = await self._kinds_offered(code) if kind_words else []
            kind = match_kind(kind_words or "", offered)
            joined = await self._join(patient, code, consent, kind)
        except NotFound:
            return self.no_such_queue(patient, code)
        except QueueFull:
            return Reply("queue_full", {"code": code})
        except (QueueClosed, QueueClosing) as closed:
            return await self._closed(closed)
        if joined.existing and kind is not None:
            joined = await self._rejoin_with_kind(patient, joined, kind)
        if not joined.existing and not WORDINGS[patient.channel].joined_in_reply:
            return None
        ticket = joined.ticket
        info = await self.patients.queues.get_queue(ticket.queue)
        language = ticket.language or info.config.language
        facts: dict[str, Any] = {
            "number": ticket.number,
            "position": ticket.position,
            "queue_name": info.shown_name,
        }
        unknown_kind = None
        if offered and kind_words and kind is None:  # (a known kind the overflow lacks: none)
            unknown_kind = Reply("kind_unknown", self._kinds_offer(kind_words, offered))
        if joined.existing:
            params = facts | eta_minutes(joined.estimate)
            return Reply("already_in", params, ticket.id, language, followed_by=unknown_kind)
        facts |= {"token": ticket.token, "overflowed_from": code if ticket.queue != code else None}
        if joined.estimate is not None:
            facts |= {"eta_low_s": joined.estimate.low_s, "eta_high_s": joined.estimate.high_s}
        return Reply(
            "joined", facts, ticket.id, language, notification=True, followed_by=unknown_kind
        )

    async def _kinds_offered(self, code: str) -> list[str]:
        return sorted((await self.patients.queues.get_config(code)).service_times_s)

    async def _join(
        self, patient: Patient, code: str, consent: str | None, kind: str | None
    ) -> JoinedTicket:
        try:
            return await self.patients.join(patient, code, consent=consent, service=kind)
        except InvalidValue:
            if kind is None:
                raise
            # Full, and its overflow queue offers no such kind: the place matters more.
            return await self.patients.join(patient, code, consent=consent)

    async def _rejoin_with_kind(
        self, patient: Patient, joined: JoinedTicket, kind: str
    ) -> JoinedTicket:
        """Joining again, now naming the kind of visit: the ticket held takes it."""
        ticket = joined.ticket
        if ticket.service == kind or ticket.status is not TicketStatus.WAITING:
            return joined
        try:
            view = await self.patients.choose_service(patient, ticket.id, kind)
        except DomainError:  # called meanwhile: the ticket stands as it is
            return joined
        return JoinedTicket(view.ticket, view.estimate, existing=True)

    def _kinds_offer(self, words: str, offered: list[str]) -> dict[str, Any]:
        return {"word": words[:KIND_WORD_CHARS], "kinds": offered}

    async def _closed(self, closed: QueueClosed | QueueClosing) -> Reply:
        """ "Closed, opens Mon 08:00" (or paused, or closing before the patient could be
        seen), with the times in the queue's own zone."""
        info = await self.patients.queues.get_queue(closed.queue)
        zone = ZoneInfo(info.config.timezone)
        params: dict[str, Any] = {"code": closed.queue} | _local_day_time(
            closed.opens_at, zone, "opens"
        )
        if isinstance(closed, QueueClosing):
            params["closes_time"] = _local_day_time(closed.closes_at, zone, "closes")["closes_time"]
            return Reply("queue_closing", params, language=info.config.language)
        params |= {"paused": closed.paused, "pause_message": closed.pause_message}
        return Reply("queue_closed", params, language=info.config.language)

    async def _adopt_language(self, patient: Patient, app_language: str) -> None:
        language = app_language[:2]
        if language in SUPPORTED_LANGUAGES and await self.patients.language(patient) is None:
            await self.patients.set_language(patient, language)

    async def status(self, patient: Patient) -> Reply:
        """The patient's live tickets: place in line, wait, counter."""
        tickets = await self.patients.status(patient)
        if not tickets:
            return Reply("status_none")
        only = tickets[0]["id"] if len(tickets) == 1 else None
        return Reply("status", {"tickets": tickets}, only)

    async def leave(self, patient: Patient, code: str | None = None) -> Reply:
        """Leaves queue `code`, or every queue the patient waits in."""
        try:
            left = await self.patients.leave(patient, code)
        except NotFound:
            name = WORDINGS[patient.channel].not_in_named_queue if code else "status_none"
            return Reply(name, {"code": code})
        except AlreadyCalled:  # the answer still belongs to that visit
            live = await self.patients.tickets(patient)
            return Reply("leave_called", {}, live[0].ticket.id if len(live) == 1 else None)
        only = left[0].id if len(left) == 1 else None
        return Reply("left", {"numbers": [t.number for t in left]}, only)

    async def late(self, patient: Patient, minutes: int, code: str | None = None) -> Reply:
        """ "I'm running late": moves the patient back about `minutes` of service."""
        try:
            view = await self.patients.late(patient, minutes, code)
        except NotFound:
            return Reply("not_waiting", {"code": code})
        except SeveralTickets as exc:
            return self._which_queue(patient, exc, "late", minutes)
        except LateLimitReached:
            return Reply("late_limit")
        params = {
            "number": view.ticket.number,
            "position": view.ticket.position,
            "late_left": MAX_LATE - view.ticket.late_count,
            **eta_minutes(view.estimate),
        }
        return Reply("late_done", params, view.ticket.id)

    async def travel(self, patient: Patient, minutes: int, code: str | None = None) -> Reply:
        """How many minutes the patient needs to come back, for "leave now"."""
        try:
            view = await self.patients.set_travel_time(patient, minutes, code)
        except NotFound:
            return Reply("not_waiting", {"code": code})
        except SeveralTickets as exc:
            return self._which_queue(patient, exc, "travel", minutes)
        return Reply("travel_done", {"minutes": minutes}, view.ticket.id)

    def _which_queue(
        self, patient: Patient, several: SeveralTickets, action: str, minutes: int
    ) -> Reply:
        command = WORDINGS[patient.channel].example_command.format(
            action=action, keyword=action.upper(), minutes=minutes
        )
        return Reply("several_queues", {"codes": several.queues, "command": command})

    async def kind_question(
        self, patient: Patient, code: str | None = None, unknown_only: bool = False
    ) -> Reply | None:
        """ "What is your visit for?", about the patient's waiting ticket (in queue `code`,
        when given) whose queue offers kinds of visit; with `unknown_only`, only about one
        whose kind is not known yet (the question after a join). None: nothing to ask."""
        try:
            if code is not None and not await self._kinds_offered(code):
                return None  # most queues offer none: one read, and no look at the tickets
        except NotFound:  # no such queue: the join said so
            return None
        for ticket in await self.patients.waiting_tickets(patient):
            if (code is not None and ticket.queue != code) or (
                unknown_only and ticket.service is not None
            ):
                continue
            config = await self.patients.queues.get_config(ticket.queue)
            if config.service_times_s:
                params = {
                    "number": ticket.number,
                    "kind": ticket.service,
                    "kinds": sorted(config.service_times_s),
                }
                language = ticket.language or config.language
                return Reply("kind_question", params, ticket.id, language)
        return None

    async def choose_kind(self, patient: Patient, ticket_id: str, kind: str | None) -> Reply:
        """A button under "What is your visit for?": a kind, or None ("not sure")."""
        try:
            view = await self.patients.choose_service(patient, ticket_id, kind)
        except (Forbidden, NotFound):
            return self._not_yours(patient)
        except (IllegalTransition, InvalidValue):  # called meanwhile, or the kinds changed
            return Reply("kind_stale", ticket_id=ticket_id, buttons_spent=True)
        return self._kind_set(view)

    async def name_kind(self, patient: Patient, words: str) -> Reply:
        """The kind of visit named in words (`KIND PICKUP` by text), for each waiting ticket
        whose queue offers it; none does: the answer lists the kinds offered."""
        waiting = await self.patients.waiting_tickets(patient)
        if not waiting:
            return Reply("status_none")
        offered = {t.id: await self._kinds_offered(t.queue) for t in waiting}
        matched = [(t, match_kind(words, offered[t.id])) for t in waiting]
        chosen = [(t, kind) for t, kind in matched if kind is not None]
        if not chosen:
            kinds = next((kinds for kinds in offered.values() if kinds), [])
            return Reply("kind_unknown", self._kinds_offer(words, kinds))
        try:
            views = [await self.patients.choose_service(patient, t.id, k) for t, k in chosen]
        except DomainError:  # called meanwhile
            return Reply("kind_stale")
        return self._kind_set(views[0])

    def _kind_set(self, view: TicketView) -> Reply:
        params = {
            "number": view.ticket.number,
            "position": view.ticket.position,
            "kind": view.ticket.service,
            **eta_minutes(view.estimate),
        }
        return Reply("kind_set", params, view.ticket.id, buttons_spent=True)

    async def give_phone(self, patient: Patient, phone: str) -> Reply:
        """A number (E.164) to text a call the patient missed on their channel to."""
        try:
            await self.patients.set_phone(patient, phone)
        except NotFound:
            return Reply("phone_no_visit")
        # Masked even here: a chat may be read over a shoulder, and the patient knows the rest.
        return Reply("phone_saved", {"phone_masked": mask_phone(phone)})

    async def forget_phone(self, patient: Patient) -> Reply:
        """No more texts: the number given goes from every live ticket."""
        try:
            forgotten = await self.patients.set_phone(patient, None)
        except NotFound:
            return Reply("phone_none", {"visit": False})
        if not forgotten:
            return Reply("phone_none", {"visit": True})
        return Reply("phone_removed")

    async def choose_language(self, patient: Patient, choice: str) -> Reply:
        """For this and every later message; an unsupported `choice` gets the list."""
        if choice not in SUPPORTED_LANGUAGES:
            languages = [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LANGUAGES]
            return Reply("lang_usage", {"languages": languages})
        await self.patients.set_language(patient, choice)
        return Reply("lang_set", {"language_name": LANGUAGE_NAMES[choice]})

    async def acknowledge(self, patient: Patient, ticket_id: str) -> Reply:
        """ "I'm on my way", the button under a call."""
        try:
            await self.patients.acknowledge(patient, ticket_id)
        except (Forbidden, NotFound):
            return self._not_yours(patient)
        except IllegalTransition:
            return Reply("ack_stale", ticket_id=ticket_id, buttons_spent=True)
        return Reply("ack_thanks", ticket_id=ticket_id, buttons_spent=True)

    async def acknowledge_call(self, patient: Patient) -> Reply | None:
        """A text answering a call ("OK", "SI"); None when the patient is not being called
        (the text then means what it would otherwise)."""
        try:
            ticket = await self.patients.acknowledge_call(patient)
        except DomainError:  # the call ended meanwhile
            return None
        if ticket is None:
            return None
        return Reply("ack_thanks", ticket_id=ticket.id)

    async def rate(self, patient: Patient, ticket_id: str, score: int) -> Reply:
        """A score from the buttons under the end of a visit."""
        try:
            await self.patients.rate(patient, ticket_id, score)
        except (Forbidden, NotFound):
            return self._not_yours(patient)
        except DomainError:  # not finished yet, a score out of range, a change meanwhile
            return Reply("rate_stale", ticket_id=ticket_id)
        return Reply("rated", {"score": score}, ticket_id, buttons_spent=True)

    def _not_yours(self, patient: Patient) -> Reply:
        log.warning(
            "%s patient %s pressed a button of a ticket not theirs",
            patient.channel,
            redact(patient.address),
        )
        return Reply("not_yours")


def _local_day_time(at: datetime | None, zone: ZoneInfo, prefix: str) -> dict[str, str | None]:
    """`{prefix}_day` (a weekday key, `mon`) and `{prefix}_time` (`08:00`) of `at` in the
    queue's zone, for the catalogue to put in words; both None when `at` is."""
    if at is None:
        return {f"{prefix}_day": None, f"{prefix}_time": None}
    local = at.astimezone(zone)
    return {f"{prefix}_day": WEEKDAYS[local.weekday()], f"{prefix}_time": local.strftime("%H:%M")}
