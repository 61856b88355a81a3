"""A person's access and erasure requests: `nextup patient export|erase` and the admin
API. Export gives everything held about that person and nothing of anyone else's; erase
cancels a live ticket (the patient is told) and leaves none of their data behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from core.services import accounts
from core.services.patients import Patient
from core.services.privacy import Subject
from core.storage.models import OutboxMessage, PrivacyLogRow, TicketEventRow, TicketRow
from tests.privacy.conftest import SECRET_KEY, Clinic, database_dump
from tests.privacy.test_purge import serve_everyone, settled
from tests.processes import run_nextup

ANA = "+34600111222"
BEN = "+34600333444"
CARLA = 918273645


async def two_visits_of_ana(clinic: Clinic) -> None:
    """Ana comes, opts out and in again, is served and joins again (still waiting); Ben
    and Carla (on Telegram) are in line with her."""
    await clinic.text(ANA, "JOIN PHARM")
    await clinic.text(ANA, "STOP")
    await clinic.text(ANA, "START")
    await serve_everyone(clinic)
    await clinic.text(ANA, "JOIN PHARM")
    await clinic.text(BEN, "JOIN PHARM")
    await clinic.tg.user_message(CARLA, "/start q_PHARM", first_name="Carla")
    await clinic.tg.wait_for_message(CARLA, "A-004")
    await settled(clinic)


async def others_data() -> list[str]:
    tokens = await TicketRow.exclude(phone=ANA).values_list("token", flat=True)
    return [BEN, str(CARLA), *[str(t) for t in tokens]]


async def test_export_gives_everything_of_that_person_and_nothing_else(
    clinic: Clinic, tmp_path: Path
) -> None:
    await two_visits_of_ana(clinic)
    done = await asyncio.to_thread(
        run_nextup,
        tmp_path,
        "patient",
        "export",
        "--phone",
        ANA,
        database_url=clinic.database_url,
        secret_key=SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    held = json.loads(done.stdout)

    hers = await TicketRow.filter(phone=ANA).order_by("joined_at")
    assert [t["id"] for t in held["tickets"]] == [t.id for t in hers]
    assert [t["token"] for t in held["tickets"]] == [t.token for t in hers]
    for ticket in held["tickets"]:
        messages = await OutboxMessage.filter(ticket_id=ticket["id"]).values_list("id", flat=True)
        assert sorted(m["id"] for m in ticket["messages"]) == sorted(messages)
        events = await TicketEventRow.filter(ticket_id=ticket["id"]).count()
        assert len(ticket["history"]) == events > 0
        assert [c["method"] for c in ticket["consents"]] == ["sms_keyword"]
    assert [(h["action"], h["method"]) for h in held["opt_out_history"]] == [
        ("opt_out", "sms_stop"),
        ("opt_in", "sms_start"),
    ]
    assert held["contact"]["opted_out"] is False
    text = json.dumps(held)
    for datum in await others_data():
        assert datum not in text, datum
    log = await PrivacyLogRow.get(kind="export")
    assert log.subject == "phone" and log.counts["tickets"] == 2
    assert ANA not in str(await PrivacyLogRow.all().values())


@pytest.fixture
async def admin_api(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    await accounts.create_account("dpo", "admin", "correct horse")
    await accounts.create_account("nurse", "staff", "correct horse", queues=["PHARM"])
    clients = {
        name: httpx.AsyncClient(
            base_url=clinic.local_url,
            headers={"Authorization": f"Bearer {await accounts.issue_token(name)}"},
            timeout=30,
        )
        for name in ("dpo", "nurse")
    }
    clinic.nurse = clients["nurse"]  # type: ignore[attr-defined]
    return clients["dpo"]


async def test_erase_by_the_api_cancels_tells_and_leaves_nothing_of_that_person(
    clinic: Clinic, admin_api: httpx.AsyncClient
) -> None:
    await two_visits_of_ana(clinic)
    ana_tokens = [str(t) for t in await TicketRow.filter(phone=ANA).values_list("token", flat=True)]
    others = await others_data()
    texts_before = len(clinic.twilio.messages_to(ANA))
    nurse: httpx.AsyncClient = clinic.nurse  # type: ignore[attr-defined]
    refused = await nurse.post("/api/v1/privacy/erase", json={"phone": ANA})
    assert refused.status_code == 403
    assert (await nurse.post("/api/v1/privacy/export", json={"phone": ANA})).status_code == 403

    answer = await admin_api.post("/api/v1/privacy/erase", json={"phone": ANA})
    assert answer.status_code == 200, answer.text
    erased = answer.json()["erased"]
    assert erased["cancelled"] == 1 and erased["tickets"] == 2, erased
    # She was told her place was given up before her number went.
    left = await OutboxMessage.get(kind="left", channel="sms")
    assert left.status == "sent" and left.recipient == ""
    assert len(clinic.twilio.messages_to(ANA)) == texts_before + 1

    dump = await database_dump(clinic.database_url)
    for datum in [ANA, ANA.removeprefix("+"), *ana_tokens]:
        assert datum not in dump, datum
    for datum in others:  # only hers went
        assert datum in dump, datum
    log = await PrivacyLogRow.get(kind="erase")
    assert log.actor == "staff:dpo" and log.subject == "phone"
    # Nothing is left to export.
    again = await admin_api.post("/api/v1/privacy/export", json={"phone": ANA})
    assert again.status_code == 200
    assert again.json()["tickets"] == [] and again.json()["opt_out_history"] == []


async def test_erase_by_telegram_chat_id(clinic: Clinic) -> None:
    await two_visits_of_ana(clinic)
    subject_tokens = await TicketRow.filter(telegram_chat_id=CARLA).values_list("token", flat=True)
    erased = await clinic.container.privacy.erase(Subject.of(None, CARLA), "cli:dpo")
    assert erased["cancelled"] == 1 and erased["tickets"] == 1
    assert "A-004" in (await clinic.tg.wait_for_message(CARLA, "A-004", count=2))[-1].text
    dump = await database_dump(clinic.database_url)
    assert str(CARLA) not in dump and str(subject_tokens[0]) not in dump
    assert ANA in dump
    assert await clinic.container.patients.tickets(Patient.telegram(CARLA)) == []


async def test_erase_from_the_command_line_prints_what_went(clinic: Clinic, tmp_path: Path) -> None:
    await two_visits_of_ana(clinic)
    await serve_everyone(clinic)
    await settled(clinic)
    ben_token = str((await TicketRow.get(phone=BEN)).token)
    done = await asyncio.to_thread(
        run_nextup,
        tmp_path,
        "patient",
        "erase",
        "--phone",
        BEN,
        database_url=clinic.database_url,
        secret_key=SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    erased = json.loads(done.stdout)["erased"]
    assert erased["tickets"] == 1 and "cancelled" not in erased, erased
    assert erased["consents"] == 1 and erased["messages"] >= 1, erased
    dump = await database_dump(clinic.database_url)
    assert BEN not in dump and ben_token not in dump
    assert ANA in dump and str(CARLA) in dump
    log = await PrivacyLogRow.get(kind="erase")
    assert log.actor.startswith("cli") and BEN not in str(log.counts)
