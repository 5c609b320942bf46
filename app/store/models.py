"""The schema, as Peewee models. They are bound to a database only while migrating; queries are
in repository.py. Money is TEXT (exact decimal text): SQLite's NUMERIC would turn it into floats."""

import peewee


class BaseModel(peewee.Model):
    class Meta:
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()
    applied_at = peewee.FloatField()


class Meta(BaseModel):
    """Small facts worth one row each (e.g. the time of the last successful sync)."""

    name = peewee.TextField(primary_key=True)
    value = peewee.TextField()


class Pos(BaseModel):
    """A POS configured with ``rims-utility setup``. Its key is in the OS keyring, not here."""

    pos_id = peewee.TextField(unique=True)
    ntn = peewee.TextField()
    upstream = peewee.TextField(default="kpra")
    added_at = peewee.FloatField()
    version = peewee.IntegerField(default=1)  # bumped whenever its key or hold changes
    held_reason = peewee.TextField(null=True)
    held_at = peewee.FloatField(null=True)


class Invoice(BaseModel):
    pos_id = peewee.TextField()
    invoice_no = peewee.TextField()
    ntn = peewee.TextField()
    amount = peewee.TextField()
    tax_rate = peewee.TextField()
    tax_amount = peewee.TextField()
    total_amount = peewee.TextField()
    date_time = peewee.TextField()  # YYYY-MM-DD HH:MM:SS, as on the receipt
    payment_mode = peewee.IntegerField()
    # The POS's fields exactly as received, minus the key; since schema v4 mostly a BLOB,
    # deflated (received.py: pack / unpack). TEXT affinity leaves BLOBs as they are.
    received_json = peewee.TextField()
    warnings_json = peewee.TextField(default="[]")
    content_hash = peewee.TextField()  # since schema v4 the SHA-256's 32 bytes (a BLOB)
    state = peewee.TextField()
    received_at = peewee.FloatField()  # unix time
    updated_at = peewee.FloatField()
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.FloatField()
    ambiguous = peewee.BooleanField(default=False)  # a send may have reached the authority
    last_error = peewee.TextField(null=True)
    last_status = peewee.IntegerField(null=True)
    transaction_id = peewee.TextField(null=True)
    synced_at = peewee.FloatField(null=True)
    # Added by schema v5 (database._v5, in SQL: these models create the v1 tables, and a
    # migration test builds old files with them): kind TEXT NOT NULL DEFAULT 'invoice' (invoice
    # | credit_note | item | stock), detail BLOB NULL (the normalized Kenya document, packed
    # like received_json), upstream_ref TEXT NULL, receipt_url TEXT NULL. Also new tables
    # dependency (invoice_id, needs_id) and item (pos_id, code, name, outbox_id, stock_qty).

    class Meta:
        indexes = (
            (("pos_id", "invoice_no"), True),
            (("state", "next_attempt_at"), False),  # replaced by partial indexes in schema v4
        )


class Attempt(BaseModel):
    """One row per send, kept forever: the audit trail."""

    invoice = peewee.ForeignKeyField(Invoice, backref="attempt_rows", on_delete="CASCADE")
    started_at = peewee.FloatField()
    duration_ms = peewee.IntegerField()
    http_status = peewee.IntegerField(null=True)
    outcome = peewee.TextField()
    message = peewee.TextField()


ALL_MODELS = (SchemaVersion, Meta, Pos, Invoice, Attempt)
