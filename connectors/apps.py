from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Application connectors"

    def ready(self) -> None:
        # Executors (push, rollback), the inventory's connector summaries, the holistic-view cards and the
        # work-order preview card register themselves on import.
        from connectors import panels, push, sync  # noqa: F401
