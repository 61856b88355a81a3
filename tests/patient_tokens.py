"""Staff API responses carry no patient-page token; tests that play the patient read it
from the database, as the patient would read it from their text or chat."""

from __future__ import annotations

from typing import Any

from core.storage.models import TicketRow


async def with_token(ticket: dict[str, Any]) -> dict[str, Any]:
    assert "token" not in ticket, "a staff response must not carry the patient's token"
    return {**ticket, "token": (await TicketRow.get(id=ticket["id"])).token}
