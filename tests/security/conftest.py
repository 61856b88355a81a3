"""A queue with one waiting patient, for the security tests."""

from __future__ import annotations

from typing import Any

import pytest

from core.storage.models import TicketRow
from tests.conftest import Api


@pytest.fixture
async def pharmacy(api: Api) -> dict[str, Any]:
    """PHARM with counters 1 and 2, and the ticket of a patient waiting in it."""
    created = await api.call(
        "POST",
        "/api/v1/queues",
        json={"code": "PHARM", "name": "Pharmacy", "prefix": "A", "counters": ["1", "2"]},
    )
    assert created.status_code == 201, created.text
    joined = await api.call(
        "POST",
        "/api/v1/queues/PHARM/tickets",
        json={"name": "Zebulon Quixote", "phone": "+15551230001"},
    )
    assert joined.status_code == 201, joined.text
    ticket: dict[str, Any] = joined.json()
    # From the database: staff API responses need not carry the patient's link.
    ticket["token"] = (await TicketRow.get(id=ticket["id"])).token
    return ticket
