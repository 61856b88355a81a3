from tortoise import migrations
from tortoise.migrations import operations as ops

# A ticket's place in line is derived from the line's order now, never stored: the
# `position` column goes. What it held for a waiting ticket is the place its patient last
# heard of (the join's message, or the "getting close" sent on reaching it), which is what
# `told_position` keeps from now on: renaming the column carries it over, so nobody is told
# "getting close" again for a place they were already told. Tickets no longer waiting held
# no position (null), as `told_position` wants.


class Migration(migrations.Migration):
    dependencies = [('nextup', '0006_account_security')]

    initial = False

    operations = [
        ops.RenameField(
            model_name='TicketRow',
            old_name='position',
            new_name='told_position',
        ),
    ]
