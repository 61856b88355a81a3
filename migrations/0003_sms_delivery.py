from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('nextup', '0002_notifications')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxMessage',
            name='provider_error_code',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='provider_status',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='segments',
            field=fields.SmallIntField(null=True),
        ),
    ]
