from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# The timer that re-evaluates quiet lines stamps the queue row with the time it last did,
# so that of several processes running it only one does each round.


class Migration(migrations.Migration):
    dependencies = [('nextup', '0007_derived_line_order')]

    initial = False

    operations = [
        ops.AddField(
            model_name='QueueRow',
            name='reevaluated_at',
            field=fields.DatetimeField(null=True),
        ),
    ]
