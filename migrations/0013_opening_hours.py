from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

# Opening hours: each queue's week of hours (null: always open, as every queue was), its
# closure dates, whether a join that could not be seen before closing is refused, and
# what closing does to the line; the pause staff put on joins; and the queue's own audit
# trail (pause, resume), which belongs to no ticket.


class Migration(migrations.Migration):
    dependencies = [('nextup', '0012_privacy')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueConfigRow',
            name='opening_hours',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='closures',
            field=fields.JSONField(default=[], db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='refuse_past_closing',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='on_close',
            field=fields.CharField(default='serve_remaining', db_default='serve_remaining', max_length=16),
        ),
        ops.AddField(
            model_name='QueueRow',
            name='paused_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='QueueRow',
            name='paused_by',
            field=fields.CharField(null=True, max_length=96),
        ),
        ops.AddField(
            model_name='QueueRow',
            name='pause_message',
            field=fields.CharField(null=True, max_length=160),
        ),
        ops.CreateModel(
            name='QueueEventRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('queue_code', fields.CharField(max_length=32)),
                ('type', fields.CharField(max_length=32)),
                ('actor', fields.CharField(max_length=96)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('data', fields.JSONField(default={}, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={
                'table': 'queue_events',
                'app': 'nextup',
                'indexes': [Index(fields=['queue_code', 'at'])],
                'pk_attr': 'id',
                'table_description': 'The audit trail of what staff did to a queue itself rather than to a ticket:',
            },
            bases=['Model'],
        ),
    ]
