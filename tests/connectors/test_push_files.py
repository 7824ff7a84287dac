"""Rolling back a centralized-file-system push: a file the push created is deleted (the folder goes back to having
none), a file it replaced is put back, and a created file somebody changed since is left alone. The demo lab over
real WinRM, with the executor run in this process (test_push_lab.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.choices import PushStep
from connectors.models import AppConnector, PushDevice
from devices.iis import operations
from devices.models import Device
from devices.sessions import device_session
from iissim.lab import Lab
from tests.connectors.helpers import (
    approve_and_implement,
    connector_for,
    execute,
    make_certificate,
    onboard,
    push_through,
)

FOLDER = "C:\\certs\\incoming"
PATH = f"{FOLDER}\\files.lab.test.pfx"


def _files(device: Device) -> dict[str, str | None]:
    """name -> sha256 of what the folder holds, read over WinRM."""
    with device_session(device) as session:
        return {f.name: f.sha256 for f in operations.list_files(session, FOLDER, recurse=False)}


def _file_connector(device: Device, people: dict[str, Any], **fields: Any) -> AppConnector:
    return connector_for(
        make_certificate("files.lab.test"),
        people["requester"],
        [device],
        push_type="push",
        location_type="file_system",
        file_path=FOLDER,
        file_password="Ccs-Pass-2026!",
        **fields,
    )


def _write(device: Device, content: bytes) -> None:
    with device_session(device) as session:
        operations.write_file(session, PATH, content, keep_previous=False)


FAILING_POST_SCRIPT = {
    "script_location": "device",
    "post_script_name": "failing.ps1",
    "post_script_path": "C:\\scripts",
    "post_script_failure": "rollback",
}


def test_a_failed_push_that_created_the_file_deletes_it_when_rolling_back(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    device = onboard(lab, "IIS2022")["IIS2022"]
    _write(device, b"placeholder")  # the folder exists; the file under test does not
    with device_session(device) as session:
        assert operations.remove_file(session, PATH).removed
    before = _files(device)
    connector = _file_connector(device, people, **FAILING_POST_SCRIPT)

    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])

    row = rows[0]
    assert order.state == "failed" and row.step == PushStep.ROLLED_BACK, (order.error, row.error)
    assert row.snapshot["file"]["replaced"] is False and row.snapshot["file"]["previous_path"] is None
    assert row.operations[-1] == "remove_file"
    assert row.result["restore"] == {"file_removed": True, "reason": None}
    assert _files(device) == before and "files.lab.test.pfx" not in before


def test_a_failed_push_that_replaced_the_file_puts_the_old_one_back(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    device = onboard(lab, "IIS2022")["IIS2022"]
    _write(device, b"the old pfx")
    connector = _file_connector(device, people, overwrite=True, **FAILING_POST_SCRIPT)

    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])

    assert order.state == "failed" and rows[0].step == PushStep.ROLLED_BACK, rows[0].error
    assert "remove_file" not in rows[0].operations
    assert _files(device)["files.lab.test.pfx"] == hashlib.sha256(b"the old pfx").hexdigest()


def _rollback(connector: AppConnector, people: dict[str, Any]) -> PushDevice:
    from connectors.services import rollback_request

    (order,) = rollback_request(connector=connector, user=people["requester"])
    approve_and_implement(order, people["approvers"], people["implementer"])
    execute(order)
    return PushDevice.objects.get(work_order=order)


def test_a_rollback_order_deletes_the_file_its_push_created(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    device = onboard(lab, "IIS2022")["IIS2022"]
    connector = _file_connector(device, people)
    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])
    assert order.state == "completed", order.error
    assert _files(device)["files.lab.test.pfx"] == rows[0].snapshot["file"]["sha256"]

    row = _rollback(connector, people)

    assert row.step == PushStep.ROLLED_BACK, row.error
    assert row.operations == ["remove_file"]
    assert "files.lab.test.pfx" not in _files(device)


def test_a_rollback_leaves_a_created_file_that_someone_changed_since(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    device = onboard(lab, "IIS2022")["IIS2022"]
    connector = _file_connector(device, people)
    order, _ = push_through(connector, people["requester"], people["approvers"], people["implementer"])
    assert order.state == "completed", order.error
    _write(device, b"an administrator's own file")

    row = _rollback(connector, people)

    assert row.step == PushStep.ROLLBACK_FAILED and "changed since the push; it was left in place" in row.error
    assert row.result["restore"] == {"file_removed": False, "reason": "changed"}
    assert _files(device)["files.lab.test.pfx"] == hashlib.sha256(b"an administrator's own file").hexdigest()
