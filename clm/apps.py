from django.apps import AppConfig


class ClmConfig(AppConfig):
    name = "clm"
    verbose_name = "Thumbprint core"

    def ready(self) -> None:
        from clm import checks, jobkinds, logging, signals  # noqa: F401  (checks, job kinds, auth audit receivers)

        logging.install_record_masking()
