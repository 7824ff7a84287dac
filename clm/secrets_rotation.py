"""Key rotation: re-encrypt every encrypted column under the newest key, in one transaction."""

from __future__ import annotations

from django.db import connection, transaction

from clm.audit import audit_record
from clm.crypto import encrypted_fields, rotate_token

BATCH = 500


def rotate_all_secrets() -> dict[str, int]:
    """Re-encrypt all secrets; all-or-nothing (a token no key opens aborts the whole rotation)."""
    counts: dict[str, int] = {}
    quote = connection.ops.quote_name
    with transaction.atomic():
        for model, field in encrypted_fields():
            table, column = quote(model._meta.db_table), quote(str(field.column))
            pk = quote(str(model._meta.pk.column))
            name = f"{model._meta.label}.{field.name}"
            counts[name] = 0
            with connection.cursor() as cursor:
                # Raw SQL on purpose: the ORM would hand us decrypted values, and we must re-wrap the tokens.
                cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
                rows = cursor.fetchall()
                for start in range(0, len(rows), BATCH):
                    batch = [(rotate_token(token), key) for key, token in rows[start : start + BATCH]]
                    cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", batch)  # noqa: S608
                    counts[name] += len(batch)
        audit_record(
            actor=None,
            action="secrets.rotated",
            summary=f"{sum(counts.values())} secret(s) re-encrypted under the newest key",
        )
    return counts
