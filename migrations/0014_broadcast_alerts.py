from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

# Issue 18: where each staff alert episode stands (`staff_alerts`) and which daily summaries
# were sent (`daily_reports`). Written beside 0013 (opening hours), which it does not need:
# it depends on 0012 here, and on 0013 once both are in one branch.

class Migration(migrations.Migration):
    dependencies = [('nextup', '0013_opening_hours')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DailyReportRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('queue', fields.ForeignKeyField('nextup.QueueRow', source_field='queue_id', db_constraint=True, to_field='id', related_name='daily_reports', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('sent_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('chats', fields.IntField(default=0)),
            ],
            options={'table': 'daily_reports', 'app': 'nextup', 'unique_together': (('queue', 'day'),), 'pk_attr': 'id', 'table_description': "A queue's daily summary sent to the admin chats: one row per queue and local day,"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffAlertRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('queue', fields.ForeignKeyField('nextup.QueueRow', source_field='queue_id', db_constraint=True, to_field='id', related_name='staff_alerts', on_delete=OnDelete.CASCADE)),
                ('subject', fields.CharField(max_length=48)),
                ('since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('alerted', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_alerts', 'app': 'nextup', 'unique_together': (('queue', 'subject'),), 'pk_attr': 'id', 'table_description': 'Where one staff alert about a queue stands (`core.domain.alerts`): `subject` is'},
            bases=['Model'],
        ),
    ]
