"""Which queued messages still tell the truth: the rule that supersedes stale ones.

A message waits in the outbox for its turn (rate limits, retries, a busy recipient). By
then the ticket may have moved on: a "you are 3rd" that arrives after "it's your turn"
sends a patient who was called back to their seat. So before a message is claimed, and
again just before it is sent, it is checked against its ticket's status and against the
newer messages about the same ticket on the same channel; one that no longer holds is
`superseded` instead of sent.

The rule is one table, by kind, and the same for every channel. The storage layer turns
it into SQL for the claim (`true_while_sql`); the dispatcher's last check before a send
asks `still_true`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from core.domain.model import LIVE_STATUSES, TicketStatus
from core.domain.notify import MessageKind

W = TicketStatus.WAITING
K = MessageKind


@dataclass(frozen=True)
class Freshness:
    true_while: frozenset[TicketStatus]
    """The ticket statuses in which the message still holds."""
    replaced_by: frozenset[MessageKind]
    """A newer message of one of these kinds, about the same ticket on the same channel,
    makes this one stale (it says the same thing more recently, or the ticket changed
    course in between: a transfer keeps the ticket waiting, in another line)."""


MILESTONES = frozenset(
    {K.CALLED, K.RECALLED, K.MISSED, K.RETURNED, K.TRANSFERRED, K.DONE, K.LEFT, K.LINE_CLOSED}
)
"""Messages that tell of a change of the ticket's state: everything said before about the
wait is then out of date."""


def _waiting(*also_replaced_by: MessageKind) -> Freshness:
    return Freshness(frozenset({W}), MILESTONES | frozenset(also_replaced_by))


FRESHNESS: dict[str, Freshness] = {
    K.JOINED: _waiting(),
    K.CLOSE: _waiting(K.CLOSE),
    K.LEAVE_NOW: _waiting(K.LEAVE_NOW),
    K.ETA_CHANGED: _waiting(K.ETA_CHANGED, K.CLOSE, K.LEAVE_NOW),
    K.RETURNED: _waiting(),
    K.TRANSFERRED: _waiting(),
    # The call holds while the patient is called, until a newer call or a change of course.
    K.CALLED: Freshness(frozenset({TicketStatus.CALLED}), MILESTONES),
    K.RECALLED: Freshness(frozenset({TicketStatus.CALLED}), MILESTONES),
    K.MISSED: Freshness(frozenset({TicketStatus.NO_SHOW}), MILESTONES),
    # Final states: the visit's last word stays true.
    K.DONE: Freshness(frozenset({TicketStatus.DONE}), frozenset()),
    K.LEFT: Freshness(frozenset({TicketStatus.CANCELLED}), frozenset()),
    K.LINE_CLOSED: Freshness(frozenset({TicketStatus.CLOSED}), frozenset()),
    # Staff's word to the line holds while the visit goes on, whatever was said since: a
    # patient called meanwhile still hears it, one who left does not.
    K.BROADCAST: Freshness(LIVE_STATUSES, frozenset()),
}
"""Kinds not listed (replies, and kinds added later until they are listed here) are never
superseded."""


def still_true(kind: str, ticket_status: str | None, newer_kinds: Collection[str]) -> bool:
    """Whether a queued message of `kind` still holds, given its ticket's status now (None:
    no ticket, or it was erased) and the kinds of the newer messages about the same ticket
    on the same channel."""
    rule = FRESHNESS.get(kind)
    if rule is None or ticket_status is None:
        return True
    if ticket_status not in rule.true_while:
        return False
    return not any(newer in rule.replaced_by for newer in newer_kinds)


def why_superseded(kind: str, ticket_status: str | None, newer_kinds: Collection[str]) -> str:
    """What staff read in the message's record when it was superseded."""
    rule = FRESHNESS.get(kind)
    if rule is not None and ticket_status is not None and ticket_status not in rule.true_while:
        return f"superseded: the ticket is {ticket_status} now"
    replacing = sorted(k for k in newer_kinds if rule is not None and k in rule.replaced_by)
    return f"superseded by a newer {', '.join(replacing) or 'message'}"
