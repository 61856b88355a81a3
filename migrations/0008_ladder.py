from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

# The call ladder: each queue's rungs after an unanswered call (existing queues get the
# default one), and the time a ticket's ladder ran out without reaching the patient.
DEFAULT_LADDER = [
    {"step": "sms", "after_s": 60},
    {"step": "voice", "after_s": 60},
    {"step": "unreachable", "after_s": 90},
]


class Migration(migrations.Migration):
    dependencies = [('nextup', '0007_derived_line_order')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueConfigRow',
            name='call_ladder',
            field=fields.JSONField(default=DEFAULT_LADDER, db_default=DEFAULT_LADDER, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='unreachable_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
