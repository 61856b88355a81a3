from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('nextup', '0009_ladder')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueRow',
            name='public_name',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
