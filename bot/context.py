"""What bot handlers are given (aiogram injects it by name) and how they answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import Message, User

from core.domain.model import queue_code
from core.domain.numbers import whole_number
from core.messages import pick_language, render_text
from core.services.conversation import PatientConversation, Reply
from core.services.patients import Patient, PatientService
from core.services.queues import QueueService
from core.services.staff_chat import StaffChat


@dataclass(frozen=True)
class BotServices:
    queues: QueueService
    patients: PatientService
    staff: StaffChat
    default_language: str = "en"

    def now(self) -> datetime:
        return self.queues.clock()

    @property
    def conversation(self) -> PatientConversation:
        return PatientConversation(self.patients)

    async def language(self, patient: Patient, user: User | None) -> str:
        """What the patient chose with /lang, else their Telegram app's language."""
        chosen = await self.patients.language(patient)
        requested = chosen or (user.language_code if user else None)
        return pick_language(requested, self.default_language)


def patient_of(message: Message) -> Patient:
    return Patient.telegram(message.chat.id)


async def reply(message: Message, services: BotServices, name: str, /, **params: Any) -> None:
    language = await services.language(patient_of(message), message.from_user)
    await message.answer(render_text(name, language, **params))


async def say(message: Message, services: BotServices, answer: Reply | None) -> None:
    """Sends the conversation's answer, when it has one."""
    if answer is not None:
        await reply(message, services, answer.name, **answer.params)


def minutes_arg(raw: str | None, low: int = 1, high: int = 120) -> int | None:
    minutes = whole_number(raw) if raw is not None else None
    return minutes if minutes is not None and low <= minutes <= high else None


def minutes_and_queue(args: str | None) -> tuple[int, str | None] | None:
    """`MIN [CODE]` of /late and /travel, or None when it is not that."""
    words = (args or "").split()
    minutes = minutes_arg(words[0]) if words else None
    if minutes is None or len(words) > 2:
        return None
    return minutes, queue_code(words[1]) if len(words) > 1 else None
