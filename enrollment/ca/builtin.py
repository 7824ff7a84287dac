"""The built-in CA: a root and an issuing CA created at set-up, keys encrypted at rest, CRLs served by the portal.

Templates: `server` (EKU serverAuth) and `client` (EKU clientAuth). Every issued certificate carries AKI/SKI,
basicConstraints CA:FALSE, keyUsage, the template's EKU, its SANs, a CRL distribution point and the issuer's
certificate URL (AIA), all under the portal's public URL (CLM_PUBLIC_URL).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from clm.audit import audit_record
from clm.env import env_str
from enrollment.ca.base import CAError, CAModule, CAResult, CertificateTemplate, IssuanceRequest, ca_module
from enrollment.choices import REASON_FLAGS, CARequestStatus, RevocationReason
from enrollment.csr import HASHES, load_private_key, private_key_pkcs8, san_extension, subject_name
from enrollment.models import BuiltinCA, CAAccount, CARequest
from enrollment.validation import Validity

BUILTIN = "builtin"
BUILTIN_ACCOUNT_NAME = "Built-in CA"
ROOT_YEARS = 20
ISSUING_YEARS = 10
CRL_DAYS = 7
CRL_REFRESH_BEFORE = timedelta(days=1)

TEMPLATES = [
    CertificateTemplate("server", "Server (TLS web server)", ("serverAuth",)),
    CertificateTemplate("client", "Client (TLS client authentication)", ("clientAuth",)),
]
_EKU_OIDS = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}


def public_url() -> str:
    """The portal's address as clients reach it; CRL and CA-certificate URLs in certificates start with it."""
    return (env_str("CLM_PUBLIC_URL") or f"http://127.0.0.1:{env_str('PORT', '8000')}").rstrip("/")


def _now() -> datetime:
    return timezone.now().astimezone(UTC).replace(microsecond=0)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _url(account: CAAccount, base: str, name: str) -> str:
    return base + reverse("enrollment:pki_file", args=[account.pk, name])


def _ca_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
    crl_url: str | None,
) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(_crl_distribution_points(crl_url), critical=False)
    return builder.sign(issuer_key, HASHES["sha384"]())


def _crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None
            )
        ]
    )


def builtin_ca_ensure(*, base_url: str | None = None) -> CAAccount:
    """Create the built-in CA (its account, root and issuing CA) unless it exists; idempotent and safe to run from
    two processes at once. Returns its CA account."""
    with transaction.atomic():
        account, _ = CAAccount.objects.get_or_create(
            name=BUILTIN_ACCOUNT_NAME,
            defaults={"ca": BUILTIN, "description": "The portal's own two-tier CA (root and issuing CA)."},
        )
        # The row lock makes a second process wait here, then find the CA the first one created.
        account = CAAccount.objects.select_for_update().get(pk=account.pk)
        if BuiltinCA.objects.filter(account=account).exists():
            return account
        base = (base_url or public_url()).rstrip("/")
        suffix = secrets.token_hex(3).upper()
        now = _now()
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Thumbprint"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Thumbprint Root CA {suffix}"),
            ]
        )
        root = _ca_certificate(
            subject=root_name,
            key=root_key,
            issuer=root_name,
            issuer_key=root_key,
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=365 * ROOT_YEARS),
            path_length=1,
            crl_url=None,
        )
        issuing_key = ec.generate_private_key(ec.SECP384R1())
        issuing_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Thumbprint"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"Thumbprint Issuing CA {suffix}"),
            ]
        )
        issuing = _ca_certificate(
            subject=issuing_name,
            key=issuing_key,
            issuer=root_name,
            issuer_key=root_key,
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=365 * ISSUING_YEARS),
            path_length=0,
            crl_url=_url(account, base, "root.crl"),
        )
        BuiltinCA.objects.create(
            account=account,
            root_certificate_pem=_pem(root),
            root_key=private_key_pkcs8(root_key),
            issuing_certificate_pem=_pem(issuing),
            issuing_key=private_key_pkcs8(issuing_key),
            public_url=base,
        )
        audit_record(
            actor=None,
            action="ca.builtin_created",
            summary=f"built-in CA created: {root_name.rfc4514_string()} → {issuing_name.rfc4514_string()}",
            obj=account,
        )
    return account


class _Loaded:
    """The built-in CA of an account with its certificates and keys loaded (keys decrypted only in memory)."""

    def __init__(self, ca: BuiltinCA) -> None:
        self.row = ca
        self.root = x509.load_pem_x509_certificate(ca.root_certificate_pem.encode("ascii"))
        self.issuing = x509.load_pem_x509_certificate(ca.issuing_certificate_pem.encode("ascii"))

    def key(self, which: str) -> Any:
        return load_private_key(bytes(self.row.root_key if which == "root" else self.row.issuing_key))


def _load(account: CAAccount, *, lock: bool = False) -> _Loaded:
    query = BuiltinCA.objects.select_for_update() if lock else BuiltinCA.objects
    try:
        return _Loaded(query.get(account=account))
    except BuiltinCA.DoesNotExist:
        raise CAError(f"The built-in CA of account {account} has not been created (run the set-up).") from None


def _result(request: CARequest) -> CAResult:
    if request.status == CARequestStatus.PENDING or request.certificate_der is None:
        return CAResult(status="pending", request_id=request.ca_request_id)
    cert = x509.load_der_x509_certificate(bytes(request.certificate_der))
    chain = tuple(p for p in request.chain_pem.split("\n\n") if p.strip())
    return CAResult(status="issued", request_id=request.ca_request_id, certificate_pem=_pem(cert), chain_pem=chain)


def _key_usage(public_key: Any) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


@ca_module
class BuiltinCAModule(CAModule):
    name = BUILTIN
    label = "Thumbprint built-in CA"

    def templates(self, account: CAAccount) -> list[CertificateTemplate]:
        return list(TEMPLATES)

    def submit(self, account: CAAccount, request: IssuanceRequest) -> CAResult:
        existing = CARequest.objects.filter(account=account, request_ref=request.request_ref).first()
        if existing is not None:
            return _result(existing)
        ca = _load(account)
        cert = self._issue(account, ca, request)
        chain = "\n\n".join([_pem(ca.issuing).strip(), _pem(ca.root).strip()])
        try:
            with transaction.atomic():
                record = CARequest.objects.create(
                    account=account,
                    request_ref=request.request_ref,
                    status=CARequestStatus.ISSUED,
                    template=request.template,
                    serial=format(cert.serial_number, "X"),
                    certificate_der=cert.public_bytes(serialization.Encoding.DER),
                    chain_pem=chain,
                    issued_at=timezone.now(),
                )
                record.ca_request_id = f"builtin-{record.pk}"
                record.save(update_fields=["ca_request_id"])
        except IntegrityError:
            # A concurrent run of the same work order won: hand back its certificate, not a second one.
            return _result(CARequest.objects.get(account=account, request_ref=request.request_ref))
        return _result(record)

    def _issue(self, account: CAAccount, ca: _Loaded, request: IssuanceRequest) -> x509.Certificate:
        template = self.template(account, request.template)
        if template is None:
            raise CAError(f"The built-in CA has no template {request.template!r}.")
        if request.hash not in ("sha256", "sha384", "sha512"):
            raise CAError(f"The built-in CA does not sign with {request.hash!r}.")
        try:
            csr = x509.load_pem_x509_csr(request.csr_pem.encode("ascii"))
        except ValueError as exc:
            raise CAError(f"The CSR cannot be read: {exc}") from None
        if not csr.is_signature_valid:
            raise CAError("The CSR's signature does not verify.")
        not_before = _now()
        not_after = Validity(request.validity_value, request.validity_unit).end(not_before)
        if not_after > ca.issuing.not_valid_after_utc:
            raise CAError("The requested validity goes beyond the issuing CA's own validity.")
        public_key = csr.public_key()
        issuing_ski = ca.issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        base = ca.row.public_url
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject_name(request.subject))
            .issuer_name(ca.issuing.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(public_key), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([_EKU_OIDS[name] for name in template.extended_key_usage]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski), critical=False)
            .add_extension(_crl_distribution_points(_url(account, base, "issuing.crl")), critical=False)
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(_url(account, base, "issuing.crt")),
                        )
                    ]
                ),
                critical=False,
            )
        )
        sans = san_extension(request.sans)
        if sans is not None:
            # With an empty subject the SANs are the only names, and RFC 5280 then makes them critical.
            builder = builder.add_extension(sans, critical=not request.subject)
        elif not request.subject:
            raise CAError("A certificate needs a subject or at least one SAN.")
        return builder.sign(ca.key("issuing"), HASHES[request.hash]())

    def poll(self, account: CAAccount, request_id: str) -> CAResult:
        request = CARequest.objects.filter(account=account, ca_request_id=request_id).first()
        if request is None:
            raise CAError(f"The built-in CA has no request {request_id!r}.")
        return _result(request)

    def revoke(self, account: CAAccount, *, serial: str, reason: str) -> None:
        with transaction.atomic():
            request = CARequest.objects.select_for_update().filter(account=account, serial=serial.upper()).first()
            if request is None:
                raise CAError(f"The built-in CA did not issue serial {serial}.")
            if request.revoked_at is None:
                request.status = CARequestStatus.REVOKED
                request.revoked_at = timezone.now()
                request.revocation_reason = reason if reason in RevocationReason.values else "unspecified"
                request.save(update_fields=["status", "revoked_at", "revocation_reason"])
            crl_publish(account, "issuing")

    def describe(self, account: CAAccount) -> dict[str, Any]:
        row = BuiltinCA.objects.filter(account=account).first()
        if row is None:
            return {"ready": False}
        ca = _Loaded(row)
        return {
            "ready": True,
            "root": ca.root.subject.rfc4514_string(),
            "root_not_after": ca.root.not_valid_after_utc,
            "issuing": ca.issuing.subject.rfc4514_string(),
            "issuing_not_after": ca.issuing.not_valid_after_utc,
            "crl_url": _url(account, row.public_url, "issuing.crl"),
            "root_crl_url": _url(account, row.public_url, "root.crl"),
            "issued": CARequest.objects.filter(account=account).exclude(serial="").count(),
            "revoked": CARequest.objects.filter(account=account, revoked_at__isnull=False).count(),
        }


def crl_publish(account: CAAccount, which: str) -> bytes:
    """Sign and store a new CRL of the root (`which` = "root") or the issuing CA, with the next CRL number.

    The issuing CA's CRL lists every revoked certificate it issued; the root's lists revoked CA certificates (none).
    """
    with transaction.atomic():
        ca = _load(account, lock=True)
        now = _now()
        issuer = ca.root if which == "root" else ca.issuing
        number_field = f"{which}_crl_number"
        number = getattr(ca.row, number_field) + 1
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(now)
            .next_update(now + timedelta(days=CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
                ),
                critical=False,
            )
        )
        if which == "issuing":
            revoked = CARequest.objects.filter(account=account, revoked_at__isnull=False).exclude(serial="")
            for entry in revoked.order_by("revoked_at", "pk"):
                flag = REASON_FLAGS.get(RevocationReason(entry.revocation_reason or "unspecified"))
                revoked_builder = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry.serial, 16))
                    .revocation_date(entry.revoked_at.astimezone(UTC).replace(microsecond=0))  # type: ignore[union-attr]
                )
                if flag is not None and flag != x509.ReasonFlags.unspecified:
                    revoked_builder = revoked_builder.add_extension(x509.CRLReason(flag), critical=False)
                builder = builder.add_revoked_certificate(revoked_builder.build())
        crl = builder.sign(ca.key(which), HASHES["sha384"]())
        der = crl.public_bytes(serialization.Encoding.DER)
        setattr(ca.row, number_field, number)
        setattr(ca.row, f"{which}_crl_der", der)
        setattr(ca.row, f"{which}_crl_next_update", now + timedelta(days=CRL_DAYS))
        ca.row.save(update_fields=[number_field, f"{which}_crl_der", f"{which}_crl_next_update"])
    return der


def crl_current(account: CAAccount, which: str) -> bytes:
    """The published CRL (DER) of the root or the issuing CA, re-signed when it is missing or about to expire."""
    row = BuiltinCA.objects.filter(account=account).first()
    if row is None:
        raise CAError("This CA account has no built-in CA.")
    der = getattr(row, f"{which}_crl_der")
    next_update = getattr(row, f"{which}_crl_next_update")
    if der is None or next_update is None or next_update - timezone.now() < CRL_REFRESH_BEFORE:
        return crl_publish(account, which)
    return bytes(der)


def ca_certificate_pem(account: CAAccount, which: str) -> str:
    row = BuiltinCA.objects.filter(account=account).first()
    if row is None:
        raise CAError("This CA account has no built-in CA.")
    return row.root_certificate_pem if which == "root" else row.issuing_certificate_pem
