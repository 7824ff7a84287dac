"""Downloads of a certificate: PEM (optionally with its chain), DER, and PFX with its private key under a password.

A PFX holds the private key: building one writes an audit event, and only the roles that may hold keys get it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certificates.choices import KeyLocation
from certificates.models import Certificate, PrivateKey
from certificates.pkcs12 import Pkcs12Encryption, build_pfx, load_private_key
from clm.api.errors import ApplicationError
from clm.audit import audit_record
from clm.choices import Role
from clm.logging import register_secret
from clm.roles import has_role

PFX_PASSWORD_MIN = 8
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class Export:
    filename: str
    content_type: str
    content: bytes


def _base_name(certificate: Certificate) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", certificate.common_name or certificate.thumbprint).strip("._") or "cert"
    return name[:80]


def chain_certificates(certificate: Certificate) -> list[x509.Certificate]:
    return [
        x509.load_pem_x509_certificate(block.encode("ascii")) for block in _PEM_BLOCK.findall(certificate.chain_pem)
    ]


def certificate_export_pem(*, certificate: Certificate, with_chain: bool = False) -> Export:
    leaf = x509.load_der_x509_certificate(bytes(certificate.der))
    blocks = [leaf] + (chain_certificates(certificate) if with_chain else [])
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in blocks)
    suffix = "-chain" if with_chain else ""
    return Export(f"{_base_name(certificate)}{suffix}.pem", "application/x-pem-file", pem)


def certificate_export_der(*, certificate: Certificate) -> Export:
    return Export(f"{_base_name(certificate)}.cer", "application/pkix-cert", bytes(certificate.der))


def portal_key(certificate: Certificate) -> PrivateKey | None:
    key = PrivateKey.objects.filter(certificate=certificate, location=KeyLocation.PORTAL).first()
    return key if key is not None and key.pkcs8 else None


def can_download_private_key(user: Any, certificate: Certificate) -> bool:
    """Administrators and implementers (who push keys to hosts), and the requester who enrolled the certificate."""
    from enrollment.models import Enrollment

    if has_role(user, Role.ADMINISTRATOR, Role.IMPLEMENTER):
        return True
    return (
        has_role(user, Role.REQUESTER) and Enrollment.objects.filter(certificate=certificate, requester=user).exists()
    )


def certificate_export_pfx(*, certificate: Certificate, password: str, user: Any) -> Export:
    """The certificate, its chain and its portal-held private key as PKCS#12 (AES-256, PBKDF2-SHA256) under
    `password`.
    Writes a `certificate.private_key_download` audit event (with the enrollment's tracking id)."""
    if not can_download_private_key(user, certificate):
        raise ApplicationError("Your role does not allow downloading private keys.", status_code=403)
    if len(password) < PFX_PASSWORD_MIN:
        raise ApplicationError(
            "The PFX password is too short.",
            errors={"password": [f"Use at least {PFX_PASSWORD_MIN} characters."]},
        )
    key_row = portal_key(certificate)
    if key_row is None:
        raise ApplicationError(
            "The portal does not hold this certificate's private key.",
            errors={"type": ["PFX needs the private key; download PEM or DER instead."]},
        )
    register_secret(password)
    content = build_pfx(
        key=load_private_key(cast(bytes, key_row.pkcs8)),
        certificate=x509.load_der_x509_certificate(bytes(certificate.der)),
        chain=chain_certificates(certificate),
        password=password,
        algorithm=Pkcs12Encryption.AES256_SHA256,
        friendly_name=certificate.common_name or certificate.thumbprint,
    )
    from enrollment.models import Enrollment

    enrollment = Enrollment.objects.filter(certificate=certificate).order_by("-pk").first()
    audit_record(
        actor=user,
        action="certificate.private_key_download",
        summary=f"{user.get_username()} downloaded the private key of {certificate} as PFX",
        obj=certificate,
        tracking_id=(enrollment.tracking_id or None) if enrollment is not None else None,
    )
    return Export(f"{_base_name(certificate)}.pfx", "application/x-pkcs12", content)
