"""Tables. The domain never sees these; the repository maps rows to domain objects."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from core.domain.ladder import DEFAULT_CALL_LADDER
from core.domain.notify import DeliveryStatus

DEFAULT_LADDER_ROWS = [rung.to_dict() for rung in DEFAULT_CALL_LADDER]


class StaffAccount(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    role = fields.CharField(max_length=16)
    password_hash = fields.CharField(max_length=255)
    telegram_chat_id = fields.BigIntField(null=True, unique=True)
    telegram_user_id = fields.BigIntField(null=True)
    """The Telegram user who linked the (private) chat: staff commands are taken from that
    user alone, so a chat that somehow gains members gives them nothing."""
    is_active = fields.BooleanField(default=True)
    session_epoch = fields.IntField(default=0, db_default=0)
    """Console sessions carry the epoch they were issued in; bumping it (logout, a new
    password, deactivation) ends every one of them, in every process, at the next request."""
    queues: fields.JSONField[list[str]] = fields.JSONField(default=[], db_default=[])
    """Codes of the queues a non-admin account works on (admins: every queue)."""
    created_at = fields.DatetimeField(auto_now_add=True)
    last_queue = fields.CharField(max_length=32, null=True)
    """Where the account last called from the chat: `/next` with no arguments goes there."""
    last_counter = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "staff_accounts"


class LinkCode(Model):
    """A one-time code that links a staff account to a Telegram chat (`/link CODE`)."""

    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[StaffAccount] = fields.ForeignKeyField(
        "nextup.StaffAccount", related_name="link_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "link_codes"


class Contact(Model):
    """What a patient chose for one address (a Telegram chat or a phone), across queues.

    `address` is a keyed hash of the address (`core.storage.pseudonyms`), never the number
    or chat id itself: an opt-out must outlive the erasure of everything else about the
    patient, and the hash is all it needs to be honoured when the number comes back."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    address = fields.CharField(max_length=64)
    language = fields.CharField(max_length=8, null=True)
    opted_out = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contacts"
        unique_together = (("channel", "address"),)


class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    account: fields.ForeignKeyRelation[StaffAccount] = fields.ForeignKeyField(
        "nextup.StaffAccount", related_name="tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked = fields.BooleanField(default=False)
    expires_at = fields.DatetimeField(null=True)
    """None: until revoked."""

    class Meta:
        table = "api_tokens"


class QueueRow(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=128)
    """What staff call the queue: the console, the API, the staff chat."""
    public_name = fields.CharField(max_length=64, null=True)
    """What patients read (`shown_queue_name`): messages, display, patient page, poster.
    None: the code."""
    prefix = fields.CharField(max_length=8)
    day_seq = fields.IntField(default=0)
    day_seq_date = fields.DateField(null=True)
    calls_made = fields.IntField(default=0, db_default=0)
    """Every call the queue has made: counts out the turns first come, first served gives
    (`Queue.calls_made`, `TicketRow.fifo_call_no`)."""
    joins_by_priority: fields.JSONField[list[int]] = fields.JSONField(default=list, db_default=[])
    """Every join so far, by priority (`Queue.joins_by_priority`); [] as none."""
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    reevaluated_at = fields.DatetimeField(null=True)
    """When the timer last re-evaluated the waiting line (core/services/housekeeping.py):
    set under the row lock only if unchanged since read, so of several processes one does
    each round."""
    paused_at = fields.DatetimeField(null=True)
    """Joins stopped by staff since then (`Queue.pause`); None: not paused."""
    paused_by = fields.CharField(max_length=96, null=True)
    pause_message = fields.CharField(max_length=160, null=True)

    class Meta:
        table = "queues"


class QueueConfigRow(Model):
    """Typed configuration columns, one row per queue (QueueConfig in the domain)."""

    queue: fields.OneToOneRelation[QueueRow] = fields.OneToOneField(
        "nextup.QueueRow", related_name="config", on_delete=fields.CASCADE, primary_key=True
    )
    mode = fields.CharField(max_length=16, default="fifo")
    weight_priority = fields.FloatField(default=0.5)
    weight_wait_time = fields.FloatField(default=0.3)
    weight_appointment = fields.FloatField(default=0.2)
    capacity = fields.IntField(null=True)
    overflow_queue = fields.CharField(max_length=32, null=True)
    notify_positions: fields.JSONField[list[int]] = fields.JSONField(default=[3, 1])
    no_show_grace_s = fields.IntField(default=300)
    default_service_s = fields.IntField(default=300)
    wait_horizon_s = fields.IntField(default=3600)
    appointment_window_s = fields.IntField(default=1800)
    timezone = fields.CharField(max_length=64, default="UTC")
    language = fields.CharField(max_length=8, default="en")
    eta_change_margin_s = fields.IntField(default=600, db_default=600)
    eta_update_interval_s = fields.IntField(default=900, db_default=900)
    wait_alert_s = fields.IntField(default=3600, db_default=3600)
    # Database defaults as well: the migration adds these to rows that already exist.
    service_times_s: fields.JSONField[dict[str, int]] = fields.JSONField(default={}, db_default={})
    """Kinds of visit offered, each with its configured expected seconds."""
    fairness_cap_s = fields.IntField(default=1200, db_default=1200)
    call_ladder: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(
        default=DEFAULT_LADDER_ROWS, db_default=[]
    )
    """The rungs after an unanswered call, `[{"step": "sms", "after_s": 60}, ...]`. The
    database's own default is none (PostgreSQL refuses the default ladder as tortoise
    renders it); rows are always written with their ladder."""
    opening_hours: fields.JSONField[dict[str, list[list[str]]] | None] = fields.JSONField(null=True)
    """`{"mon": [["08:00", "13:00"]], ...}` in `timezone` (`core.domain.hours`); None:
    always open."""
    closures: fields.JSONField[list[str]] = fields.JSONField(default=[], db_default=[])
    """ISO dates the queue is shut."""
    refuse_past_closing = fields.BooleanField(default=True, db_default=True)
    on_close = fields.CharField(
        max_length=16, default="serve_remaining", db_default="serve_remaining"
    )

    class Meta:
        table = "queue_configs"


class CounterRow(Model):
    id = fields.IntField(primary_key=True)
    queue: fields.ForeignKeyRelation[QueueRow] = fields.ForeignKeyField(
        "nextup.QueueRow", related_name="counters", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=32)
    is_open = fields.BooleanField(default=True)

    class Meta:
        table = "counters"
        unique_together = (("queue", "name"),)


class TicketRow(Model):
    id = fields.CharField(max_length=36, primary_key=True)
    queue: fields.ForeignKeyRelation[QueueRow] = fields.ForeignKeyField(
        "nextup.QueueRow", related_name="tickets", on_delete=fields.RESTRICT
    )
    number = fields.CharField(max_length=16)
    seq = fields.IntField()
    token = fields.CharField(max_length=64, unique=True)
    status = fields.CharField(max_length=16)
    priority = fields.SmallIntField(default=0)
    joined_at = fields.DatetimeField()
    line_at = fields.DatetimeField()
    appointment_at = fields.DatetimeField(null=True)
    counter = fields.CharField(max_length=32, null=True)
    called_at = fields.DatetimeField(null=True)
    recalled_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    recall_count = fields.IntField(default=0)
    name = fields.CharField(max_length=128, null=True)
    phone = fields.CharField(max_length=20, null=True)
    telegram_chat_id = fields.BigIntField(null=True)
    language = fields.CharField(max_length=8, null=True)
    late_count = fields.SmallIntField(default=0, db_default=0)
    travel_s = fields.IntField(null=True)
    announced_eta_s = fields.IntField(null=True)
    announced_at = fields.DatetimeField(null=True)
    leave_now_sent = fields.BooleanField(default=False, db_default=False)
    acknowledged_at = fields.DatetimeField(null=True)
    rating = fields.SmallIntField(null=True)
    service = fields.CharField(max_length=32, null=True)
    """The kind of visit, a key of the queue's `service_times_s`; null when not known."""
    fifo_call_at = fields.DatetimeField(null=True)
    """Short-first mode's fairness cap is counted from it, so it must outlive the command
    that set it (the join)."""
    fifo_call_no = fields.IntField(null=True)
    """Which of the queue's calls first come, first served makes to the patient, until it
    is made (`Ticket.fifo_call_no`)."""
    told_position = fields.IntField(null=True)
    unreachable_at = fields.DatetimeField(null=True)
    """When the call ladder ran out without reaching the patient."""
    """The place in line the patient was last told; "getting close" is measured from it.
    The place itself is derived from the line's order, never stored."""
    version = fields.IntField(default=0)
    """Bumped on every write; a stale write (two staff on one ticket) matches no row."""
    purged_at = fields.DatetimeField(null=True)
    """When the patient's personal data was erased (retention, or their request): name,
    phone, chat id and token are gone; what the analytics read stays."""

    class Meta:
        table = "tickets"
        indexes = (
            Index(fields=("queue_id", "status")),
            Index(fields=("queue_id", "finished_at")),
            Index(fields=("phone", "joined_at")),  # joins per number per hour (SMS limits)
            Index(fields=("purged_at", "finished_at")),  # what retention has still to erase
        )


class TicketEventRow(Model):
    """The audit trail: every state and position change, and who or what made it."""

    id = fields.CharField(max_length=36, primary_key=True)
    ticket: fields.ForeignKeyRelation[TicketRow] = fields.ForeignKeyField(
        "nextup.TicketRow", related_name="events", on_delete=fields.CASCADE
    )
    queue_code = fields.CharField(max_length=32)
    type = fields.CharField(max_length=32)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    old_position = fields.IntField(null=True)
    new_position = fields.IntField(null=True)
    counter = fields.CharField(max_length=32, null=True)
    actor = fields.CharField(max_length=96)
    at = fields.DatetimeField()
    seq = fields.IntField(default=0)
    """Order within one command, whose events all share one `at`."""
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default={})

    class Meta:
        table = "ticket_events"
        indexes = (Index(fields=("ticket_id", "at", "seq")),)


class QueueEventRow(Model):
    """The audit trail of what staff did to a queue itself rather than to a ticket:
    pausing and resuming joins (who, when, the message patients were shown)."""

    id = fields.IntField(primary_key=True)
    queue_code = fields.CharField(max_length=32)
    type = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=96)
    at = fields.DatetimeField()
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default={})

    class Meta:
        table = "queue_events"
        indexes = (Index(fields=("queue_code", "at")),)


class HourlyMetric(Model):
    """Per queue and hour (UTC): the seed plan's volume, time and size figures."""

    id = fields.IntField(primary_key=True)
    queue: fields.ForeignKeyRelation[QueueRow] = fields.ForeignKeyField(
        "nextup.QueueRow", related_name="metrics", on_delete=fields.CASCADE
    )
    hour_start = fields.DatetimeField()
    joined = fields.IntField(default=0)
    called = fields.IntField(default=0)
    completed = fields.IntField(default=0)
    no_shows = fields.IntField(default=0)
    cancelled = fields.IntField(default=0)
    wait_s_sum = fields.FloatField(default=0.0)
    """Join to call, summed over the tickets called in this hour."""
    wait_s_max = fields.FloatField(default=0.0)
    service_s_sum = fields.FloatField(default=0.0)
    peak_size = fields.IntField(default=0)
    size_sum = fields.IntField(default=0)
    size_samples = fields.IntField(default=0)

    class Meta:
        table = "hourly_metrics"
        unique_together = (("queue", "hour_start"),)


class OutboxMessage(Model):
    """A notification to send, written in the transaction of the change that caused it.

    `status`: queued (waiting or waiting to retry), sending (claimed by a dispatcher until
    `claimed_until`), sent, failed (gave up; `last_error` says why), suppressed (not sent:
    the patient opted out of that channel), superseded (not sent: no longer true when its
    turn came, `core.domain.freshness`) or acknowledged (the patient answered it).

    `provider_status` is what the provider reported afterwards (for SMS: queued, sent,
    delivered, undelivered, failed), with `provider_error_code` when it failed. Replies to
    a patient's text (TwiML) are recorded here too, already `sent`, with kind `reply` or the
    kind of message they stood in for.
    """

    id = fields.CharField(max_length=36, primary_key=True)
    idempotency_key = fields.CharField(max_length=160, unique=True)
    ticket: fields.ForeignKeyNullableRelation[TicketRow] = fields.ForeignKeyField(
        "nextup.TicketRow", related_name="notifications", null=True, on_delete=fields.SET_NULL
    )
    event_id = fields.CharField(max_length=36, null=True)
    channel = fields.CharField(max_length=16)
    recipient = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default={})
    urgent = fields.BooleanField(default=False)
    status = fields.CharField(max_length=16, default=DeliveryStatus.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(null=True)
    provider_message_id = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=36, null=True)
    """Which dispatcher holds the row; a result is recorded only by the holder."""
    claimed_until = fields.DatetimeField(null=True)
    delivered_to = fields.CharField(max_length=16, null=True)
    """`telegram`, `sms` or `dev_inbox`: where the message actually went."""
    acknowledged_at = fields.DatetimeField(null=True)
    provider_status = fields.CharField(max_length=16, null=True)
    provider_error_code = fields.CharField(max_length=16, null=True)
    segments = fields.SmallIntField(null=True)
    """SMS segments billed (GSM-7: 160 characters, UCS-2: 70; longer texts are split)."""
    seq = fields.BigIntField(null=True)
    """The order the messages were decided in, exact where `created_at` ties (one command's
    messages share it): given by the database on insert (a trigger, migration 0011), never
    by a process, so it is one order across processes. Messages to one recipient are sent
    in this order."""

    class Meta:
        table = "outbox"
        indexes = (
            Index(fields=("status", "next_attempt_at")),
            Index(fields=("ticket_id", "created_at")),
            Index(fields=("recipient", "created_at")),  # texts per number (SMS limits)
            Index(fields=("recipient", "seq")),  # an earlier message to the same recipient
        )


class DevInboxMessage(Model):
    """What a channel without credentials would have sent: shown in the console's inbox."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    recipient = fields.CharField(max_length=64)
    text = fields.TextField()
    buttons: fields.JSONField[list[list[dict[str, str]]]] = fields.JSONField(default=[])
    outbox_id = fields.CharField(max_length=36, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "dev_inbox"


class ConsentRow(Model):
    """The consent record: how and when a patient asked to be messaged (`consent`, with the
    way they joined), and each opt-out and opt-in after. The address is kept as its keyed
    hash, so the history of a number can be found without storing the number."""

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyNullableRelation[TicketRow] = fields.ForeignKeyField(
        "nextup.TicketRow", related_name="consents", null=True, on_delete=fields.SET_NULL
    )
    channel = fields.CharField(max_length=16)
    address_hash = fields.CharField(max_length=64)
    action = fields.CharField(max_length=16)
    """`consent`, `opt_out` or `opt_in`."""
    method = fields.CharField(max_length=32)
    """How: `sms_keyword`, `telegram_deep_link`, `telegram_command`, `staff_walk_in`,
    `web_join`, `api`, `sms_stop`, `sms_start`, `provider` (Twilio reported an opt-out)."""
    at = fields.DatetimeField()

    class Meta:
        table = "consents"
        indexes = (Index(fields=("address_hash",)), Index(fields=("ticket_id",)))


class PrivacyLogRow(Model):
    """Every access request, erasure and retention run: who, when and what went (counts
    per kind), never whose data it was."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)
    """`export`, `erase` or `purge`."""
    actor = fields.CharField(max_length=96)
    at = fields.DatetimeField()
    subject = fields.CharField(max_length=32, null=True)
    """What the person was named by (`phone`, `telegram_chat_id`), not the value."""
    counts: fields.JSONField[dict[str, int]] = fields.JSONField(default={})

    class Meta:
        table = "privacy_log"


class MaintenanceLease(Model):
    """One row per periodic job run by whichever process takes it first: the daily
    retention purge. `held_until` bounds how long a process that died keeps it."""

    name = fields.CharField(max_length=32, primary_key=True)
    holder = fields.CharField(max_length=36, null=True)
    held_until = fields.DatetimeField(null=True)
    last_done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "maintenance_leases"


class StaffAlertRow(Model):
    """Where one staff alert about a queue stands (`core.domain.alerts`): `subject` is
    `wait` (its longest or forecast wait past `wait_alert_s`) or `idle:<counter>`.
    `since`: when the condition was first seen, None while it does not hold; `alerted`:
    this episode's message was queued. Read and changed under the queue row's lock, so of
    several processes one queues each episode's message."""

    id = fields.IntField(primary_key=True)
    queue: fields.ForeignKeyRelation[QueueRow] = fields.ForeignKeyField(
        "nextup.QueueRow", related_name="staff_alerts", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=48)
    since = fields.DatetimeField(null=True)
    alerted = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "staff_alerts"
        unique_together = (("queue", "subject"),)


class DailyReportRow(Model):
    """A queue's daily summary sent to the admin chats: one row per queue and local day,
    inserted (unique) before the messages are queued, in their transaction, so of several
    processes one sends it."""

    id = fields.IntField(primary_key=True)
    queue: fields.ForeignKeyRelation[QueueRow] = fields.ForeignKeyField(
        "nextup.QueueRow", related_name="daily_reports", on_delete=fields.CASCADE
    )
    day = fields.DateField()
    sent_at = fields.DatetimeField()
    chats = fields.IntField(default=0)
    """How many admin chats it was queued for."""

    class Meta:
        table = "daily_reports"
        unique_together = (("queue", "day"),)
