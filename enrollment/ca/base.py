"""The one interface every CA module implements, and the registry of modules by name.

A module answers three questions: submit a CSR (→ issued chain, or pending with the CA's request id), poll a pending
request, revoke a serial. `submit` must be idempotent on `request.request_ref` (the work order id): a second call
with the same reference returns the first outcome instead of issuing twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from enrollment.models import CAAccount


class CAError(Exception):
    """A CA refused or failed. `transient` says whether trying again later can help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class CertificateTemplate:
    """A kind of certificate a CA issues ("Certificate Type"): its extended key usages."""

    name: str
    label: str
    extended_key_usage: tuple[str, ...]


@dataclass(frozen=True)
class IssuanceRequest:
    """What the CA is asked for. `subject` and `sans` are the enrollment's CSR parameters (the CA issues them; the
    public key comes from the CSR); validity is a number and a unit (days | months | years)."""

    csr_pem: str
    request_ref: str
    template: str
    subject: dict[str, str]
    sans: dict[str, list[str]]
    hash: str
    validity_value: int
    validity_unit: str


@dataclass(frozen=True)
class CAResult:
    """`status` is "issued" (with the certificate and its chain, nearest issuer first) or "pending"."""

    status: str
    request_id: str
    certificate_pem: str = ""
    chain_pem: tuple[str, ...] = field(default_factory=tuple)
    message: str = ""


class CAModule(ABC):
    """A certificate authority behind CA accounts. Subclasses set `name` (registry key) and `label`."""

    name: ClassVar[str]
    label: ClassVar[str]

    @abstractmethod
    def templates(self, account: CAAccount) -> list[CertificateTemplate]: ...

    @abstractmethod
    def submit(self, account: CAAccount, request: IssuanceRequest) -> CAResult: ...

    @abstractmethod
    def poll(self, account: CAAccount, request_id: str) -> CAResult: ...

    @abstractmethod
    def revoke(self, account: CAAccount, *, serial: str, reason: str) -> None: ...

    def describe(self, account: CAAccount) -> dict[str, Any]:
        """Facts shown on the CA accounts page (issuer names, CRL URLs, ...)."""
        return {}

    def template(self, account: CAAccount, name: str) -> CertificateTemplate | None:
        return next((t for t in self.templates(account) if t.name == name), None)


_modules: dict[str, CAModule] = {}


def ca_module[T: type[CAModule]](cls: T) -> T:
    """Class decorator: register one instance of a CA module under its `name`."""
    _modules[cls.name] = cls()
    return cls


def ca_module_get(name: str) -> CAModule:
    try:
        return _modules[name]
    except KeyError:
        raise LookupError(f"no CA module named {name!r}") from None


def ca_modules() -> dict[str, CAModule]:
    return dict(_modules)
