"""A ticket loaded from its stored values is the ticket that was stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.domain.model import Ticket, TicketStatus
from core.storage.mapping import stored_ticket_values, ticket_from_values

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def stored(ticket: Ticket) -> tuple[object, ...]:
    """The values as a row of the tickets table holds them: the status by its value."""
    return tuple(
        v.value if isinstance(v, TicketStatus) else v for v in stored_ticket_values(ticket)
    )


def test_every_stored_field_comes_back_and_position_starts_unranked() -> None:
    minute = timedelta(minutes=1)
    ticket = Ticket(
        id="t1",
        queue="q",
        number="A-007",
        seq=7,
        token="tok",
        joined_at=T0,
        line_at=T0 + minute,
        status=TicketStatus.CALLED,
        priority=2,
        appointment_at=T0 + 2 * minute,
        counter="3",
        called_at=T0 + 3 * minute,
        recalled_at=T0 + 4 * minute,
        recall_count=1,
        name="Ana",
        phone="+15550100",
        telegram_chat_id=42,
        language="es",
        late_count=1,
        travel_s=600,
        announced_eta_s=900,
        announced_at=T0 + 5 * minute,
        leave_now_sent=True,
        acknowledged_at=T0 + 6 * minute,
        service="vaccine",
        fifo_call_at=T0 + 7 * minute,
        fifo_call_no=5,
        told_position=3,
    )
    loaded = ticket_from_values("q", "t1", stored(ticket))
    assert loaded == ticket
    assert loaded.status is TicketStatus.CALLED
    assert loaded.position is None  # derived by ranking, never stored
    assert list(vars(loaded).items()) == list(vars(ticket).items())  # as __init__ sets them


def test_tickets_loaded_from_one_template_share_no_state() -> None:
    first = Ticket(id="a", queue="q", number="A-001", seq=1, token="x", joined_at=T0, line_at=T0)
    values = stored(first)
    one, other = ticket_from_values("q", "a", values), ticket_from_values("q", "b", values)
    one.position, one.name = 1, "changed"
    assert (other.id, other.position, other.name) == ("b", None, None)
