"""Vocabularies of application connectors and push."""

from django.db import models


class Pkcs12EncryptionChoice(models.TextChoices):
    AES256_SHA256 = "aes256_sha256", "AES-256 with SHA-256 (Windows Server 2019 and later)"
    TRIPLEDES_SHA1 = "tripledes_sha1", "TripleDES with SHA-1 (compatible with every Windows version)"
