"""The executors of push and rollback work orders: put the certificate on each device in one `push_and_bind`
operation, prove over TLS that every affected endpoint serves it, and restore the snapshot when one does not.

Per device, every step is written to its PushDevice row before and after the device operation (connectors.choices.
PushStep), so a run that resumes after a lost worker carries on from where the last one stopped: a push whose
result never came back (step `pushing`) is reconciled with what the host has instead of being sent again.

Secrets: the PFX is built in the worker from the portal's encrypted key with a fresh random password (secure push)
and handed straight to the WinRM session (encrypted channel); neither is stored, logged or put in a message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.utils import timezone

from certificates.exports import chain_certificates, portal_key
from certificates.pkcs12 import build_pfx, encryption_for_build, load_private_key, random_pfx_password
from clm.audit import audit_record
from clm.celery import gateway_queue
from clm.logging import register_secret
from connectors.choices import FINISHED_STEPS, LocationType, PushStep, ScriptLocation
from connectors.endpoints import CheckResult, check_endpoints
from connectors.models import AppConnector, PushDevice
from connectors.plans import (
    binding_applied,
    binding_target,
    expectations_after_push,
    expectations_after_restore,
    previous_certificates,
    snapshot_from_preview,
)
from connectors.preview import file_target_path
from connectors.settings_services import general_settings_get
from devices.iis import operations
from devices.iis.errors import DeviceError, OperationFailed
from devices.sessions import CredentialUnavailable, GatewayUnsupported, device_folder_credential, device_session
from workorders.choices import WorkOrderAction
from workorders.executors import ExecutionError, TransientExecutionError, current_execution, executor
from workorders.models import WorkOrder

logger = logging.getLogger(__name__)

SCRIPT_FOLDER = "C:\\Windows\\Temp\\thumbprint"
VERIFICATION_FAILED = "verification failed; rolled back"


def order_queue(order: WorkOrder) -> str:
    """Push and rollback run on the queue of the gateway behind the order's servers."""
    from devices.models import Gateway

    gateway = Gateway.objects.filter(pk=int((order.params or {}).get("gateway") or 0)).first()
    if gateway is None:
        return gateway_queue(None)
    return gateway.queue


class DeviceTransient(Exception):
    """The device did not answer (unreachable, timeout): the step may be tried again later."""


class _Runner:
    """The session, counting the operations a device push runs (the benchmark prints them)."""

    def __init__(self, session: Any, row: PushDevice) -> None:
        self.session = session
        self.row = row

    def run(self, op: str, params: dict[str, Any], script: str) -> Any:
        self.row.operations = [*self.row.operations, op]
        return self.session.run(op, params, script)


def _save(row: PushDevice, **fields: Any) -> None:
    """Write progress now (autocommit): the next run reads it if this one dies."""
    for name, value in fields.items():
        setattr(row, name, value)
    fields.setdefault("operations", row.operations)
    PushDevice.objects.filter(pk=row.pk).update(**fields, updated_at=timezone.now())


# --- the material pushed ------------------------------------------------------------------------------------------


def _pfx(connector: AppConnector, build: int | None, password: str) -> bytes:
    certificate = connector.certificate
    key = portal_key(certificate)
    if key is None:
        raise ExecutionError("The portal does not hold this certificate's private key any more.")
    configured = general_settings_get().pkcs12_encryption
    chain = chain_certificates(certificate) if connector.push_chain else []
    return build_pfx(
        key=load_private_key(cast(bytes, key.pkcs8)),
        certificate=x509.load_der_x509_certificate(bytes(certificate.der)),
        chain=chain,
        password=password,
        algorithm=encryption_for_build(build, configured),
        friendly_name=connector.friendly_name or certificate.common_name,
    )


def _chain_der(connector: AppConnector) -> list[bytes]:
    """The issuer chain the portal knows for the certificate (built-in CA enrollment, or the chain that came with a
    PFX), public certificates only, when the connector pushes root and intermediate certificates."""
    if not connector.push_chain:
        return []
    return [c.public_bytes(Encoding.DER) for c in chain_certificates(connector.certificate)]


# --- one device -----------------------------------------------------------------------------------------------------


class DevicePush:
    """Carries one PushDevice row from wherever it stands to a finished step."""

    def __init__(self, order: WorkOrder, connector: AppConnector, row: PushDevice) -> None:
        self.order = order
        self.connector = connector
        self.row = row
        self.device = row.device
        self.runner: _Runner | None = None

    @contextmanager
    def session(self) -> Iterator[_Runner]:
        try:
            with device_session(self.device) as session:
                self.runner = _Runner(session, self.row)
                try:
                    yield self.runner
                finally:
                    _save(self.row, round_trips=self.row.round_trips + session.round_trips)
        except (CredentialUnavailable, GatewayUnsupported) as exc:
            raise ExecutionError(f"{self.device.name}: {exc}") from exc
        except OperationFailed:
            raise
        except DeviceError as exc:
            if exc.retryable:
                raise DeviceTransient(f"{self.device.name}: {exc.message}") from exc
            raise ExecutionError(f"{self.device.name}: {exc.message}") from exc

    def run(self) -> None:
        if self.row.started_at is None:
            _save(self.row, started_at=timezone.now())
        with self.session() as runner:
            while self.row.step not in FINISHED_STEPS:
                try:
                    self.advance(runner)
                except OperationFailed as exc:
                    self._operation_failed(exc)

    def _operation_failed(self, exc: OperationFailed) -> None:
        """An operation outside the ones each step judges failed (a listing, a check): where that leaves the host
        depends on the step."""
        what = f"{exc.op or 'operation'} failed: {exc.message} ({exc.code})"
        step = self.row.step
        if step in (PushStep.READY, PushStep.PRE_SCRIPT_DONE):
            _save(self.row, step=PushStep.FAILED, error=f"{what}; nothing was changed.", finished_at=timezone.now())
        elif step in (PushStep.PUSHED, PushStep.VERIFIED, PushStep.POST_SCRIPT_DONE):
            _save(self.row, step=PushStep.ROLLING_BACK, error=f"{what}; rolling back.")
        else:
            error = f"{self.row.error} {what} at step {step}; check the host.".strip()
            _save(self.row, step=PushStep.ROLLBACK_FAILED, error=error, finished_at=timezone.now())

    def advance(self, runner: _Runner) -> None:
        step = self.row.step
        if step == PushStep.READY:
            self.pre_script(runner)
        elif step == PushStep.PRE_SCRIPT_DONE:
            self.push(runner)
        elif step == PushStep.PUSHING:
            self.reconcile(runner)
        elif step == PushStep.PUSHED:
            self.verify(runner)
        elif step == PushStep.VERIFIED:
            self.post_script(runner)
        elif step == PushStep.POST_SCRIPT_DONE:
            _save(self.row, step=PushStep.COMPLETED, finished_at=timezone.now())
        elif step == PushStep.ROLLING_BACK:
            self.restore(runner)
        else:
            raise ExecutionError(f"{self.device.name}: cannot continue from step {step!r}.")

    # -- scripts -------------------------------------------------------------------------------------------------

    def _script(self, runner: _Runner, phase: str) -> str | None:
        """Run the pre or post script; None when it succeeded (or there is none), else why it failed."""
        c = self.connector
        name = getattr(c, f"{phase}_script_name").strip()
        if c.script_location == ScriptLocation.NONE or not name:
            return None
        try:
            if c.script_location == ScriptLocation.PORTAL:
                path = f"{SCRIPT_FOLDER}\\{self.order.work_order_id}-{phase}-{name}"
                operations.write_file(runner, path, getattr(c, f"{phase}_script_text").encode("utf-8"))
            else:
                path = f"{getattr(c, f'{phase}_script_path').rstrip(chr(92))}\\{name}"
            run = operations.run_script(runner, path, arguments=[self.order.work_order_id or "", self.row.thumbprint])
        except OperationFailed as exc:
            return exc.message
        self.row.result = {**self.row.result, f"{phase}_script": {"path": path, "output": run.output[-2000:]}}
        return None

    def pre_script(self, runner: _Runner) -> None:
        failure = self._script(runner, "pre")
        if failure is not None:
            _save(
                self.row,
                step=PushStep.FAILED,
                error=f"Pre-push script failed; nothing was changed: {failure}",
                finished_at=timezone.now(),
            )
            return
        _save(self.row, step=PushStep.PRE_SCRIPT_DONE, result=self.row.result)

    def post_script(self, runner: _Runner) -> None:
        failure = self._script(runner, "post")
        if failure is None:
            _save(self.row, step=PushStep.POST_SCRIPT_DONE, result=self.row.result)
        elif self.connector.post_script_failure == "warn":
            _save(
                self.row,
                step=PushStep.POST_SCRIPT_DONE,
                warnings=[*self.row.warnings, f"Post-push script failed (push kept): {failure}"],
            )
        else:
            _save(self.row, step=PushStep.ROLLING_BACK, error=f"Post-push script failed; rolled back: {failure}")

    # -- push ----------------------------------------------------------------------------------------------------

    def push(self, runner: _Runner) -> None:
        password = random_pfx_password()
        register_secret(password)
        file_push = self.connector.location_type == LocationType.FILE_SYSTEM
        if file_push:
            password = self.connector.file_password or ""
            register_secret(password)
        pfx = _pfx(self.connector, self.device.os_build or self.row.preview.get("os_build"), password)
        audit_record(
            actor=None,
            action="certificate.private_key_push",
            summary=f"{self.order.work_order_id}: private key of {self.connector.certificate} sent to "
            f"{self.device.name} ({'file' if file_push else 'store'})",
            obj=self.connector.certificate,
            tracking_id=self.order.tracking_id or None,
        )
        # Written before the operation: a run that finds `pushing` knows the host may have it, and checks.
        _save(
            self.row, step=PushStep.PUSHING, result={**self.row.result, "pfx_sha256": hashlib.sha256(pfx).hexdigest()}
        )
        if file_push:
            self._write_file(runner, pfx)
            return
        try:
            result = operations.push_and_bind(
                runner,
                pfx,
                password,
                store="WebHosting" if self.connector.store == "web_hosting" else "My",
                bindings=[binding_target(p) for p in self.row.preview.get("plan") or []],
                friendly_name=self.connector.friendly_name or None,
                expected_thumbprint=self.row.thumbprint,
                chain=_chain_der(self.connector),
            )
        except OperationFailed as exc:
            # The host undoes a failed push_and_bind itself (one transaction): nothing changed.
            _save(
                self.row,
                step=PushStep.FAILED,
                error=f"{self.device.name}: {exc.message} (push_and_bind failed at step {exc.step}: {exc.code}); "
                "the host kept its previous configuration.",
                result={**self.row.result, "failure": exc.as_dict()},
                finished_at=timezone.now(),
            )
            return
        summary = {
            **self.row.result,
            "thumbprint": result.thumbprint,
            "store": result.store,
            "imported": result.imported,
            "has_private_key": result.has_private_key,
            "chain_added": [c.as_dict() for c in result.chain_added],
            "bindings": [
                {
                    "site": b.site,
                    "action": b.action,
                    "binding_information": b.binding.binding_information if b.binding else "",
                    "ssl_flags": b.binding.ssl_flags if b.binding else 0,
                    "shared_with": [{"site": s, "binding_information": i} for s, i in b.shared_with],
                }
                for b in result.bindings
            ],
            "sites_stopped": list(result.sites_stopped),
        }
        _save(self.row, step=PushStep.PUSHED, snapshot=result.snapshot, snapshot_source="host", result=summary)

    def _write_file(self, runner: _Runner, pfx: bytes) -> None:
        path = file_target_path(self.connector)
        credential = device_folder_credential(self.device) if path.startswith("\\\\") else None
        try:
            written = operations.write_file(runner, path, pfx, credential=credential, keep_previous=True)
        except OperationFailed as exc:
            _save(
                self.row, step=PushStep.FAILED, error=f"{self.device.name}: {exc.message}", finished_at=timezone.now()
            )
            return
        snapshot = {
            "file": {
                "path": path,
                "previous_path": written.previous_path,
                "replaced": written.replaced,
                "sha256": written.sha256,
            }
        }
        result = {**self.row.result, "file": {"path": path, "sha256": written.sha256, "size": written.size}}
        _save(self.row, step=PushStep.PUSHED, snapshot=snapshot, snapshot_source="host", result=result)

    def reconcile(self, runner: _Runner) -> None:
        """The last run sent the push and never heard back: see whether the host has it. Applied -> carry on with
        the snapshot rebuilt from the preview; not applied (the operation never ran or the host undid it) -> push
        again. Either way no second binding appears: create_binding would meet its own binding otherwise."""
        warning = "The worker was lost during the push; the outcome was read back from the host."
        if self.connector.location_type == LocationType.FILE_SYSTEM:
            path = file_target_path(self.connector)
            folder, _, name = path.rpartition("\\")
            credential = device_folder_credential(self.device) if path.startswith("\\\\") else None
            files = operations.list_files(runner, folder, credential=credential, patterns=(name,), recurse=False)
            mine = self.row.result.get("pfx_sha256")
            if any(f.name.lower() == name.lower() and f.sha256 == mine for f in files):
                previous = f"{path}.previous" if any(f.name.lower() == f"{name}.previous" for f in files) else None
                snapshot = {
                    "file": {"path": path, "previous_path": previous, "replaced": previous is not None, "sha256": mine}
                }
                _save(
                    self.row, step=PushStep.PUSHED, snapshot=snapshot, snapshot_source="reconciled", warnings=[warning]
                )
            else:
                _save(self.row, step=PushStep.PRE_SCRIPT_DONE)
            return
        plan = self.row.preview.get("plan") or []
        thumb = self.row.thumbprint
        if plan:
            sites = operations.list_sites(runner)
            applied = [binding_applied(sites, item, thumb) for item in plan]
            done = any(applied)
        else:
            found = operations.list_store_certificates(
                runner, stores=(self.connector.store_name,), include_der=False, thumbprint=thumb
            )
            done = bool(found)
        if not done:
            _save(self.row, step=PushStep.PRE_SCRIPT_DONE)
            return
        _save(
            self.row,
            step=PushStep.PUSHED,
            snapshot=snapshot_from_preview(self.row, self.connector.store_name),
            snapshot_source="preview",
            warnings=[*self.row.warnings, warning],
        )

    # -- verification --------------------------------------------------------------------------------------------

    def verify(self, runner: _Runner) -> None:
        if self.connector.location_type == LocationType.FILE_SYSTEM:
            ok = (self.row.result.get("file") or {}).get("sha256") in (None, self.row.result.get("pfx_sha256"))
            if ok:
                _save(self.row, step=PushStep.VERIFIED)
            else:
                _save(self.row, step=PushStep.ROLLING_BACK, error="The file written differs from the file sent.")
            return
        expectations = expectations_after_push(self.row, self.device.hostname)
        results = check_endpoints(expectations, session=runner) if expectations else []
        evidence = [{"phase": "push", **r.as_dict()} for r in results]
        self._record_checks(results, "push")
        stopped = self.row.result.get("sites_stopped") or []
        failed = [r for r in results if not r.ok]
        if not failed and not stopped:
            _save(self.row, step=PushStep.VERIFIED, evidence=[*self.row.evidence, *evidence])
            return
        reasons = [f"{r.expectation.address}:{r.expectation.port} {r.expectation.sni_name}: {r.error}" for r in failed]
        reasons += [f"site {s} stopped by the change" for s in stopped]
        _save(
            self.row,
            step=PushStep.ROLLING_BACK,
            evidence=[*self.row.evidence, *evidence],
            error=f"{self.device.name}: {VERIFICATION_FAILED}: " + "; ".join(reasons),
        )

    def _record_checks(self, results: list[CheckResult], source: str) -> None:
        from connectors.validation import checks_record

        checks_record(
            connector=self.connector, device=self.device, work_order=self.order, results=results, source=source
        )

    # -- restore -------------------------------------------------------------------------------------------------

    def restore(self, runner: _Runner) -> None:
        snapshot = self.row.snapshot or {}
        if "file" in snapshot:
            self._restore_file(runner, snapshot["file"])
            return
        try:
            restored = operations.restore(runner, snapshot, remove_certificate=True)
        except OperationFailed as exc:
            _save(
                self.row,
                step=PushStep.ROLLBACK_FAILED,
                error=f"{self.row.error} Restore failed: {exc.message} ({exc.code}); check the host.".strip(),
                finished_at=timezone.now(),
            )
            return
        expectations = expectations_after_restore(self.row, self.device.hostname)
        results = check_endpoints(expectations, session=runner) if expectations else []
        evidence = [{"phase": "restore", **r.as_dict()} for r in results]
        self._record_checks(results, "rollback")
        failed = [r for r in results if not r.ok]
        step = PushStep.ROLLED_BACK if not failed else PushStep.ROLLBACK_FAILED
        error = self.row.error
        if failed:
            error += " The restore did not verify: " + "; ".join(
                f"{r.expectation.address}:{r.expectation.port} {r.error}" for r in failed
            )
        result = {
            **self.row.result,
            "restore": {
                "certificate_removed": restored.certificate_removed,
                "chain_removed": [c.as_dict() for c in restored.chain_removed],
                "chain_kept": [{**c.as_dict(), "reason": why} for c, why in restored.chain_kept],
            },
        }
        _save(
            self.row,
            step=step,
            evidence=[*self.row.evidence, *evidence],
            error=error,
            result=result,
            finished_at=timezone.now(),
        )

    def _restore_file(self, runner: _Runner, info: dict[str, Any]) -> None:
        path, previous = info.get("path") or "", info.get("previous_path")
        credential = device_folder_credential(self.device) if path.startswith("\\\\") else None
        if not previous and not info.get("replaced"):
            self._remove_created_file(runner, path, info.get("sha256"), credential)
            return
        if not previous:
            _save(
                self.row,
                step=PushStep.ROLLBACK_FAILED,
                error=f"{self.row.error} There was no earlier {path} to put back; the new file stays.".strip(),
                finished_at=timezone.now(),
            )
            return
        folder, _, name = previous.rpartition("\\")
        files = operations.list_files(runner, folder, credential=credential, patterns=(name,), recurse=False)
        content = next((f.content for f in files if f.name.lower() == name.lower()), None)
        if content is None:
            _save(self.row, step=PushStep.ROLLBACK_FAILED, error=f"{previous} is gone.", finished_at=timezone.now())
            return
        operations.write_file(runner, path, content, credential=credential, keep_previous=False)
        _save(self.row, step=PushStep.ROLLED_BACK, finished_at=timezone.now())

    def _remove_created_file(self, runner: _Runner, path: str, sha256: str | None, credential: Any) -> None:
        """The push created the file: the folder as it was has no such file. It is deleted only while it holds the
        bytes this push wrote (the snapshot's digest; a rollback order's row has only the snapshot), so a file
        someone put there since is left alone."""
        mine = sha256 or (self.row.result.get("file") or {}).get("sha256") or self.row.result.get("pfx_sha256")
        outcome = operations.remove_file(runner, path, expected_sha256=mine, credential=credential)
        result = {**self.row.result, "restore": {"file_removed": outcome.removed, "reason": outcome.reason}}
        if outcome.removed or outcome.reason == "not_found":
            _save(self.row, step=PushStep.ROLLED_BACK, result=result, finished_at=timezone.now())
            return
        _save(
            self.row,
            step=PushStep.ROLLBACK_FAILED,
            error=f"{self.row.error} {path} changed since the push; it was left in place.".strip(),
            result=result,
            finished_at=timezone.now(),
        )

    # -- cleanup -------------------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """After a verified push (and, with all or nothing, once every device has it): remove the certificates the
        push took off their bindings, each only if no binding, FTP site or HTTP.sys entry on the host uses it."""
        removed: list[dict[str, Any]] = []
        with self.session() as runner:
            for thumb, store in previous_certificates(self.row):
                try:
                    outcome = operations.remove_certificate_if_unused(runner, thumb, store=store)  # type: ignore[arg-type]
                except OperationFailed as exc:
                    removed.append({"thumbprint": thumb, "store": store, "removed": False, "reason": exc.message})
                    continue
                removed.append(
                    {
                        "thumbprint": thumb,
                        "store": store,
                        "removed": outcome.removed,
                        "reason": outcome.reason,
                        "used_by": list(outcome.used_by),
                    }
                )
        _save(self.row, result={**self.row.result, "previous_removed": removed})


# --- the executors --------------------------------------------------------------------------------------------------


def _run_devices(order: WorkOrder, connector: AppConnector, rows: list[PushDevice]) -> None:
    info = current_execution()
    transient: DeviceTransient | None = None
    for row in rows:
        if row.step in FINISHED_STEPS:
            continue
        try:
            DevicePush(order, connector, row).run()
        except DeviceTransient as exc:
            if not info.final:
                transient = exc
                continue
            _give_up(row, str(exc))
        except ExecutionError as exc:
            _give_up(row, str(exc))
    if transient is not None:
        raise TransientExecutionError(str(transient))


def _give_up(row: PushDevice, reason: str) -> None:
    """The last attempt met a device that does not answer: nothing changed, or (mid-push) nobody knows."""
    if row.step in (PushStep.READY, PushStep.PRE_SCRIPT_DONE):
        _save(row, step=PushStep.FAILED, error=f"{reason}; nothing was changed.", finished_at=timezone.now())
    else:
        _save(
            row,
            step=PushStep.ROLLBACK_FAILED,
            error=f"{row.error} {reason}: the host stopped answering at step {row.step}; check it.".strip(),
            finished_at=timezone.now(),
        )


def _all_or_nothing(order: WorkOrder, connector: AppConnector, rows: list[PushDevice]) -> None:
    """One device failed: put every device that took the change back as it was."""
    for row in rows:
        if row.step != PushStep.COMPLETED:
            continue
        _save(
            row, step=PushStep.ROLLING_BACK, error="Rolled back: another server of this push failed (all or nothing)."
        )
        try:
            DevicePush(order, connector, row).run()
        except (DeviceTransient, ExecutionError) as exc:
            _give_up(row, str(exc))


def _cleanup(order: WorkOrder, connector: AppConnector, rows: list[PushDevice]) -> None:
    """Remove the replaced certificates where the push completed and nothing was removed yet (a resumed run does
    not remove twice). Cleanup is best effort: a host that does not answer keeps its old certificate."""
    for row in rows:
        if row.step != PushStep.COMPLETED or "previous_removed" in row.result:
            continue
        try:
            DevicePush(order, connector, row).cleanup()
        except (DeviceTransient, ExecutionError) as exc:
            _save(row, warnings=[*row.warnings, f"Previous certificate not removed: {exc}"])


def _summary(order: WorkOrder, rows: list[PushDevice]) -> dict[str, Any]:
    return {
        "connector": order.target_id,
        "thumbprint": rows[0].thumbprint if rows else "",
        "devices": [
            {
                "device": r.device_id,
                "name": r.device.name,
                "step": r.step,
                "ok": r.step == PushStep.COMPLETED,
                "error": r.error,
                "warnings": r.warnings,
                "operations": r.operations,
                "round_trips": r.round_trips,
                "evidence": r.evidence,
            }
            for r in rows
        ],
    }


def _failure_message(rows: list[PushDevice]) -> str:
    failed = [r for r in rows if r.step != PushStep.COMPLETED]
    verification = any(VERIFICATION_FAILED in r.error for r in failed)
    head = VERIFICATION_FAILED if verification else "push failed"
    details = "; ".join(f"{r.device.name}: {r.get_step_display()}: {r.error}" for r in failed)
    return f"{head} -- {details}"


def _rows(order: WorkOrder) -> list[PushDevice]:
    return list(
        PushDevice.objects.filter(work_order=order)
        .select_related(
            "device__gateway", "device__credential", "device__folder_credential", "work_order", "undoes__work_order"
        )
        .order_by("device__name")
    )


@executor(WorkOrderAction.PUSH, queue=order_queue)
def push(order: WorkOrder) -> dict[str, Any]:
    """Push the connector's certificate to every device of the order, verify over TLS, roll back what is wrong."""
    from connectors.sync import connector_after_push

    connector = AppConnector.objects.select_related("certificate").get(pk=int(order.target_id or 0))
    rows = _rows(order)
    refused = [r for r in rows if r.step in (PushStep.PREVIEW, PushStep.REFUSED)]
    if refused:
        raise ExecutionError("The preview of this push has not passed on every server; push again.")
    _run_devices(order, connector, rows)
    rows = _rows(order)
    if connector.all_or_nothing and any(r.step != PushStep.COMPLETED for r in rows):
        _all_or_nothing(order, connector, rows)
        rows = _rows(order)
    if connector.remove_previous and connector.location_type == LocationType.CERTIFICATE_STORE:
        _cleanup(order, connector, rows)
        rows = _rows(order)
    summary = _summary(order, rows)
    connector_after_push(connector=connector, order=order, rows=rows)
    if any(r.step != PushStep.COMPLETED for r in rows):
        WorkOrder.objects.filter(pk=order.pk).update(result=summary)
        raise ExecutionError(_failure_message(rows))
    return summary


@executor(WorkOrderAction.ROLLBACK, queue=order_queue)
def rollback(order: WorkOrder) -> dict[str, Any]:
    """Restore each device from the snapshot of the push it undoes, and verify the restore over TLS."""
    from connectors.sync import connector_after_rollback

    connector = AppConnector.objects.select_related("certificate").get(pk=int(order.target_id or 0))
    rows = _rows(order)
    for row in rows:
        if row.step == PushStep.READY:
            undone = row.undoes.work_order.work_order_id if row.undoes is not None else "the last push"
            _save(row, step=PushStep.ROLLING_BACK, result={**row.result, "undoes": undone})
    _run_devices(order, connector, rows)
    rows = _rows(order)
    connector_after_rollback(connector=connector, order=order, rows=rows)
    summary = _summary(order, rows)
    if any(r.step != PushStep.ROLLED_BACK for r in rows):
        WorkOrder.objects.filter(pk=order.pk).update(result=summary)
        raise ExecutionError(
            "rollback failed -- " + "; ".join(f"{r.device.name}: {r.error}" for r in rows if r.step != "rolled_back")
        )
    return summary
