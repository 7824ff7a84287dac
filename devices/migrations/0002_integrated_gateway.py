from django.db import migrations


def create_integrated_gateway(apps, schema_editor):
    Gateway = apps.get_model("devices", "Gateway")
    Gateway.objects.get_or_create(
        name="integrated-gateway",
        defaults={"mode": "integrated", "gateway_type": "powershell", "location": "remote"},
    )


class Migration(migrations.Migration):
    dependencies = [("devices", "0001_initial")]

    operations = [migrations.RunPython(create_integrated_gateway, migrations.RunPython.noop)]
