"""Server import: many devices from one CSV file, each row created whole or not at all, with a result per row.

As in the reference, import is for external gateways only: the integrated gateway refuses it. Every row goes through
the same `device_create` service as the form and the API (same rules, same errors); a row that fails leaves nothing
behind (its own savepoint). Validations of the created devices are queued after the import commits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from clm.api.errors import ApplicationError
from clm.audit import audit_record
from devices.choices import CredentialType, GatewayMode
from devices.models import Device, Gateway
from devices.services import DeviceInput, device_create
from vaults.choices import VaultProvider

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
COLUMNS = (
    "name",
    "hostname",
    "data_center",
    "cert_sync",
    "credential_type",
    "username",
    "password",
    "credential",
    "gateway",
    "winrm_scheme",
    "winrm_port",
    "winrm_auth",
    "verify_tls",
    "allow_basic_over_http",
    "file_system_path",
    "password_vault",
)
REQUIRED_COLUMNS = ("name", "hostname")
TRUE = {"1", "true", "yes", "y", "on"}
FALSE = {"0", "false", "no", "n", "off", ""}
INTEGRATED_REFUSED = (
    "Server import is not available for the integrated gateway; choose an external gateway "
    "(add one under Settings > Gateways)."
)
IMPORT_TEMPLATE = (
    ",".join(COLUMNS)
    + "\r\n"
    + "iis-web-01,iis-web-01.example.test,dc-east,managed,manual,EXAMPLE\\svc-iis,change-me,,,https,5986,ntlm,"
    + "true,false,,\r\n"
)


@dataclass
class RowResult:
    line: int
    name: str
    created: bool
    device_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.errors.items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "result": "created" if self.created else "error",
            "device": self.device_id,
            "errors": self.errors,
            "reason": self.reason,
        }


@dataclass
class ImportResult:
    rows: list[RowResult]
    gateway: str

    @property
    def created(self) -> int:
        return sum(1 for r in self.rows if r.created)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if not r.created)

    def as_dict(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "created": self.created,
            "failed": self.failed,
            "rows": [r.as_dict() for r in self.rows],
        }


def _bool(value: str, column: str) -> bool:
    text = value.strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationError({column: ["Use true or false."]})


def _row_input(row: dict[str, str], gateway: Gateway) -> DeviceInput:
    """One CSV row as a DeviceInput; ValidationError for values that cannot even be read."""
    errors: dict[str, list[str]] = {}
    value = {k: (row.get(k) or "").strip() for k in COLUMNS}
    data = DeviceInput(
        name=value["name"],
        hostname=value["hostname"],
        data_center=value["data_center"],
        cert_sync=value["cert_sync"].lower() or "managed",
        username=row.get("username") or "",
        password=row.get("password") or None,
        gateway_mode=GatewayMode.EXTERNAL,
        gateway_select="existing",
        gateway=gateway,
        winrm_scheme=value["winrm_scheme"].lower() or "https",
        winrm_auth=value["winrm_auth"].lower() or "negotiate",
        file_system_path=value["file_system_path"],
        password_vault=value["password_vault"] or None,
    )
    kind = value["credential_type"].lower() or CredentialType.MANUAL
    if kind in VaultProvider.values:
        data.credential_type, data.vault_provider = CredentialType.VAULT, kind
    else:
        data.credential_type = kind
    data.credential = value["credential"] or None
    if value["gateway"]:
        named = Gateway.objects.filter(name__iexact=value["gateway"]).first()
        if named is None:
            errors["gateway"] = [f"No gateway named {value['gateway']!r}."]
        elif named.mode == GatewayMode.INTEGRATED:
            errors["gateway"] = [INTEGRATED_REFUSED]
        else:
            data.gateway = named
    if value["winrm_port"]:
        if not value["winrm_port"].isdigit():
            errors["winrm_port"] = ["Enter a port number."]
        else:
            data.winrm_port = int(value["winrm_port"])
    for column in ("verify_tls", "allow_basic_over_http"):
        try:
            default = column == "verify_tls"
            setattr(data, column, _bool(value[column], column) if value[column] else default)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return data


def _read_rows(content: bytes) -> list[tuple[int, dict[str, str]]]:
    if len(content) > MAX_IMPORT_BYTES:
        raise ApplicationError("The file is too large (at most 5 MB).", errors={"file": ["At most 5 MB."]})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError("The file is not UTF-8 text.", errors={"file": ["Save the CSV as UTF-8."]}) from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ApplicationError(
            f"The CSV file needs the columns {', '.join(REQUIRED_COLUMNS)} (missing: {', '.join(missing)}).",
            errors={"file": [f"Missing column(s): {', '.join(missing)}. See the template."]},
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ApplicationError(
            f"Unknown column(s): {', '.join(unknown)}. Known: {', '.join(COLUMNS)}.",
            errors={"file": [f"Unknown column(s): {', '.join(unknown)}."]},
        )
    reader.fieldnames = header
    rows = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # blank line
        rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None}))
    if len(rows) > MAX_IMPORT_ROWS:
        raise ApplicationError(f"At most {MAX_IMPORT_ROWS} rows per file.", errors={"file": ["Too many rows."]})
    if not rows:
        raise ApplicationError("The CSV file has no rows.", errors={"file": ["The file has a header but no rows."]})
    return rows


def device_import_csv(
    *, content: bytes, gateway: Gateway | None, user: Any = None, validate: bool = True
) -> ImportResult:
    """Create one device per CSV row through `gateway` (external only). Rows are independent: a bad row is reported
    with its reasons and creates nothing; good rows are created (pending) and their validations queued."""
    if gateway is None:
        raise ApplicationError(
            "Choose the external gateway the servers are reached through.", errors={"gateway": ["Required."]}
        )
    if gateway.mode == GatewayMode.INTEGRATED:
        raise ApplicationError(INTEGRATED_REFUSED, errors={"gateway": [INTEGRATED_REFUSED]})
    rows = _read_rows(content)
    results: list[RowResult] = []
    created: list[Device] = []
    with transaction.atomic():
        for line, row in rows:
            name = (row.get("name") or "").strip()
            try:
                with transaction.atomic():
                    device = device_create(data=_row_input(row, gateway), user=user, validate=False)
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {"row": exc.messages}
                results.append(RowResult(line=line, name=name, created=False, errors=errors))
                continue
            created.append(device)
            results.append(RowResult(line=line, name=name, created=True, device_id=device.pk))
        result = ImportResult(rows=results, gateway=gateway.name)
        audit_record(
            actor=user,
            action="device.import",
            summary=(
                f"Imported servers through gateway {gateway.name!r}: {result.created} created, {result.failed} failed"
            ),
        )
        if validate and created:
            from devices.validation import device_validation_request

            for device in created:
                device_validation_request(device=device, user=user)
    return result
