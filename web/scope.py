"""Queue scope: which queues an authenticated staff account may see and act on.

One check, made where a request names a queue (the `code` path parameter, the `queue` query
parameter of the console's reports, a transfer's target) or a ticket (`ticket_id`: the
ticket's queue), by the two decorators every staff route goes through (`endpoint` for the
API, `staff_page` for the console). An unassigned queue answers 404 like an unknown one, so
the check leaks nothing about which queues exist; a ticket of such a queue is "not found" too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sanic import Request

from core.services.accounts import can_use_queue, require_queue
from core.storage import ticket_reads
from core.storage.errors import NotFound
from core.storage.models import StaffAccount

T = TypeVar("T")


async def check_scope(account: StaffAccount, request: Request, params: Mapping[str, Any]) -> None:
    """Raises NotFound when the request names a queue or ticket outside the account's scope."""
    for code in (params.get("code"), request.args.get("queue")):
        if isinstance(code, str) and code.strip():
            require_queue(account, code.strip())
    ticket_id = params.get("ticket_id")
    if isinstance(ticket_id, str):
        queue = await ticket_reads.queue_code_of(ticket_id)
        if queue and not can_use_queue(account, queue):
            raise NotFound("ticket", ticket_id)


def visible(account: StaffAccount, queues: Iterable[T]) -> list[T]:
    """The queues (objects with a `code`, or codes) of a list the account may see."""
    return [q for q in queues if can_use_queue(account, str(getattr(q, "code", q)))]
