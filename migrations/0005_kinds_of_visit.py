from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('nextup', '0004_wait_alert')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueConfigRow',
            name='fairness_cap_s',
            field=fields.IntField(default=1200, db_default=1200),
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='service_times_s',
            field=fields.JSONField(default={}, db_default={}, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='fifo_call_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='service',
            field=fields.CharField(null=True, max_length=32),
        ),
    ]
