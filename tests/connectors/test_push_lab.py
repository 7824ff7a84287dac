"""Push, verify and roll back against the demo lab over real WinRM and real TLS, with the executor run in this
process as a worker runs it (the integration tests in test_acceptance.py run the same through real workers).

The seam: Celery is not involved here (the preview and the executor are called directly); everything else is
real -- the simulator's WinRM endpoint, its IIS model and its TLS listeners, and the portal's own handshakes.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.choices import PushStep, SyncStatus
from connectors.models import AppConnector, ConnectorEndpoint, EndpointCheck, PushDevice
from connectors.validation import report_data
from iissim.lab import Lab
from tests.connectors.helpers import (
    address,
    connector_for,
    control,
    execute,
    https_bindings,
    journal,
    make_certificate,
    onboard,
    push_through,
    request_and_preview,
    served_thumbprint,
)

SHOP = "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)"


def _push(connector: AppConnector, people: dict[str, Any]) -> tuple[Any, list[PushDevice]]:
    return push_through(connector, people["requester"], people["approvers"], people["implementer"])


def test_update_certificate_only_on_an_sni_binding_changes_that_host_and_not_its_neighbour(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    blog_before = served_thumbprint(ip, 443, "blog.lab.test")
    certificate = make_certificate("shop.lab.test", sans=["shop.lab.test", "www.shop.lab.test"])
    connector = connector_for(
        certificate, people["requester"], [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP]
    )
    order, rows = _push(connector, people)

    assert order.state == "completed", (order.error, [r.error for r in rows])
    row = rows[0]
    assert row.step == PushStep.COMPLETED
    assert served_thumbprint(ip, 443, "shop.lab.test") == certificate.thumbprint
    assert served_thumbprint(ip, 443, "blog.lab.test") == blog_before
    # One device operation for the push itself, then the portal's own handshakes.
    assert row.operations == ["push_and_bind"]
    assert [e["served_thumbprint"] for e in row.evidence] == [certificate.thumbprint]
    assert row.evidence[0]["host"] == "shop.lab.test" and row.evidence[0]["ok"]
    # The binding kept its flags and there is still exactly one.
    shop = https_bindings(lab, "IIS2019", "Shop")
    assert len(shop) == 1 and shop[0]["ssl_flags"] == 1 and shop[0]["certificate_hash"] == certificate.thumbprint
    connector.refresh_from_db()
    assert connector.sync_status == SyncStatus.IN_SYNC
    assert connector.last_push["ok"] and connector.last_push["work_order"] == order.pk
    assert ConnectorEndpoint.objects.filter(connector=connector, active=True, host="shop.lab.test").count() == 1
    assert report_data(days=1)["succeeded"] == 1


def test_the_preview_shows_the_change_the_algorithm_and_the_certificates_before_approval(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2016")
    certificate = make_certificate("www.legacy.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="update_certificate",
        profiles=["MS IIS::Default Web Site::*:443:CS"],
        push_chain=True,
    )
    order = request_and_preview(connector, people["requester"])

    assert order.state == "submitted"
    row = PushDevice.objects.get(work_order=order)
    preview = row.preview
    assert row.step == PushStep.READY and not row.refusals
    assert preview["pfx_algorithm"] == "tripledes_sha1"  # build 14393
    assert [c["role"] for c in preview["certificates"]] == ["certificate", "root"]
    (change,) = preview["changes"]
    assert change["before"]["binding_information"] == "*:443:"
    assert change["before"]["certificate_hash"] == served_thumbprint(address(lab, "IIS2016"), 443)
    assert preview["plan"] == [
        {"action": "update_certificate", "site": "Default Web Site", "binding_information": "*:443:"}
    ]
    # No push yet: the preview only read the host.
    assert journal(lab, "IIS2016", "push_and_bind") == []


def test_the_preview_lists_the_sites_that_share_a_non_sni_ip_port(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    devices = onboard(lab, "IIS2016")
    certificate = make_certificate("new.legacy.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="create_binding",
        new_bindings=[_new(site="Legacy Portal", host="new.legacy.lab.test", sni=False)],
    )
    order = request_and_preview(connector, people["requester"])

    row = PushDevice.objects.get(work_order=order)
    (change,) = row.preview["changes"]
    assert change["action"] == "create_binding"
    assert change["after"]["binding_information"] == "*:443:new.legacy.lab.test"
    assert {(s["site"], s["binding_information"]) for s in change["shared_with"]} == {("Default Web Site", "*:443:")}


def test_the_preview_refuses_sni_on_a_binding_without_a_host_and_cancels_the_order(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2016")
    certificate = make_certificate("www.legacy.lab.test")
    from connectors.rules import BindingChanges

    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="update_binding",
        profiles=["MS IIS::Default Web Site::*:443:CS"],
        changes=BindingChanges(sni=True),
    )
    order = request_and_preview(connector, people["requester"])

    assert order.state == "cancelled"
    row = PushDevice.objects.get(work_order=order)
    assert row.step == PushStep.REFUSED
    assert any("SNI needs a host name" in r for r in row.refusals)
    assert "SNI needs a host name" in order.error
    assert journal(lab, "IIS2016", "push_and_bind") == []


def test_the_preview_refuses_a_duplicate_binding_and_an_ssl_flag_the_build_lacks(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2016")
    from connectors.rules import BindingChanges

    duplicate = connector_for(
        make_certificate("portal.lab.test"),
        people["requester"],
        [devices["IIS2016"]],
        bind_type="create_binding",
        new_bindings=[_new(site="Default Web Site", host="portal.lab.test", sni=True)],
    )
    order = request_and_preview(duplicate, people["requester"])
    (refusal,) = PushDevice.objects.get(work_order=order).refusals
    assert order.state == "cancelled" and "already bound on site 'Legacy Portal'" in refusal

    http2 = connector_for(
        make_certificate("portal.lab.test", sans=["portal.lab.test"]),
        people["requester"],
        [devices["IIS2016"]],
        name="http2",
        bind_type="update_binding",
        profiles=["MS IIS::Legacy Portal::*:443:portal.lab.test:CS:(SNI)"],
        changes=BindingChanges(disable_quic=True),
    )
    order = request_and_preview(http2, people["requester"])
    (refusal,) = PushDevice.objects.get(work_order=order).refusals
    assert order.state == "cancelled" and "16 (Disable QUIC) not available on Windows build 14393" in refusal


def test_create_binding_on_the_2016_host_sends_a_tripledes_pfx_and_serves_the_certificate(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2016")
    certificate = make_certificate("shop2016.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="create_binding",
        new_bindings=[_new(site="Legacy Portal", host="shop2016.lab.test", sni=True)],
    )
    order, _ = _push(connector, people)

    assert order.state == "completed", order.error
    (entry,) = journal(lab, "IIS2016", "push_and_bind")
    assert entry["pfx"]["keys"] == entry["pfx"]["certificates"] == ["pbeWithSHAAnd3-KeyTripleDES-CBC"], entry["pfx"]
    assert entry["pfx"]["mac"] == "sha1" and entry["pfx"]["pbes2"] is False
    assert served_thumbprint(address(lab, "IIS2016"), 443, "shop2016.lab.test") == certificate.thumbprint
    hosts = [b["binding_information"] for b in https_bindings(lab, "IIS2016", "Legacy Portal")]
    assert hosts.count("*:443:shop2016.lab.test") == 1


def test_a_failure_injected_at_the_bind_step_fails_the_order_and_changes_nothing(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    before = served_thumbprint(ip, 443, "shop.lab.test")
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate, people["requester"], [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP]
    )
    control(lab).fail_step("IIS2019", "push_and_bind", "bind")
    order, rows = _push(connector, people)

    assert order.state == "failed"
    assert rows[0].step == PushStep.FAILED
    assert "bind" in order.error and "injected_failure" in order.error
    assert served_thumbprint(ip, 443, "shop.lab.test") == before
    assert https_bindings(lab, "IIS2019", "Shop")[0]["certificate_hash"] == before
    stores = control(lab).state("IIS2019")["stores"]
    assert certificate.thumbprint not in str(stores)  # the host undid the import too


def test_a_binding_that_serves_the_wrong_certificate_is_rolled_back_and_the_report_counts_it(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    """HTTP.sys drift: an ip:port entry for the host's own address (left behind by someone) shadows the 0.0.0.0:443
    entry that the push updates, so the new certificate is not what clients get."""
    devices = onboard(lab, "IIS2016")
    ip = address(lab, "IIS2016")
    old = served_thumbprint(ip, 443)
    control(lab).set_http_sys(
        "IIS2016", kind="ipport", endpoint=f"{ip}:443", certificate_hash=old, certificate_store="My"
    )
    certificate = make_certificate("www.legacy.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="update_certificate",
        profiles=["MS IIS::Default Web Site::*:443:CS"],
    )
    order, rows = _push(connector, people)

    assert order.state == "failed"
    assert "verification failed; rolled back" in order.error
    row = rows[0]
    assert row.step == PushStep.ROLLED_BACK
    push_checks = [e for e in row.evidence if e["phase"] == "push"]
    assert push_checks[0]["served_thumbprint"] == old and not push_checks[0]["ok"]
    assert all(e["ok"] for e in row.evidence if e["phase"] == "restore")
    assert served_thumbprint(ip, 443) == old
    assert https_bindings(lab, "IIS2016", "Default Web Site")[0]["certificate_hash"] == old
    assert row.operations == ["push_and_bind", "restore"]
    assert order.result["devices"][0]["evidence"]  # the evidence is on the order too
    report = report_data(days=1)
    assert report["failed"] >= 1 and report["pushes"]["failed"] == 1
    assert EndpointCheck.objects.filter(work_order=order, ok=False).exists()


def test_a_failing_pre_push_script_stops_before_any_change(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    before = served_thumbprint(ip, 443, "shop.lab.test")
    connector = connector_for(
        make_certificate("shop.lab.test"),
        people["requester"],
        [devices["IIS2019"]],
        bind_type="update_certificate",
        profiles=[SHOP],
        script_location="device",
        pre_script_name="failing.ps1",
        pre_script_path="C:\\scripts",
    )
    order, rows = _push(connector, people)

    assert order.state == "failed"
    assert rows[0].step == PushStep.FAILED and "Pre-push script failed; nothing was changed" in rows[0].error
    assert rows[0].operations == ["run_script"]
    assert served_thumbprint(ip, 443, "shop.lab.test") == before


@pytest.mark.parametrize(
    ("policy", "state", "step"), [("rollback", "failed", "rolled_back"), ("warn", "completed", "completed")]
)
def test_a_failing_post_push_script_rolls_back_or_warns_as_the_connector_says(
    db: Any, lab: Lab, people: dict[str, Any], policy: str, state: str, step: str
) -> None:
    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    before = served_thumbprint(ip, 443, "shop.lab.test")
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2019"]],
        bind_type="update_certificate",
        profiles=[SHOP],
        script_location="device",
        post_script_name="failing.ps1",
        post_script_path="C:\\scripts",
        post_script_failure=policy,
    )
    order, rows = _push(connector, people)

    assert order.state == state and rows[0].step == step
    expected = before if policy == "rollback" else certificate.thumbprint
    assert served_thumbprint(ip, 443, "shop.lab.test") == expected
    if policy == "warn":
        assert "Post-push script failed (push kept)" in rows[0].warnings[0]


def test_a_script_kept_in_the_portal_is_written_to_the_host_and_run(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    devices = onboard(lab, "IIS2022")
    certificate = make_certificate("api.lab.test", rsa_key=False)
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2022"]],
        bind_type="update_certificate",
        profiles=["MS IIS::API::*:443:api.lab.test:CS:(SNI)"],
        script_location="portal",
        pre_script_name="drain.ps1",
        pre_script_text="Write-Output 'draining'",
    )
    order, rows = _push(connector, people)

    assert order.state == "completed", order.error
    assert rows[0].operations == ["write_file", "run_script", "push_and_bind"]
    (run,) = journal(lab, "IIS2022", "run_script")
    assert run["script"]["path"].endswith(f"{order.work_order_id}-pre-drain.ps1")
    # Flags 5 (SNI + disable HTTP/2) kept: update certificate only touches nothing else.
    api = https_bindings(lab, "IIS2022", "API")[0]
    assert api["ssl_flags"] == 5 and api["certificate_hash"] == certificate.thumbprint


def test_all_or_nothing_rolls_back_the_device_that_succeeded_when_another_fails(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019", "IIS2022")
    ip19, ip22 = address(lab, "IIS2019"), address(lab, "IIS2022")
    before19 = served_thumbprint(ip19, 443, "shop.lab.test")
    before22 = served_thumbprint(ip22, 443)
    certificate = make_certificate("default.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2019"], devices["IIS2022"]],
        bind_type="update_certificate",
        profiles=[SHOP, "MS IIS::Default Web Site::*:443:CS"],
        all_or_nothing=True,
    )
    control(lab).fail_step("IIS2022", "push_and_bind", "commit")
    order, rows = _push(connector, people)

    by_name = {r.device.name: r for r in rows}
    assert order.state == "failed"
    assert by_name["IIS2022"].step == PushStep.FAILED
    assert by_name["IIS2019"].step == PushStep.ROLLED_BACK
    assert "all or nothing" in by_name["IIS2019"].error
    assert served_thumbprint(ip19, 443, "shop.lab.test") == before19 and served_thumbprint(ip22, 443) == before22


def _new(**fields: Any) -> Any:
    from connectors.rules import NewBinding

    return NewBinding(**fields)


def test_a_push_whose_answer_is_lost_is_reconciled_with_the_host_not_sent_twice(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    """The connection drops when push_and_bind's result is ready (the host applied it; the portal never heard):
    the next attempt reads the host, finds the new binding, and goes on to verify -- no duplicate binding."""
    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("new.shop.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2019"]],
        bind_type="create_binding",
        new_bindings=[_new(site="Shop", host="new.shop.lab.test", sni=True)],
    )
    order = request_and_preview(connector, people["requester"])
    from tests.connectors.helpers import approve_and_implement

    approve_and_implement(order, people["approvers"], people["implementer"])
    control(lab).set_faults("IIS2019", drop_connection_on_op="push_and_bind")
    assert execute(order) == "retry"
    row = PushDevice.objects.get(work_order=order)
    assert row.step == PushStep.PUSHING
    control(lab).clear_faults("IIS2019")

    assert execute(order) == "completed"
    row.refresh_from_db()
    assert row.step == PushStep.COMPLETED and row.snapshot_source == "preview"
    assert len(journal(lab, "IIS2019", "push_and_bind")) == 1
    infos = [b["binding_information"] for b in https_bindings(lab, "IIS2019", "Shop")]
    assert infos.count("*:443:new.shop.lab.test") == 1
    assert served_thumbprint(address(lab, "IIS2019"), 443, "new.shop.lab.test") == certificate.thumbprint
    assert "worker was lost" in row.warnings[0]


def test_rollback_restores_the_last_push_and_verifies_it(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    from connectors.services import rollback_request
    from tests.connectors.helpers import approve_and_implement

    devices = onboard(lab, "IIS2019")
    ip = address(lab, "IIS2019")
    before = served_thumbprint(ip, 443, "shop.lab.test")
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate, people["requester"], [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP]
    )
    order, _ = _push(connector, people)
    assert order.state == "completed"
    (rollback,) = rollback_request(connector=connector, user=people["requester"], comment="wrong one")
    assert rollback.state == "submitted" and rollback.action == "rollback"
    approve_and_implement(rollback, people["approvers"], people["implementer"])
    assert execute(rollback) == "completed"

    row = PushDevice.objects.get(work_order=rollback)
    assert row.step == PushStep.ROLLED_BACK and row.operations == ["restore"]
    assert served_thumbprint(ip, 443, "shop.lab.test") == before
    assert all(e["ok"] for e in row.evidence)
    stores = control(lab).state("IIS2019")["stores"]
    assert certificate.thumbprint not in str(stores)  # nothing uses it any more: removed with the restore
    connector.refresh_from_db()
    assert connector.sync_status == SyncStatus.OUT_OF_SYNC
    assert not ConnectorEndpoint.objects.filter(connector=connector, active=True).exists()


def test_remove_previous_deletes_the_replaced_certificate_only_when_nothing_uses_it(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019")
    old_shop = https_bindings(lab, "IIS2019", "Shop")[0]["certificate_hash"]
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2019"]],
        bind_type="update_certificate",
        profiles=[SHOP],
        remove_previous=True,
    )
    order, rows = _push(connector, people)

    assert order.state == "completed", order.error
    (removal,) = rows[0].result["previous_removed"]
    assert removal["thumbprint"] == old_shop and removal["removed"] is True
    assert rows[0].operations == ["push_and_bind", "remove_certificate_if_unused"]
    assert old_shop not in str(control(lab).state("IIS2019")["stores"])
    # Without the old certificate a rollback would leave the binding broken: it is refused, saying why.
    from clm.api.errors import Conflict
    from connectors.services import rollback_request

    with pytest.raises(Conflict, match="removed the certificate it replaced"):
        rollback_request(connector=connector, user=people["requester"])


def test_a_client_certificate_goes_to_the_store_without_a_binding(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("svc-client", client=True)
    connector = connector_for(certificate, people["requester"], [devices["IIS2019"]], push_type="push")
    sites_before = control(lab).state("IIS2019")["sites"]
    order, rows = _push(connector, people)

    assert order.state == "completed", order.error
    assert rows[0].operations == ["push_and_bind"] and rows[0].evidence == []
    state = control(lab).state("IIS2019")
    assert certificate.thumbprint in str(state["stores"]) and state["sites"] == sites_before


def test_a_file_system_push_writes_host_named_pfx_with_the_connector_password(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    devices = onboard(lab, "IIS2022")
    certificate = make_certificate("files.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2022"]],
        push_type="push",
        location_type="file_system",
        file_path="C:\\certs\\incoming",
        file_password="Ccs-Pass-2026!",
    )
    order, _ = _push(connector, people)

    assert order.state == "completed", order.error
    (entry,) = journal(lab, "IIS2022", "write_file")
    assert entry["params"]["path"] == "C:\\certs\\incoming\\files.lab.test.pfx"
    from devices.iis import operations
    from devices.sessions import device_session

    with device_session(devices["IIS2022"]) as session:
        files = operations.list_files(session, "C:\\certs\\incoming", patterns=("files.lab.test.pfx",))
    loaded = pkcs12.load_pkcs12(files[0].content or b"", b"Ccs-Pass-2026!")
    assert loaded.cert is not None and loaded.key is not None


def test_the_pfx_password_is_fresh_per_push_and_never_stored_or_logged(
    db: Any, lab: Lab, people: dict[str, Any], caplog: Any
) -> None:
    import json
    from unittest import mock

    from certificates.pkcs12 import random_pfx_password

    devices = onboard(lab, "IIS2019")
    certificate = make_certificate("shop.lab.test")
    connector = connector_for(
        certificate, people["requester"], [devices["IIS2019"]], bind_type="update_certificate", profiles=[SHOP]
    )
    secret = "Known-Pfx-Secret-0123456789abcdef"
    with mock.patch("connectors.push.random_pfx_password", side_effect=[secret]) as fresh:
        order, rows = _push(connector, people)
    assert order.state == "completed" and fresh.call_count == 1
    assert random_pfx_password() != random_pfx_password()
    (entry,) = journal(lab, "IIS2019", "push_and_bind")
    assert entry["params"]["pfx_password"] == "***" and secret not in json.dumps(entry)
    order.refresh_from_db()
    stored = json.dumps(
        [order.params, order.result, [(r.preview, r.result, r.snapshot, r.evidence, r.error) for r in rows]],
        default=str,
    )
    assert secret not in stored and "pfx_b64" not in stored
    assert secret not in caplog.text
