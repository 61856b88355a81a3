"""The patient conversation's answers, refusals included, on both channels, without a server:
a `FakePatients` stands in for the patient service and raises what a test tells it to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from core.domain.errors import (
    IllegalTransition,
    InvalidValue,
    LateLimitReached,
    QueueFull,
)
from core.domain.eta import Eta
from core.domain.model import QueueConfig, Ticket
from core.messages import render_sms_reply, render_text
from core.services.conversation import PatientConversation, Reply
from core.services.errors import AlreadyCalled, Forbidden, SeveralTickets
from core.services.patients import Patient, PatientService
from core.services.queues import JoinedTicket, QueueInfo, TicketView
from core.storage.errors import NotFound

TELEGRAM = Patient.telegram(4242)
SMS = Patient.sms("+15550100123")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ESTIMATE = Eta(eta_s=600, low_s=420, high_s=780)


def ticket(queue: str = "PHARM", number: str = "P-007", **fields: Any) -> Ticket:
    return Ticket(
        id=f"id-{number}",
        queue=queue,
        number=number,
        seq=7,
        token="tok",
        joined_at=NOW,
        line_at=NOW,
        position=3,
        **fields,
    )


class FakeQueues:
    async def get_queue(self, code: str) -> QueueInfo:
        # Replies name the queue as patients may read it, never its real name.
        return QueueInfo(
            code, "Sexual health clinic", "P", QueueConfig(language="es"), [], "Clinic 4"
        )


class FakePatients:
    """Answers every call with `answer`, or raises `refusal` when one is set."""

    def __init__(self, refusal: Exception | None = None, answer: Any = None) -> None:
        self.queues = FakeQueues()
        self.refusal, self.answer = refusal, answer
        self.chosen: str | None = None
        self.live: list[TicketView] = []

    async def _act(self) -> Any:
        if self.refusal is not None:
            raise self.refusal
        return self.answer

    async def join(
        self, patient: Patient, code: str, consent: str | None = None, service: str | None = None
    ) -> Any:
        return await self._act()

    async def leave(self, patient: Patient, code: str | None) -> Any:
        return await self._act()

    async def late(self, patient: Patient, minutes: int, code: str | None) -> Any:
        return await self._act()

    async def set_travel_time(self, patient: Patient, minutes: int, code: str | None) -> Any:
        return await self._act()

    async def acknowledge(self, patient: Patient, ticket_id: str) -> Any:
        return await self._act()

    async def rate(self, patient: Patient, ticket_id: str, score: int) -> Any:
        return await self._act()

    async def status(self, patient: Patient) -> Any:
        return await self._act()

    async def tickets(self, patient: Patient) -> list[TicketView]:
        return self.live

    async def language(self, patient: Patient) -> str | None:
        return self.chosen

    async def set_language(self, patient: Patient, language: str) -> None:
        self.chosen = language


def conversation(refusal: Exception | None = None, answer: Any = None) -> PatientConversation:
    return PatientConversation(cast(PatientService, FakePatients(refusal, answer)))


def patients_of(talk: PatientConversation) -> FakePatients:
    return cast(FakePatients, talk.patients)


@pytest.mark.parametrize("patient", [TELEGRAM, SMS], ids=["telegram", "sms"])
@pytest.mark.parametrize(
    ("call", "refusal", "expected"),
    [
        ("join", NotFound("queue", "LAB"), Reply("unknown_queue", {"code": "LAB"})),
        ("join", QueueFull("LAB", 5, None), Reply("queue_full", {"code": "LAB"})),
        ("leave", NotFound("ticket", "sms"), Reply("status_none", {"code": None})),
        ("late", NotFound("ticket", "sms"), Reply("not_waiting", {"code": None})),
        ("late", LateLimitReached(2), Reply("late_limit")),
        ("travel", NotFound("ticket", "sms"), Reply("not_waiting", {"code": None})),
        ("acknowledge", Forbidden("that ticket is not yours"), Reply("not_yours")),
        ("acknowledge", NotFound("ticket", "x"), Reply("not_yours")),
        (
            "acknowledge",
            IllegalTransition("P-007", "acknowledge", "done"),
            Reply("ack_stale", ticket_id="T1", buttons_spent=True),
        ),
        ("rate", Forbidden("that ticket is not yours"), Reply("not_yours")),
        (
            "rate",
            IllegalTransition("P-007", "rate", "waiting"),
            Reply("rate_stale", ticket_id="T1"),
        ),
        ("rate", InvalidValue("a rating is between 1 and 5"), Reply("rate_stale", ticket_id="T1")),
    ],
)
async def test_a_refusal_is_answered_the_same_on_both_channels(
    patient: Patient, call: str, refusal: Exception, expected: Reply
) -> None:
    talk = conversation(refusal)
    args: dict[str, tuple[Any, ...]] = {
        "join": ("LAB",),
        "leave": (None,),
        "late": (10, None),
        "travel": (10, None),
        "acknowledge": ("T1",),
        "rate": ("T1", 4),
    }
    assert await getattr(talk, call)(patient, *args[call]) == expected


async def test_a_late_out_of_range_is_not_taken_for_the_late_limit() -> None:
    """Only `LateLimitReached` is "moved back too often"; another bad value is no answer of
    the conversation's (the channel's error boundary says sorry)."""
    talk = conversation(InvalidValue("late must be between 1 and 120 minutes"))
    with pytest.raises(InvalidValue, match="between 1 and 120"):
        await talk.late(SMS, 500)


async def test_leaving_after_the_call_names_the_visit_when_there_is_one() -> None:
    talk = conversation(AlreadyCalled())
    patients_of(talk).live = [TicketView(ticket(), ESTIMATE, [])]
    assert await talk.leave(SMS) == Reply("leave_called", {}, "id-P-007")
    patients_of(talk).live.append(TicketView(ticket("LAB", "L-001"), None, []))
    assert await talk.leave(TELEGRAM) == Reply("leave_called", {}, None)


@pytest.mark.parametrize(
    ("patient", "name"), [(TELEGRAM, "status_none"), (SMS, "not_waiting")], ids=["tg", "sms"]
)
async def test_leaving_a_named_queue_not_waited_in(patient: Patient, name: str) -> None:
    talk = conversation(NotFound("ticket", "LAB"))
    assert await talk.leave(patient, "LAB") == Reply(name, {"code": "LAB"})


@pytest.mark.parametrize(
    ("patient", "command"), [(TELEGRAM, "/late 20"), (SMS, "LATE 10")], ids=["tg", "sms"]
)
async def test_several_queues_shows_the_command_of_the_channel(
    patient: Patient, command: str
) -> None:
    talk = conversation(SeveralTickets(["PHARM", "LAB"]))
    expected = Reply("several_queues", {"codes": ["PHARM", "LAB"], "command": command})
    assert await talk.late(patient, 20) == expected


async def test_travel_in_several_queues_shows_travel() -> None:
    talk = conversation(SeveralTickets(["PHARM", "LAB"]))
    reply = await talk.travel(TELEGRAM, 15)
    assert reply.params["command"] == "/travel 15"


def test_both_catalogues_word_several_queues_from_the_same_params() -> None:
    params = {"codes": ["PHARM", "LAB"], "command": "/late 20"}
    assert render_text("several_queues", "en", **params) == (
        "You are waiting in several queues (PHARM, LAB). Add the code, e.g. /late 20 PHARM"
    )
    assert render_text("several_queues", "es", **params) == (
        "Está esperando en varias filas (PHARM, LAB). Añada el código, por ejemplo /late 20 PHARM"
    )
    sms = render_sms_reply("several_queues", "en", **params | {"command": "LATE 10"})
    assert sms == "You are in PHARM, LAB. Add the queue code, for example LATE 10 PHARM."


async def test_an_unknown_code_is_said_back_shorter_by_text() -> None:
    code = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    talk = conversation(NotFound("queue", code))
    assert (await talk.join(TELEGRAM, code)) == Reply("unknown_queue", {"code": code})
    assert (await talk.join(SMS, code)) == Reply("unknown_queue", {"code": code[:16]})


async def test_a_new_join_is_answered_by_text_only() -> None:
    joined = JoinedTicket(ticket(), ESTIMATE)
    assert await conversation(answer=joined).join(TELEGRAM, "PHARM") is None
    reply = await conversation(answer=joined).join(SMS, "PHARM")
    assert reply is not None and reply.notification
    assert (reply.name, reply.ticket_id, reply.language) == ("joined", "id-P-007", "es")
    assert reply.params == {
        "number": "P-007",
        "position": 3,
        "queue_name": "Clinic 4",
        "token": "tok",
        "overflowed_from": None,
        "eta_low_s": 420,
        "eta_high_s": 780,
    }


@pytest.mark.parametrize("patient", [TELEGRAM, SMS], ids=["telegram", "sms"])
async def test_a_second_join_tells_the_ticket_held(patient: Patient) -> None:
    joined = JoinedTicket(ticket(language="en"), ESTIMATE, existing=True)
    reply = await conversation(answer=joined).join(patient, "PHARM")
    assert reply == Reply(
        "already_in",
        {
            "number": "P-007",
            "position": 3,
            "queue_name": "Clinic 4",
            "eta_low_min": 7,
            "eta_high_min": 13,
        },
        "id-P-007",
        "en",
    )


async def test_the_app_language_is_taken_only_when_none_was_chosen() -> None:
    talk = conversation(NotFound("queue", "LAB"))
    await talk.join(TELEGRAM, "LAB", app_language="es-MX")
    assert patients_of(talk).chosen == "es"
    await talk.join(TELEGRAM, "LAB", app_language="en")
    assert patients_of(talk).chosen == "es"


async def test_late_tells_how_many_moves_are_left() -> None:
    view = TicketView(ticket(late_count=1), None, [])
    reply = await conversation(answer=view).late(TELEGRAM, 10)
    assert reply == Reply(
        "late_done",
        {
            "number": "P-007",
            "position": 3,
            "late_left": 1,
            "eta_low_min": None,
            "eta_high_min": None,
        },
        "id-P-007",
    )


async def test_the_buttons_go_once_answered() -> None:
    assert (await conversation().acknowledge(TELEGRAM, "T1")).buttons_spent
    assert await conversation().rate(TELEGRAM, "T1", 5) == Reply(
        "rated", {"score": 5}, "T1", buttons_spent=True
    )


async def test_language_choice() -> None:
    talk = conversation()
    assert await talk.choose_language(TELEGRAM, "es") == Reply(
        "lang_set", {"language_name": "Español"}
    )
    usage = await talk.choose_language(TELEGRAM, "fr")
    assert usage.name == "lang_usage" and ("en", "English") in usage.params["languages"]


def test_what_is_not_understood_is_worded_per_channel() -> None:
    talk = conversation()
    assert talk.not_understood(TELEGRAM) == Reply("unknown_command")
    assert talk.not_understood(SMS) == Reply("help", {"unknown": True})
    assert talk.help() == Reply("help", {"unknown": False})
