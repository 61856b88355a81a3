from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

# Existing rows, decided here once:
# - Telegram links: a private chat's id is its user's id, so a link to a positive chat id is
#   kept, tied to that user. A group's id is negative: such links gave every member staff
#   powers and are dropped (the staff member links again, from a private chat).
# - Queue scope: accounts that existed before keep working on every queue (`*`), so an
#   upgrade does not lock out a counter mid-morning; `nextup queues NAME PHARM,LAB` narrows
#   them. New accounts get only the queues they are given.
KEEP_EXISTING = [
    "UPDATE staff_accounts SET telegram_user_id = telegram_chat_id WHERE telegram_chat_id > 0",
    "UPDATE staff_accounts SET telegram_chat_id = NULL WHERE telegram_chat_id < 0",
    "UPDATE staff_accounts SET queues = '[\"*\"]' WHERE role <> 'admin'",
]


class Migration(migrations.Migration):
    dependencies = [('nextup', '0005_kinds_of_visit')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ApiToken',
            name='expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StaffAccount',
            name='queues',
            field=fields.JSONField(default=[], db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='StaffAccount',
            name='session_epoch',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='StaffAccount',
            name='telegram_user_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['recipient', 'created_at']),
        ),
        ops.AddIndex(
            model_name='TicketRow',
            index=Index(fields=['phone', 'joined_at']),
        ),
        ops.RunSQL(KEEP_EXISTING, reverse_sql=[]),
    ]
