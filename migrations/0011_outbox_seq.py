from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# `outbox.seq`: the order messages were decided in, one order across processes. The
# database gives it on every insert, whoever inserts (the command's multi-row INSERT, the
# ORM, a reply's record), so no process can get it wrong: PostgreSQL from a sequence in a
# BEFORE INSERT trigger; SQLite, whose triggers cannot change the row being inserted, copies
# the row's rowid (always above every rowid in the table) after the insert. Existing rows
# are numbered by `created_at` (then id): only their order among themselves matters.

POSTGRES = [
    "CREATE SEQUENCE IF NOT EXISTS outbox_seq",
    "UPDATE outbox SET seq = numbered.n FROM (SELECT id, row_number() OVER"
    " (ORDER BY created_at, id) AS n FROM outbox) AS numbered WHERE outbox.id = numbered.id",
    "SELECT setval('outbox_seq', COALESCE((SELECT MAX(seq) FROM outbox), 0) + 1, false)",
    "CREATE OR REPLACE FUNCTION outbox_take_seq() RETURNS trigger AS $$"
    " BEGIN NEW.seq := nextval('outbox_seq'); RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER outbox_seq BEFORE INSERT ON outbox FOR EACH ROW"
    " EXECUTE FUNCTION outbox_take_seq()",
]
SQLITE = [  # a new row's rowid is above every rowid, so above every number given here
    "UPDATE outbox SET seq = numbered.n FROM (SELECT id, row_number() OVER"
    " (ORDER BY created_at, id) AS n FROM outbox) AS numbered WHERE outbox.id = numbered.id",
    "CREATE TRIGGER outbox_seq AFTER INSERT ON outbox FOR EACH ROW"
    " BEGIN UPDATE outbox SET seq = NEW.rowid WHERE rowid = NEW.rowid; END",
]


async def number_the_outbox(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    postgres = client.capabilities.dialect == "postgres"
    for statement in POSTGRES if postgres else SQLITE:
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('nextup', '0010_public_name')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxMessage',
            name='seq',
            field=fields.BigIntField(null=True),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['recipient', 'seq']),
        ),
        ops.RunPython(number_the_outbox),
    ]
