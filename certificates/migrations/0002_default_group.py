"""The default policy and the default certificate group that always exist."""

from django.db import migrations


def create_defaults(apps, schema_editor):
    Policy = apps.get_model("certificates", "Policy")
    Group = apps.get_model("certificates", "CertificateGroup")
    policy, _ = Policy.objects.get_or_create(name="Default policy")
    if not Group.objects.filter(is_default=True).exists():
        Group.objects.create(name="Default", is_default=True, policy=policy,
                             description="Certificates without another group.")


class Migration(migrations.Migration):
    dependencies = [("certificates", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
