"""Policy compliance of a certificate: does it satisfy its group's policy, and if not, why not.

A certificate in no group belongs to the default group; a group without a policy imposes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certificates.choices import EC_CURVE_SIZES, KeyType
from certificates.models import Certificate, CertificateGroup, Policy

# Curve names as policies spell them, by key size (secp256r1 = P-256, ...).
EC_CURVE_NAMES = {size: f"P-{size}" for size in EC_CURVE_SIZES.values()}
HASH_NAMES = {"sha1": "SHA-1", "sha224": "SHA-224", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


@dataclass(frozen=True)
class Compliance:
    """`compliant` is False when at least one reason exists; `policy` names the policy that was applied."""

    compliant: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    policy: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"compliant": self.compliant, "reasons": list(self.reasons), "policy": self.policy}


def _key_label(key_type: str) -> str:
    return dict(KeyType.choices).get(key_type, key_type.upper())


def policy_reasons(
    policy: Policy, *, key_type: str, key_size: int, signature_hash: str, validity_days: int
) -> list[str]:
    """The rules of `policy` that these certificate properties break, as sentences."""
    reasons: list[str] = []
    allowed_types = [str(t) for t in policy.allowed_key_types or []]
    if allowed_types and key_type not in allowed_types:
        allowed = ", ".join(_key_label(t) for t in allowed_types)
        reasons.append(f"Key type {_key_label(key_type)} is not allowed (allowed: {allowed}).")
    elif key_type == KeyType.RSA and policy.allowed_rsa_sizes and key_size not in policy.allowed_rsa_sizes:
        sizes = ", ".join(str(s) for s in policy.allowed_rsa_sizes)
        reasons.append(f"RSA key size {key_size} bits is not allowed (allowed: {sizes}).")
    elif key_type == KeyType.EC and policy.allowed_ec_curves:
        curve = EC_CURVE_NAMES.get(key_size, f"{key_size}-bit curve")
        if curve not in policy.allowed_ec_curves:
            reasons.append(f"EC curve {curve} is not allowed (allowed: {', '.join(policy.allowed_ec_curves)}).")
    allowed_hashes = [str(h) for h in policy.allowed_hashes or []]
    if allowed_hashes and signature_hash and signature_hash not in allowed_hashes:
        allowed = ", ".join(HASH_NAMES.get(h, h) for h in allowed_hashes)
        reasons.append(
            f"Signature hash {HASH_NAMES.get(signature_hash, signature_hash)} is not allowed (allowed: {allowed})."
        )
    if policy.max_validity_days and validity_days > policy.max_validity_days:
        reasons.append(
            f"Validity of {validity_days} days is longer than the policy's maximum of {policy.max_validity_days} days."
        )
    return reasons


def certificate_compliance(certificate: Certificate, default_group: CertificateGroup | None = None) -> Compliance:
    """Check a certificate against its group's policy (the default group's when it has none).

    Pass `default_group` (with its policy loaded) when checking many certificates, to avoid a query per row.
    """
    group = certificate.group
    if group is None:
        if default_group is None:
            from certificates.selectors import group_default

            default_group = group_default()
        group = default_group
    policy = group.policy
    if policy is None:
        return Compliance(compliant=True, reasons=(), policy="")
    validity_days = (certificate.not_after - certificate.not_before).days
    reasons = policy_reasons(
        policy,
        key_type=certificate.key_type,
        key_size=certificate.key_size,
        signature_hash=certificate.signature_hash,
        validity_days=validity_days,
    )
    return Compliance(compliant=not reasons, reasons=tuple(reasons), policy=policy.name)
