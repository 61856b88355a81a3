"""The supersede rule: which queued messages still tell the truth when their turn comes."""

from __future__ import annotations

import pytest

from core.domain.freshness import FRESHNESS, MILESTONES, still_true, why_superseded
from core.domain.model import TicketStatus
from core.domain.notify import MessageKind

K = MessageKind
S = TicketStatus


def test_every_kind_of_message_has_a_rule() -> None:
    """A new kind must be decided here, or it would be sent however stale."""
    assert set(FRESHNESS) == set(MessageKind)


@pytest.mark.parametrize(
    ("kind", "true_while"),
    [
        (K.JOINED, {S.WAITING}),
        (K.CLOSE, {S.WAITING}),
        (K.LEAVE_NOW, {S.WAITING}),
        (K.ETA_CHANGED, {S.WAITING}),
        (K.RETURNED, {S.WAITING}),
        (K.TRANSFERRED, {S.WAITING}),
        (K.CALLED, {S.CALLED}),
        (K.RECALLED, {S.CALLED}),
        (K.MISSED, {S.NO_SHOW}),
        (K.DONE, {S.DONE}),
        (K.LEFT, {S.CANCELLED}),
    ],
)
def test_a_message_holds_only_while_its_ticket_is_in_the_state_it_speaks_of(
    kind: MessageKind, true_while: set[TicketStatus]
) -> None:
    for status in TicketStatus:
        assert still_true(kind, status, []) == (status in true_while), status


def test_waiting_news_is_stale_after_the_call_but_the_call_is_not() -> None:
    for kind in (K.JOINED, K.CLOSE, K.ETA_CHANGED, K.LEAVE_NOW):
        assert not still_true(kind, S.CALLED, [])
        assert not still_true(kind, S.SERVING, [])
    assert still_true(K.CALLED, S.CALLED, [K.CLOSE, K.ETA_CHANGED])
    assert not still_true(K.CALLED, S.SERVING, [])  # the patient is already at the counter


def test_a_newer_message_of_the_same_kind_replaces_an_older_one() -> None:
    assert not still_true(K.ETA_CHANGED, S.WAITING, [K.ETA_CHANGED])
    assert not still_true(K.CLOSE, S.WAITING, [K.CLOSE])
    assert not still_true(K.CALLED, S.CALLED, [K.RECALLED])
    # ...but not a newer message that says something else.
    assert still_true(K.CLOSE, S.WAITING, [K.ETA_CHANGED])
    assert still_true(K.JOINED, S.WAITING, [K.CLOSE, K.ETA_CHANGED, K.LEAVE_NOW])


def test_a_transfer_keeps_the_ticket_waiting_but_makes_the_old_lines_news_stale() -> None:
    for kind in (K.JOINED, K.CLOSE, K.ETA_CHANGED, K.LEAVE_NOW):
        assert not still_true(kind, S.WAITING, [K.TRANSFERRED])
    assert still_true(K.TRANSFERRED, S.WAITING, [K.CLOSE])


def test_the_last_word_of_a_visit_stays_true() -> None:
    assert still_true(K.LEFT, S.CANCELLED, list(MILESTONES))
    assert still_true(K.DONE, S.DONE, list(MILESTONES))


def test_messages_the_rule_does_not_know_and_erased_tickets_are_never_superseded() -> None:
    assert still_true("reply", S.DONE, [K.CALLED])
    assert still_true(K.CLOSE, None, [K.CALLED])


def test_staff_read_why_a_message_was_superseded() -> None:
    assert why_superseded(K.CLOSE, S.CALLED, []) == "superseded: the ticket is called now"
    assert why_superseded(K.ETA_CHANGED, S.WAITING, [K.ETA_CHANGED, K.JOINED]) == (
        "superseded by a newer eta_changed"
    )
