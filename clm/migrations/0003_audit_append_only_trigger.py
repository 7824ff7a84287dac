"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit trail, whatever the client.

(TRUNCATE stays possible for the table owner: the test runner flushes tables with it.)
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION clm_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER clm_auditevent_append_only
    BEFORE UPDATE OR DELETE ON clm_auditevent
    FOR EACH ROW EXECUTE FUNCTION clm_auditevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS clm_auditevent_append_only ON clm_auditevent;
DROP FUNCTION IF EXISTS clm_auditevent_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("clm", "0002_roles")]

    operations = [migrations.RunPython(forward, backward)]
