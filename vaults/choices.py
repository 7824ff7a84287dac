"""Vocabularies of the credential list and the external vaults."""

from django.db import models


class VaultProvider(models.TextChoices):
    """External credential vaults the reference supports. Stored as references (vault, path, key); fetching from
    them arrives with the vault issue, so a device that chooses one is refused at save time until then."""

    HASHICORP = "hashicorp", "HashiCorp"
    CYBERARK = "cyberark", "CyberArk"
    BEYONDTRUST = "beyondtrust", "BeyondTrust"
    THYCOTIC = "thycotic", "Thycotic"
