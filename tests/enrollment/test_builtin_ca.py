"""The built-in CA: created once at set-up, keys encrypted at rest, sensible extensions, CRLs served by the portal."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.db import connection
from django.test import Client

from clm.bootstrap import setup_steps
from enrollment.ca import CAError, IssuanceRequest, ca_module_get
from enrollment.ca.builtin import builtin_ca_ensure, crl_current
from enrollment.csr import build_csr, generate_private_key, load_private_key
from enrollment.models import BuiltinCA, CAAccount, CARequest


def request_for(csr_pem: str, ref: str = "WO-000001", template: str = "server", **extra: Any) -> IssuanceRequest:
    fields: dict[str, Any] = {
        "csr_pem": csr_pem,
        "request_ref": ref,
        "template": template,
        "subject": {"common_name": "leaf.test", "organization": "Example"},
        "sans": {"dns": ["leaf.test"], "ip": ["192.0.2.7"]},
        "hash": "sha256",
        "validity_value": 30,
        "validity_unit": "days",
    }
    fields.update(extra)
    return IssuanceRequest(**fields)


def a_csr(key_type: str = "rsa", size: int = 2048) -> str:
    return build_csr(
        key=generate_private_key(key_type, size), subject={"common_name": "x"}, sans={}, hash_name="sha256"
    )


def test_the_setup_step_creates_it_once(db: Any) -> None:
    said: list[str] = []
    for step in setup_steps():
        if step.__module__ == "enrollment.bootstrap":
            step(said.append)
            step(said.append)
    assert CAAccount.objects.filter(ca="builtin").count() == 1 and BuiltinCA.objects.count() == 1
    assert len(said) == 1 and "Built-in CA created" in said[0]
    assert builtin_ca_ensure() == CAAccount.objects.get(ca="builtin")


def test_its_keys_are_encrypted_at_rest(ca_account: CAAccount) -> None:
    ca = BuiltinCA.objects.get(account=ca_account)
    with connection.cursor() as cursor:
        cursor.execute("SELECT root_key, issuing_key FROM enrollment_builtinca WHERE id = %s", [ca.pk])
        raw_root, raw_issuing = cursor.fetchone()
    for raw, clear in ((raw_root, bytes(ca.root_key)), (raw_issuing, bytes(ca.issuing_key))):
        assert isinstance(raw, str) and raw.startswith("gAAAAA")  # a Fernet token, not the DER key
        assert base64.b64encode(clear).decode()[:40] not in raw
        assert load_private_key(clear).public_key() is not None  # the decrypted value is the PKCS#8 key


def test_root_and_issuing_ca_carry_ca_extensions(ca_account: CAAccount) -> None:
    ca = BuiltinCA.objects.get(account=ca_account)
    root = x509.load_pem_x509_certificate(ca.root_certificate_pem.encode())
    issuing = x509.load_pem_x509_certificate(ca.issuing_certificate_pem.encode())
    assert root.subject == root.issuer and issuing.issuer == root.subject
    for cert, path_length in ((root, 1), (issuing, 0)):
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert basic.critical and basic.value.ca and basic.value.path_length == path_length
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
    issuing_aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert issuing_aki.key_identifier == root_ski.digest
    cdp = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == f"http://portal.test/pki/{ca_account.pk}/root.crl"


@pytest.mark.parametrize(
    ("template", "eku"), [("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)]
)
def test_an_issued_certificate_has_the_templates_eku_and_leaf_extensions(
    ca_account: CAAccount, template: str, eku: x509.ObjectIdentifier
) -> None:
    result = ca_module_get("builtin").submit(ca_account, request_for(a_csr(), template=template))
    assert result.status == "issued" and len(result.chain_pem) == 2
    cert = x509.load_pem_x509_certificate(result.certificate_pem.encode())
    ext = cert.extensions
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [eku]
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    issuing = x509.load_pem_x509_certificate(result.chain_pem[0].encode())
    assert (
        ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        == issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    )
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value == f"http://portal.test/pki/{ca_account.pk}/issuing.crl"
    sans = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["leaf.test"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30


def test_an_ec_key_gets_no_key_encipherment(ca_account: CAAccount) -> None:
    result = ca_module_get("builtin").submit(ca_account, request_for(a_csr("ec", 384)))
    cert = x509.load_pem_x509_certificate(result.certificate_pem.encode())
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment is False


def test_submitting_the_same_work_order_twice_returns_the_first_certificate(ca_account: CAAccount) -> None:
    module = ca_module_get("builtin")
    first = module.submit(ca_account, request_for(a_csr(), ref="WO-000042"))
    second = module.submit(ca_account, request_for(a_csr(), ref="WO-000042"))
    assert first.certificate_pem == second.certificate_pem
    assert CARequest.objects.filter(request_ref="WO-000042").count() == 1
    assert module.poll(ca_account, first.request_id).certificate_pem == first.certificate_pem


def test_it_refuses_sha1_an_unknown_template_and_a_validity_beyond_its_own(ca_account: CAAccount) -> None:
    module = ca_module_get("builtin")
    with pytest.raises(CAError, match="does not sign with 'sha1'"):
        module.submit(ca_account, request_for(a_csr(), ref="r1", hash="sha1"))
    with pytest.raises(CAError, match="no template"):
        module.submit(ca_account, request_for(a_csr(), ref="r2", template="codesign"))
    with pytest.raises(CAError, match="beyond the issuing CA"):
        module.submit(ca_account, request_for(a_csr(), ref="r3", validity_value=30, validity_unit="years"))
    assert not CARequest.objects.exists()


def test_the_crls_are_served_without_sign_in_and_signed_by_their_ca(ca_account: CAAccount) -> None:
    ca = BuiltinCA.objects.get(account=ca_account)
    client = Client()
    for name, pem in (("issuing.crl", ca.issuing_certificate_pem), ("root.crl", ca.root_certificate_pem)):
        response = client.get(f"/pki/{ca_account.pk}/{name}")
        assert response.status_code == 200 and response["Content-Type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(response.content)
        issuer = x509.load_pem_x509_certificate(pem.encode())
        assert crl.issuer == issuer.subject and crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert client.get(f"/pki/{ca_account.pk}/root.pem").content.decode() == ca.root_certificate_pem
    assert client.get(f"/pki/{ca_account.pk}/issuing.crt").status_code == 200
    assert client.get(f"/pki/{ca_account.pk}/secret.key").status_code == 404


def test_revoking_puts_the_serial_on_a_new_crl_number(ca_account: CAAccount) -> None:
    module = ca_module_get("builtin")
    result = module.submit(ca_account, request_for(a_csr(), ref="WO-7"))
    serial = x509.load_pem_x509_certificate(result.certificate_pem.encode()).serial_number
    before = x509.load_der_x509_crl(crl_current(ca_account, "issuing"))
    module.revoke(ca_account, serial=format(serial, "X"), reason="key_compromise")
    module.revoke(ca_account, serial=format(serial, "X"), reason="key_compromise")  # idempotent
    after = x509.load_der_x509_crl(crl_current(ca_account, "issuing"))
    number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    entry = after.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    with pytest.raises(CAError, match="did not issue"):
        module.revoke(ca_account, serial="ABCDEF", reason="unspecified")
