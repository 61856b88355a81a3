from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('nextup', '0003_sms_delivery')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueConfigRow',
            name='wait_alert_s',
            field=fields.IntField(default=3600, db_default=3600),
        ),
    ]
