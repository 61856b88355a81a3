from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

# The call ladder: each queue's rungs after an unanswered call, and the time a ticket's
# ladder ran out without reaching the patient. Existing queues get the default ladder (they
# had the SMS step before, as NEXTUP_SMS_ESCALATE_AFTER_S), written by an UPDATE: tortoise
# renders a non-empty JSON column default that PostgreSQL refuses.
DEFAULT_LADDER = (
    '[{"step":"sms","after_s":60},{"step":"voice","after_s":60},'
    '{"step":"unreachable","after_s":90}]'
)


class Migration(migrations.Migration):
    dependencies = [('nextup', '0008_timer')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueConfigRow',
            name='call_ladder',
            field=fields.JSONField(default=[], db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='unreachable_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL([f"UPDATE queue_configs SET call_ladder = '{DEFAULT_LADDER}'"], reverse_sql=[]),
    ]
