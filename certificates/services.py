"""State changes of the inventory."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from certificates.bulk import search_text_for
from certificates.choices import INVENTORY_STATUSES, CertificateSource, CertificateStatus, HashFunction, KeyType
from certificates.models import Certificate, CertificateGroup, Policy, PrivateKey, SavedFilter
from certificates.selectors import group_default
from certificates.x509 import ParsedCertificate
from clm.api.errors import ApplicationError, Conflict
from clm.audit import audit_record


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
            "search_text": search_text_for(parsed.common_name, parsed.sans),
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


# -- moving certificates into the inventory, groups -------------------------------------------------------------


def certificate_move(*, certificates: list[Certificate], status: str, group: CertificateGroup | None, user: Any) -> int:
    """Set the inventory status (Managed / Monitored) and group of certificates: moves certificates that a "Do not
    move" discovery left out into the inventory, or re-files inventory certificates. Returns how many changed.

    States: any -> managed | monitored. Writes one audit event per certificate.
    """
    if status not in INVENTORY_STATUSES:
        raise ApplicationError(
            "A certificate can be moved to Managed or Monitored.", errors={"status": ["Choose managed or monitored."]}
        )
    target_group = group or group_default()
    changed = 0
    with transaction.atomic():
        for certificate in Certificate.objects.select_for_update().filter(pk__in=[c.pk for c in certificates]):
            before = (certificate.status, certificate.group_id)
            if before == (status, target_group.pk):
                continue
            certificate.status = status
            certificate.group = target_group
            certificate.save(update_fields=["status", "group", "updated_at"])
            changed += 1
            audit_record(
                actor=user,
                action="certificate.move",
                obj=certificate,
                summary=f"{certificate} moved to {certificate.get_status_display()} in group {target_group.name}",
            )
    return changed


def _name_taken(model: type[models.Model], name: str, instance: models.Model | None) -> bool:
    queryset = model._default_manager.filter(name__iexact=name)
    if instance is not None:
        queryset = queryset.exclude(pk=instance.pk)
    return queryset.exists()


GROUP_FIELDS = (
    "name",
    "description",
    "policy",
    "renew_automatically",
    "regenerate_automatically",
    "push_automatically",
)


def group_save(*, data: dict[str, Any], user: Any, group: CertificateGroup | None = None) -> CertificateGroup:
    """Create a certificate group, or update `group` with the given fields. Names are unique (case-insensitive)."""
    name = str(data.get("name", group.name if group else "")).strip()
    if not name:
        raise ApplicationError("A group needs a name.", errors={"name": ["This field is required."]})
    if _name_taken(CertificateGroup, name, group):
        raise ApplicationError("That name is taken.", errors={"name": ["A group with this name already exists."]})
    target = group or CertificateGroup()
    for field in GROUP_FIELDS:
        if field in data:
            setattr(target, field, data[field])
    target.name = name
    target.full_clean(exclude=["policy"])
    target.save()
    audit_record(
        actor=user,
        action="group.update" if group else "group.create",
        obj=target,
        summary=f"Certificate group {target.name} {'updated' if group else 'created'}",
    )
    return target


def group_delete(*, group: CertificateGroup, user: Any) -> None:
    """Delete a group; its certificates fall back to the default group. The default group cannot be deleted."""
    if group.is_default:
        raise Conflict("The default group cannot be deleted.")
    with transaction.atomic():
        default = group_default()
        moved = Certificate.objects.filter(group=group).update(group=default)
        name = group.name
        group.delete()
        audit_record(
            actor=user,
            action="group.delete",
            object_type="certificates.certificategroup",
            object_id=str(group.pk),
            summary=f"Certificate group {name} deleted; {moved} certificate(s) moved to {default.name}",
        )


POLICY_FIELDS = (
    "name",
    "description",
    "allowed_key_types",
    "allowed_rsa_sizes",
    "allowed_ec_curves",
    "allowed_hashes",
    "max_validity_days",
    "default_key_type",
    "default_key_size",
    "default_hash",
    "organization",
    "organizational_unit",
    "locality",
    "state",
    "country",
    "approval_levels",
)
RSA_SIZES = (1024, 2048, 3072, 4096, 8192)
EC_CURVES = ("P-256", "P-384", "P-521")


def policy_errors(policy: Policy) -> dict[str, list[str]]:
    """Rules between a policy's fields (each field's own checks are the model's)."""
    errors: dict[str, list[str]] = {}
    types = list(policy.allowed_key_types or [])
    if not types:
        errors["allowed_key_types"] = ["Allow at least one key type."]
    unknown = [t for t in types if t not in KeyType.values]
    if unknown:
        errors["allowed_key_types"] = [f"Unknown key type(s): {', '.join(map(str, unknown))}."]
    bad_sizes = [s for s in policy.allowed_rsa_sizes or [] if s not in RSA_SIZES]
    if bad_sizes:
        errors["allowed_rsa_sizes"] = [f"RSA key sizes must be among {', '.join(map(str, RSA_SIZES))}."]
    if KeyType.RSA in types and not policy.allowed_rsa_sizes:
        errors["allowed_rsa_sizes"] = ["Allow at least one RSA key size when RSA keys are allowed."]
    bad_curves = [c for c in policy.allowed_ec_curves or [] if c not in EC_CURVES]
    if bad_curves:
        errors["allowed_ec_curves"] = [f"EC curves must be among {', '.join(EC_CURVES)}."]
    if KeyType.EC in types and not policy.allowed_ec_curves:
        errors["allowed_ec_curves"] = ["Allow at least one curve when EC keys are allowed."]
    hashes = list(policy.allowed_hashes or [])
    if not hashes or any(h not in HashFunction.values for h in hashes):
        errors["allowed_hashes"] = [f"Choose hash functions among {', '.join(HashFunction.values)}."]
    if policy.default_key_type not in types:
        errors["default_key_type"] = ["The default key type must be one of the allowed key types."]
    elif policy.default_key_type == KeyType.RSA and policy.default_key_size not in (policy.allowed_rsa_sizes or []):
        errors["default_key_size"] = ["The default bit length must be one of the allowed RSA key sizes."]
    elif policy.default_key_type == KeyType.EC and f"P-{policy.default_key_size}" not in (
        policy.allowed_ec_curves or []
    ):
        errors["default_key_size"] = ["The default bit length must match an allowed curve (256, 384 or 521)."]
    if policy.default_hash not in hashes:
        errors["default_hash"] = ["The default hash function must be one of the allowed ones."]
    if policy.country and not (len(policy.country) == 2 and policy.country.isalpha() and policy.country.isupper()):
        errors["country"] = ["Use a two-letter country code in capitals, e.g. US."]
    return errors


def policy_save(*, data: dict[str, Any], user: Any, policy: Policy | None = None) -> Policy:
    """Create a policy or update `policy`; every field and the rules between them are checked first."""
    target = policy or Policy()
    for field in POLICY_FIELDS:
        if field in data:
            setattr(target, field, data[field])
    target.name = str(target.name or "").strip()
    target.country = (target.country or "").strip().upper()
    errors: dict[str, list[str]] = {}
    try:
        # The allowed_* lists are checked by policy_errors (an empty list of curves is fine for an RSA-only policy).
        target.full_clean(
            validate_unique=False,
            exclude=["allowed_key_types", "allowed_rsa_sizes", "allowed_ec_curves", "allowed_hashes"],
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if target.name and _name_taken(Policy, target.name, policy):
        errors["name"] = ["A policy with this name already exists."]
    for field, messages in policy_errors(target).items():
        errors.setdefault(field, messages)
    if errors:
        raise ApplicationError("The policy is not valid.", errors=errors)
    target.save()
    audit_record(
        actor=user,
        action="policy.update" if policy else "policy.create",
        obj=target,
        summary=f"Policy {target.name} {'updated' if policy else 'created'}",
    )
    return target


def policy_delete(*, policy: Policy, user: Any) -> None:
    """Delete a policy no group uses (a policy in use is refused: 409)."""
    users = list(policy.groups.values_list("name", flat=True))
    if users:
        raise Conflict(f"The policy is used by group(s): {', '.join(users)}.")
    name, pk = policy.name, policy.pk
    policy.delete()
    audit_record(
        actor=user,
        action="policy.delete",
        object_type="certificates.policy",
        object_id=str(pk),
        summary=f"Policy {name} deleted",
    )


def saved_filter_save(*, user: Any, kind: str, name: str, query: str) -> SavedFilter:
    """Save (or overwrite, by name) a user's inventory filter."""
    name = name.strip()[:100]
    if not name:
        raise ApplicationError("Give the filter a name.", errors={"name": ["This field is required."]})
    query = "&".join(p for p in query.lstrip("?").split("&") if p and not p.startswith(("cursor=", "page=")))
    saved, _ = SavedFilter.objects.update_or_create(user=user, kind=kind, name=name, defaults={"query": query[:2000]})
    return saved
