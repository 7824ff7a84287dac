"""Re-encrypt every stored secret under the newest key of CLM_SECRET_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from clm.crypto import SecretDecryptionError
from clm.secrets_rotation import rotate_all_secrets


class Command(BaseCommand):
    help = "Re-encrypt every secret at rest under the first (newest) key of CLM_SECRET_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = rotate_all_secrets()
        except SecretDecryptionError as exc:
            raise CommandError(f"{exc}. Nothing was changed.") from exc
        total = sum(counts.values())
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{total} secret(s) now encrypted under the newest key."))
