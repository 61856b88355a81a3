from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The four NOT NULL columns added here carry database defaults: without them a database
# that already held queues or tickets (made at 0001) could not be upgraded ("Cannot add a
# NOT NULL column with default value NULL"; tests/upgrade/test_upgrade.py).


class Migration(migrations.Migration):
    dependencies = [('nextup', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Contact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('address', fields.CharField(max_length=64)),
                ('language', fields.CharField(null=True, max_length=8)),
                ('opted_out', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contacts', 'app': 'nextup', 'unique_together': (('channel', 'address'),), 'pk_attr': 'id', 'table_description': 'What a patient chose for one address (a Telegram chat or a phone), across queues.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DevInboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('recipient', fields.CharField(max_length=64)),
                ('text', fields.TextField(unique=False)),
                ('buttons', fields.JSONField(default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('outbox_id', fields.CharField(null=True, max_length=36)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'dev_inbox', 'app': 'nextup', 'pk_attr': 'id', 'table_description': "What a channel without credentials would have sent: shown in the console's inbox."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LinkCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account', fields.ForeignKeyField('nextup.StaffAccount', source_field='account_id', db_constraint=True, to_field='id', related_name='link_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'link_codes', 'app': 'nextup', 'pk_attr': 'id', 'table_description': 'A one-time code that links a staff account to a Telegram chat (`/link CODE`).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='acknowledged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='claim_token',
            field=fields.CharField(null=True, max_length=36),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='claimed_until',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='delivered_to',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['ticket_id', 'created_at']),
        ),
        ops.AlterModelOptions(
            name='QueueConfigRow',
            options={'table': 'queue_configs', 'app': 'nextup', 'pk_attr': 'queue_id', 'table_description': 'Typed configuration columns, one row per queue (QueueConfig in the domain).'},
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='eta_change_margin_s',
            field=fields.IntField(default=600, db_default=600),
        ),
        ops.AddField(
            model_name='QueueConfigRow',
            name='eta_update_interval_s',
            field=fields.IntField(default=900, db_default=900),
        ),
        ops.AddField(
            model_name='StaffAccount',
            name='last_counter',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='StaffAccount',
            name='last_queue',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='acknowledged_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='announced_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='announced_eta_s',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='late_count',
            field=fields.SmallIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='leave_now_sent',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='rating',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='TicketRow',
            name='travel_s',
            field=fields.IntField(null=True),
        ),
    ]
