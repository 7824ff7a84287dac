"""State changes of the inventory."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from certificates.choices import CertificateSource, CertificateStatus
from certificates.models import Certificate, CertificateGroup, PrivateKey
from certificates.x509 import ParsedCertificate


@transaction.atomic
def certificate_record(
    *,
    parsed: ParsedCertificate,
    status: str = CertificateStatus.MONITORED,
    source: str = CertificateSource.DISCOVERED,
    group: CertificateGroup | None = None,
    parent: Certificate | None = None,
    chain_pem: str = "",
    attributes: dict[str, Any] | None = None,
) -> tuple[Certificate, bool]:
    """Add a certificate to the inventory, or return the existing row with the same SHA-256 (created=False).

    An existing Monitored certificate becomes Managed when recorded as Managed (never the other way), and gains a
    group, chain or attributes it did not have. A portal-held private key with the same public key is attached.
    """
    cert, created = Certificate.objects.select_for_update().get_or_create(
        sha256=parsed.sha256,
        defaults={
            "thumbprint": parsed.thumbprint,
            "der": parsed.der,
            "common_name": parsed.common_name[:255],
            "subject": parsed.subject,
            "issuer": parsed.issuer,
            "issuer_common_name": parsed.issuer_common_name[:255],
            "serial": parsed.serial,
            "sans": parsed.sans,
            "key_type": parsed.key_type,
            "key_size": parsed.key_size,
            "signature_hash": parsed.signature_hash,
            "not_before": parsed.not_before,
            "not_after": parsed.not_after,
            "is_ca": parsed.is_ca,
            "self_signed": parsed.self_signed,
            "extended_key_usage": parsed.extended_key_usage,
            "is_client": parsed.is_client,
            "status": status,
            "source": source,
            "group": group,
            "parent": parent,
            "chain_pem": chain_pem,
            "attributes": attributes or {},
        },
    )
    if not created:
        changed = []
        if status == CertificateStatus.MANAGED and cert.status != CertificateStatus.MANAGED:
            cert.status = CertificateStatus.MANAGED
            changed.append("status")
        for name, value in (("group", group), ("parent", parent), ("chain_pem", chain_pem)):
            if value and not getattr(cert, name):
                setattr(cert, name, value)
                changed.append(name)
        if attributes:
            cert.attributes = {**attributes, **cert.attributes}
            changed.append("attributes")
        if changed:
            cert.save(update_fields=[*changed, "updated_at"])
    PrivateKey.objects.filter(public_key_sha256=parsed.public_key_sha256, certificate__isnull=True).update(
        certificate=cert
    )
    return cert, created
