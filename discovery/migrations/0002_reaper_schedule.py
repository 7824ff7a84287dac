"""The beat entry of the reaper that fails discovery rows whose worker is gone (every minute)."""

from django.db import migrations


def create_reaper(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="discovery: reap stale runs",
        defaults={"task": "discovery.reap_runs", "interval": every, "enabled": True},
    )


def remove_reaper(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name="discovery: reap stale runs").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("discovery", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_reaper, remove_reaper)]
