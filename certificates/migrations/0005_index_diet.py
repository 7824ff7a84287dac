"""Fewer indexes on the certificate table: each one is paid by every certificate discovery inserts.

- sha256 and thumbprint lose their LIKE-only twins (varchar_pattern_ops, added by unique=/db_index=): nothing
  searches them by prefix. sha256 stays unique (a named constraint: discovery's ON CONFLICT uses it).
- group loses its own index (cert_group_expiry starts with group); parent's index keeps only the rows with a parent.
- The common-name trigram index goes: the common-name filter searches the free-text trigram index (search_text holds
  the lower-case CN) and re-checks the CN on the rows it finds.
- Bindings lose the single-column index of `device`: the (device, key) constraint starts with it (locations lost
  theirs in 0004).
"""

import django.db.models.deletion
from django.db import migrations, models


def drop_cn_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS cert_cn_upper_trgm")


def create_cn_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS cert_cn_upper_trgm ON certificates_certificate "
        "USING gin (UPPER(common_name) gin_trgm_ops)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("certificates", "0004_location_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="certificate",
            constraint=models.UniqueConstraint(fields=("sha256",), name="cert_sha256_unique"),
        ),
        migrations.AlterField(
            model_name="certificate",
            name="sha256",
            field=models.CharField(help_text="SHA-256 fingerprint, lower-case hex.", max_length=64),
        ),
        migrations.AlterField(
            model_name="certificate",
            name="thumbprint",
            field=models.CharField(help_text="SHA-1 thumbprint, upper-case hex.", max_length=40),
        ),
        migrations.AddIndex(
            model_name="certificate",
            index=models.Index(fields=["thumbprint"], name="cert_thumbprint"),
        ),
        migrations.AlterField(
            model_name="certificate",
            name="group",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="certificates",
                to="certificates.certificategroup",
            ),
        ),
        migrations.AlterField(
            model_name="certificate",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="children",
                to="certificates.certificate",
            ),
        ),
        migrations.AddIndex(
            model_name="certificate",
            index=models.Index(condition=models.Q(("parent__isnull", False)), fields=["parent"], name="cert_parent"),
        ),
        migrations.RunPython(drop_cn_trigram_index, create_cn_trigram_index),
        migrations.AlterField(
            model_name="certificatebinding",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="certificate_bindings",
                to="devices.device",
            ),
        ),
    ]
