"""Device validation: a job on the device's gateway queue that checks communication, reads the host's facts and IIS
configuration, probes certificate discovery, and writes the Device Status Log and the device's status.

Status rules (reference, "Validating the Device"): on success the device shows its Cert Sync (Managed / Monitored /
Ignored); **Unresolved** when the name does not resolve from the gateway or nothing answers; **Failed** when the
host answered but something failed (authentication, TLS trust, an operation). Ignored devices get the configuration
fetch only. A validation is not retried: it reports the state the device is in now; the user validates again.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clm.audit import audit_record
from clm.jobs import Progress, job_enqueue, job_kind
from clm.models import Job
from devices.choices import CertSync, DeviceStatus, StatusLogStep, StepOutcome, ValidationState
from devices.iis import operations
from devices.iis.errors import AuthFailed, DeviceError, Timeout, Unreachable
from devices.models import Device, DeviceValidation
from devices.profiles import normalize_sites
from devices.sessions import CredentialUnavailable, GatewayUnsupported, device_endpoint, device_folder_credential

logger = logging.getLogger(__name__)

JOB_KIND = "devices.validate"
SUCCESS_STATUS = {
    CertSync.MANAGED: DeviceStatus.MANAGED,
    CertSync.MONITORED: DeviceStatus.MONITORED,
    CertSync.IGNORED: DeviceStatus.IGNORED,
}
STEP_LABELS = dict(StatusLogStep.choices)
STEPS = [s.value for s in StatusLogStep]


# -- request ---------------------------------------------------------------------------------------------------------


def device_validation_request(*, device: Device, user: Any = None) -> DeviceValidation:
    """Queue a validation of the device on its gateway's queue (idle -> queued). A validation already queued on the
    same queue is reused, so bulk and repeated clicks do not pile up jobs."""
    queue = device.gateway.queue
    existing = (
        DeviceValidation.objects.filter(device=device, state=ValidationState.QUEUED, queue=queue)
        .exclude(job=None)
        .first()
    )
    if existing is not None:
        return existing
    validation = DeviceValidation.objects.create(
        device=device,
        gateway_name=device.gateway.name,
        queue=queue,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    job = job_enqueue(kind=JOB_KIND, params={"validation": validation.pk, "device": device.pk}, user=user, queue=queue)
    DeviceValidation.objects.filter(pk=validation.pk).update(job=job)
    validation.job = job
    return validation


def device_validation_request_many(*, devices: list[Device], user: Any = None) -> list[DeviceValidation]:
    """Bulk validate: one validation per device, each on its own gateway's queue."""
    with transaction.atomic():
        validations = [device_validation_request(device=d, user=user) for d in devices]
    audit_record(
        actor=user,
        action="device.validate_bulk",
        summary=f"Asked to validate {len(devices)} server(s): {', '.join(d.name for d in devices[:10])}",
    )
    return validations


# -- the run ---------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a validation found: the status and its reason, the status log, and the facts / configuration fetched."""

    status: str = DeviceStatus.FAILED
    reason: str = ""
    log: list[dict[str, Any]] = field(default_factory=list)
    facts: operations.HostFacts | None = None
    sites: list[dict[str, Any]] | None = None
    http_sys: list[dict[str, Any]] | None = None

    def record(self, step: str, outcome: str, detail: str, **data: Any) -> None:
        entry: dict[str, Any] = {
            "step": step,
            "label": STEP_LABELS[step],
            "ok": outcome in (StepOutcome.OK, StepOutcome.SKIPPED),
            "outcome": outcome,
            "detail": detail,
            "at": timezone.now().isoformat(),
        }
        if data:
            entry["data"] = data
        self.log.append(entry)

    def fail(self, step: str, status: str, detail: str) -> Outcome:
        """Record the failed step, mark the remaining sections as not run, and set the status with its reason."""
        self.record(step, StepOutcome.FAILED, detail)
        for later in STEPS[STEPS.index(step) + 1 :]:
            self.record(later, StepOutcome.NOT_RUN, f"Not run: {STEP_LABELS[step].lower()} failed.")
        self.status = status
        self.reason = f"{STEP_LABELS[step]}: {detail}"
        return self


def status_for_error(error: BaseException, *, step: str) -> str:
    """Unresolved when nothing answers (no connection, or no answer while connecting); Failed otherwise."""
    if isinstance(error, Unreachable):
        return DeviceStatus.UNRESOLVED
    if isinstance(error, Timeout) and step == StatusLogStep.COMMUNICATION:
        return DeviceStatus.UNRESOLVED
    return DeviceStatus.FAILED


def _error_text(error: BaseException, device: Device | None = None) -> str:
    """The reason shown in the status log: the device layer's message, made readable for the common cases."""
    if not isinstance(error, DeviceError):
        return str(error)
    text = error.message
    if isinstance(error, Unreachable) and device is not None:
        lowered = text.lower()
        cause = next(
            (c for c in ("connection refused", "timed out", "no route to host", "connection reset") if c in lowered),
            None,
        )
        if cause is not None:
            text = f"nothing answers on {device.hostname}:{device.effective_port} ({cause})"
    if (
        isinstance(error, AuthFailed)
        and device is not None
        and device.winrm_auth == "basic"
        and device.winrm_scheme == "http"
    ):
        text += (
            " (a host refuses Basic over plain HTTP unless its WinRM service allows unencrypted traffic, which "
            "Windows does not by default: use HTTPS)"
        )
    return text


def _resolves(hostname: str, port: int) -> str | None:
    """None when the name resolves; otherwise the resolver's reason."""
    try:
        socket.getaddrinfo(hostname.strip("[]"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return str(getattr(exc, "strerror", None) or exc)
    return None


def _describe_facts(facts: operations.HostFacts) -> str:
    iis = f"IIS {facts.iis_version}" if facts.iis_version else "IIS not installed"
    return (
        f"{facts.os_caption} (version {facts.os_version}, build {facts.build}); {iis}; "
        f"PowerShell {facts.powershell_version}"
    )


def _describe_sites(sites: list[dict[str, Any]], http_sys: list[dict[str, Any]]) -> str:
    started = sum(1 for s in sites if s["state"] == "started")
    bindings = sum(len(s["bindings"]) for s in sites)
    https = sum(1 for s in sites for b in s["bindings"] if b["protocol"] == "https")
    return (
        f"{len(sites)} site(s) ({started} started), {bindings} binding(s) of which {https} https, "
        f"{len(http_sys)} HTTP.sys SSL binding(s)"
    )


def _site_dicts(inventory: operations.SiteInventory) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw_sites = []
    for site in inventory.sites:
        raw_sites.append(
            {
                "id": site.id,
                "name": site.name,
                "state": site.state,
                "physical_path": site.physical_path,
                "bindings": [
                    {
                        "protocol": b.protocol,
                        "binding_information": b.binding_information,
                        "ip": b.ip,
                        "port": b.port,
                        "host": b.host,
                        "ssl_flags": b.ssl_flags,
                        "sni": b.sni,
                        "certificate_hash": b.certificate_hash,
                        "certificate_store": b.certificate_store,
                    }
                    for b in site.bindings
                ],
                "ftp_ssl": (
                    {
                        "certificate_hash": site.ftp_ssl.certificate_hash,
                        "certificate_store": site.ftp_ssl.certificate_store,
                        "control_channel_policy": site.ftp_ssl.control_channel_policy,
                        "data_channel_policy": site.ftp_ssl.data_channel_policy,
                    }
                    if site.ftp_ssl
                    else None
                ),
            }
        )
    http_sys = [
        {
            "kind": e.kind,
            "endpoint": e.endpoint,
            "certificate_hash": e.certificate_hash,
            "certificate_store": e.certificate_store,
            "app_id": e.app_id,
        }
        for e in inventory.http_sys
    ]
    return normalize_sites(raw_sites), http_sys


def device_probe(device: Device, progress: Progress | None = None) -> Outcome:
    """Talk to the device through its endpoint and fill an Outcome. Pure device I/O: no database writes."""
    out = Outcome()
    report = progress or (lambda percent, message="": None)
    gateway = device.gateway
    try:
        endpoint = device_endpoint(device)
    except (GatewayUnsupported, CredentialUnavailable) as exc:
        return out.fail(StatusLogStep.COMMUNICATION, DeviceStatus.FAILED, f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    report(10, f"resolving {device.hostname}")
    problem = _resolves(device.hostname, endpoint.effective_port)
    if problem is not None:
        detail = f"The name {device.hostname!r} does not resolve from gateway {gateway.name!r} ({problem})."
        return out.fail(StatusLogStep.COMMUNICATION, DeviceStatus.UNRESOLVED, detail)
    report(20, f"connecting to {device.hostname}:{endpoint.effective_port}")
    from devices.iis.session import IISSession

    session = IISSession(endpoint)
    try:
        try:
            session.open()
        except DeviceError as exc:
            step = StatusLogStep.COMMUNICATION
            return out.fail(step, status_for_error(exc, step=step), _error_text(exc, device))
        out.record(
            StatusLogStep.COMMUNICATION,
            StepOutcome.OK,
            f"Connected to {device.hostname}:{endpoint.effective_port} over {endpoint.scheme.upper()} "
            f"({device.get_winrm_auth_display()}) as {endpoint.username} through gateway {gateway.name!r}.",
        )
        report(40, "reading host facts")
        try:
            facts = operations.host_facts(session)
        except DeviceError as exc:
            step = StatusLogStep.VERSION
            return out.fail(step, status_for_error(exc, step=step), _error_text(exc, device))
        out.facts = facts
        out.record(StatusLogStep.VERSION, StepOutcome.OK, _describe_facts(facts))
        report(60, "fetching sites and bindings")
        try:
            inventory = operations.list_sites(session)
        except DeviceError as exc:
            step = StatusLogStep.INSTANCE
            return out.fail(step, status_for_error(exc, step=step), _error_text(exc, device))
        out.sites, out.http_sys = _site_dicts(inventory)
        out.record(StatusLogStep.INSTANCE, StepOutcome.OK, _describe_sites(out.sites, out.http_sys))
        if device.cert_sync == CertSync.IGNORED:
            out.record(StatusLogStep.DISCOVERY, StepOutcome.SKIPPED, "Cert Sync is Ignored: configuration fetch only.")
        else:
            report(80, "probing certificate discovery")
            try:
                detail = _probe_discovery(device, session)
            except (DeviceError, CredentialUnavailable) as exc:
                step = StatusLogStep.DISCOVERY
                return out.fail(step, status_for_error(exc, step=step), _error_text(exc, device))
            out.record(StatusLogStep.DISCOVERY, StepOutcome.OK, detail)
    finally:
        session.close()
    out.status = SUCCESS_STATUS[CertSync(device.cert_sync)]
    out.reason = ""
    return out


def _probe_discovery(device: Device, session: Any) -> str:
    """Can certificates be discovered? Count them in the stores and (when set) the folder or share, without bytes."""
    certificates = operations.list_store_certificates(session, stores=("My", "WebHosting"), include_der=False)
    stores = {c.store for c in certificates}
    detail = f"{len(certificates)} certificate(s) readable in LocalMachine\\My and WebHosting"
    if stores:
        detail += f" ({', '.join(sorted(stores))})"
    if device.file_system_path:
        credential = device_folder_credential(device)
        files = operations.list_files(
            session,
            device.file_system_path,
            credential=credential,
            patterns=("*.pfx", "*.p12"),
            max_file_bytes=0,  # a probe: names and sizes only; discovery reads the bytes
        )
        kind = "share" if device.file_system_is_share else "folder"
        detail += f"; {len(files)} PFX/P12 file(s) in the {kind} {device.file_system_path}"
    return detail + "."


def _worker_name() -> str:
    from celery import current_task

    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", "") or socket.gethostname())[:200]


def device_validation_start(*, validation_id: int) -> DeviceValidation | None:
    """queued -> running (a redelivered running validation restarts). None when finished already or gone."""
    updated = DeviceValidation.objects.filter(
        pk=validation_id, state__in=[ValidationState.QUEUED, ValidationState.RUNNING]
    ).update(state=ValidationState.RUNNING, started_at=timezone.now(), worker=_worker_name())
    if not updated:
        return None
    return DeviceValidation.objects.select_related("device").get(pk=validation_id)


@transaction.atomic
def device_validation_finish(*, validation: DeviceValidation, outcome: Outcome) -> bool:
    """running -> finished, and the device's status, reason, facts and configuration from the outcome -- unless a
    later validation has already been applied to the device (then only the validation row is finished)."""
    now = timezone.now()
    finished = DeviceValidation.objects.filter(pk=validation.pk, state=ValidationState.RUNNING).update(
        state=ValidationState.FINISHED, status=outcome.status, reason=outcome.reason, log=outcome.log, finished_at=now
    )
    if not finished:
        return False
    changes: dict[str, Any] = {
        "status": outcome.status,
        "status_reason": outcome.reason,
        "validated_at": now,
        "last_validation_id": validation.pk,
    }
    if outcome.facts is not None:
        facts = outcome.facts
        changes.update(
            os_build=facts.build,
            os_caption=facts.os_caption[:200],
            os_version=facts.os_version[:50],
            iis_version=(facts.iis_version or "")[:50],
            powershell_version=facts.powershell_version[:50],
            reported_hostname=(facts.fqdn or facts.hostname)[:255],
            facts={
                "hostname": facts.hostname,
                "fqdn": facts.fqdn,
                "domain": facts.domain,
                "ccs_installed": facts.ccs_installed,
                "stores": list(facts.stores),
                "ssl_flags_mask": facts.ssl_flags_mask,
                "pfx_aes256_supported": facts.pfx_aes256_supported,
                "addresses": list(facts.addresses),
                "ipv6_addresses": list(facts.ipv6_addresses),
            },
        )
    if outcome.sites is not None:
        changes.update(sites=outcome.sites, http_sys=outcome.http_sys or [], config_fetched_at=now)
    newest = Q(last_validation__isnull=True) | Q(last_validation_id__lt=validation.pk)
    applied = Device.objects.filter(pk=validation.device_id).filter(newest).update(**changes)
    reason = f" ({outcome.reason})" if outcome.reason else ""
    audit_record(
        actor=None,
        action="device.validated",
        summary=f"Validation of {validation.device.name!r}: {outcome.status}{reason}",
        object_type="devices.device",
        object_id=validation.device_id,
    )
    return bool(applied)


def device_validation_run(*, validation_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """The body of the validation job: start, probe the device (outside any transaction), finish."""
    validation = device_validation_start(validation_id=validation_id)
    if validation is None:
        return {"validation": validation_id, "skipped": True}
    device = (
        Device.objects.select_related("gateway", "credential", "folder_credential")
        .filter(pk=validation.device_id)
        .first()
    )
    if device is None:
        return {"validation": validation_id, "skipped": True}
    try:
        outcome = device_probe(device, progress)
    except Exception as exc:
        # A bug must not leave the device "validating" for ever: record it as a failure with its type.
        logger.exception("validation %s of device %s crashed", validation_id, device.pk)
        outcome = Outcome().fail(
            StatusLogStep.COMMUNICATION, DeviceStatus.FAILED, f"internal error ({type(exc).__name__})"
        )
    device_validation_finish(validation=validation, outcome=outcome)
    logger.info("validated device %s (%s): %s %s", device.pk, device.name, outcome.status, outcome.reason)
    return {
        "device": device.pk,
        "validation": validation_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "worker": validation.worker,
        "queue": validation.queue,
    }


@job_kind(JOB_KIND, queue="devices")
def _validate_job(job: Job, progress: Progress) -> dict[str, Any]:
    return device_validation_run(validation_id=int(job.params["validation"]), progress=progress)
