from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# Existing `contacts` rows held the phone number or chat id itself: each is replaced by its
# keyed hash (core/storage/pseudonyms.py), with the key derived from NEXTUP_SECRET_KEY (or
# the embedded `.secret_key`), so run `nextup migrate` with the same secret key the servers
# use. An opt-out recorded before the upgrade keeps working; the number is no longer there.


async def hash_contact_addresses(apps, schema_editor) -> None:
    client = schema_editor.client
    rows = await client.execute_query_dict("SELECT id, channel, address FROM contacts")
    if not rows:
        return  # a new database: no key is needed (nor created) for nothing
    from core.settings import load_settings
    from core.storage.pseudonyms import derive_key, keyed_hash

    key = derive_key(load_settings().signing_key())
    postgres = client.capabilities.dialect == "postgres"
    update = "UPDATE contacts SET address = {} WHERE id = {}".format(
        *(("$1", "$2") if postgres else ("?", "?"))
    )
    for row in rows:
        hashed = keyed_hash(key, row["channel"], row["address"])
        await client.execute_query(update, [hashed, row["id"]])


class Migration(migrations.Migration):
    dependencies = [("nextup", "0011_outbox_seq")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ConsentRow",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "ticket",
                    fields.ForeignKeyField(
                        "nextup.TicketRow",
                        source_field="ticket_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="consents",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("channel", fields.CharField(max_length=16)),
                ("address_hash", fields.CharField(max_length=64)),
                ("action", fields.CharField(max_length=16)),
                ("method", fields.CharField(max_length=32)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consents",
                "app": "nextup",
                "indexes": [Index(fields=["address_hash"]), Index(fields=["ticket_id"])],
                "pk_attr": "id",
                "table_description": "The consent record: how and when a patient asked to be messaged (`consent`, with the",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MaintenanceLease",
            fields=[
                (
                    "name",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32),
                ),
                ("holder", fields.CharField(null=True, max_length=36)),
                ("held_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "last_done_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "maintenance_leases",
                "app": "nextup",
                "pk_attr": "name",
                "table_description": "One row per periodic job run by whichever process takes it first: the daily",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PrivacyLogRow",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("kind", fields.CharField(max_length=16)),
                ("actor", fields.CharField(max_length=96)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("subject", fields.CharField(null=True, max_length=32)),
                (
                    "counts",
                    fields.JSONField(
                        default={},
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "privacy_log",
                "app": "nextup",
                "pk_attr": "id",
                "table_description": "Every access request, erasure and retention run: who, when and what went (counts",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="TicketRow",
            name="purged_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name="TicketRow",
            index=Index(fields=["purged_at", "finished_at"]),
        ),
        ops.RunPython(hash_contact_addresses),
    ]
