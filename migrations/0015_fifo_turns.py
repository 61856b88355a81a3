from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

# The fairness cap as a bound (issue 20): each queue counts its calls and its joins by
# priority, and each ticket notes which call first come, first served makes to it, until
# that call is made. Nothing is counted for the queues and tickets there were: a ticket
# without a number is one whose turn has come, at its `fifo_call_at`, as before.

class Migration(migrations.Migration):
    dependencies = [('nextup', '0014_broadcast_alerts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueRow',
            name='calls_made',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='QueueRow',
            name='joins_by_priority',
            field=fields.JSONField(default=list, db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='fifo_call_no',
            field=fields.IntField(null=True),
        ),
    ]
