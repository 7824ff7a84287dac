from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    name = "discovery"

    def ready(self) -> None:
        # The demo's start-up step for `make run` (after devices.demo has onboarded the lab's hosts).
        from discovery import demo  # noqa: F401
