from django.apps import AppConfig


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = "Enrollment"

    def ready(self) -> None:
        # CA modules and work-order executors register themselves on import; the set-up step creates the built-in CA.
        from enrollment import bootstrap, executors  # noqa: F401
        from enrollment.ca import builtin  # noqa: F401
