from __future__ import annotations

from django import forms

from connectors.models import GeneralSettings


class GeneralSettingsForm(forms.ModelForm):
    class Meta:
        model = GeneralSettings
        fields = ["pkcs12_encryption", "push_validation_interval_minutes", "push_validation_concurrency"]
        labels = {
            "pkcs12_encryption": "PKCS#12 encryption",
            "push_validation_interval_minutes": "Push validation interval (minutes)",
            "push_validation_concurrency": "Push validation concurrency",
        }
        help_texts = {
            "pkcs12_encryption": "Used for hosts on Windows Server 2019 (build 17763) and later. Windows Server "
            "2016 and older always receive TripleDES-SHA1: they cannot import AES-256 PFX files.",
        }
