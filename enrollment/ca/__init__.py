"""Certificate authorities: one interface (enrollment.ca.base.CAModule), one module per CA, registered by name."""

from enrollment.ca.base import (
    CAError,
    CAModule,
    CAResult,
    CertificateTemplate,
    IssuanceRequest,
    ca_module,
    ca_module_get,
    ca_modules,
)

__all__ = [
    "CAError",
    "CAModule",
    "CAResult",
    "CertificateTemplate",
    "IssuanceRequest",
    "ca_module",
    "ca_module_get",
    "ca_modules",
]
