from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Devices"

    def ready(self) -> None:
        # Job kinds (validation) and the demo's start-up hooks for `make run`.
        from devices import demo, validation  # noqa: F401
