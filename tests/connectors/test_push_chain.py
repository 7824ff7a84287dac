"""Push root and intermediate certificates (issue 7, Tables 27-29): with the connector's push chain on, the chain the
portal knows for the certificate goes to the host's LocalMachine\\CA (intermediates) and LocalMachine\\Root (the
self-signed root); the preview lists it for the approvers; a rollback takes back exactly what the push added.
The demo lab over real WinRM and real TLS, with the preview and the executor run in this process (test_push_lab.py)."""

from __future__ import annotations

from typing import Any

from connectors.choices import PushStep
from connectors.models import AppConnector, PushDevice
from iissim.lab import Lab
from iissim.model.state import StoredCertificate, thumbprint_of
from iissim.pki import LabCA
from tests.connectors.helpers import (
    address,
    connector_for,
    control,
    make_certificate,
    onboard,
    push_through,
    request_and_preview,
    served_thumbprint,
    store_thumbprints,
)

SHOP = "MS IIS::Shop::*:443:shop.lab.test:CS:(SNI)"


def _issued_by(ca: LabCA, common_name: str) -> Any:
    """A certificate from `ca`'s issuing CA, recorded with the chain issuing CA -> root (as the built-in CA records
    an enrollment's chain)."""
    return make_certificate(
        common_name,
        issuer=(ca.issuing.key, ca.issuing.cert),
        chain=[ca.issuing.cert, ca.root.cert],
    )


def _shop_connector(certificate: Any, people: dict[str, Any], device: Any, **fields: Any) -> AppConnector:
    return connector_for(
        certificate, people["requester"], [device], bind_type="update_certificate", profiles=[SHOP], **fields
    )


def test_the_chain_goes_to_the_ca_and_root_stores_and_the_preview_lists_it_first(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019")
    ca = LabCA.create("Chain Push CA")
    intermediate, root = thumbprint_of(ca.issuing.der), thumbprint_of(ca.root.der)
    before = store_thumbprints(lab, "IIS2019")
    certificate = _issued_by(ca, "shop.lab.test")
    connector = _shop_connector(certificate, people, devices["IIS2019"], push_chain=True)

    order = request_and_preview(connector, people["requester"])
    preview = PushDevice.objects.get(work_order=order).preview
    assert [(c["role"], c["thumbprint"], c["store"], c["present"]) for c in preview["certificates"][1:]] == [
        ("intermediate", intermediate, "CA", False),
        ("root", root, "Root", False),
    ]
    assert "Trusted Root Certification Authorities" in preview["certificates"][2]["to"]
    assert store_thumbprints(lab, "IIS2019") == before  # the preview only read the host

    from tests.connectors.helpers import approve_and_implement, execute

    approve_and_implement(order, people["approvers"], people["implementer"])
    execute(order)
    order.refresh_from_db()
    row = PushDevice.objects.get(work_order=order)

    assert order.state == "completed", order.error
    assert row.operations == ["push_and_bind"]  # the chain travels in the same operation
    assert [(c["store"], c["thumbprint"]) for c in row.result["chain_added"]] == [("CA", intermediate), ("Root", root)]
    after = store_thumbprints(lab, "IIS2019")
    assert after["CA"] == before["CA"] | {intermediate}
    assert after["Root"] == before["Root"] | {root}
    assert served_thumbprint(address(lab, "IIS2019"), 443, "shop.lab.test") == certificate.thumbprint


def test_a_root_already_trusted_by_the_host_is_not_added_again(db: Any, lab: Lab, people: dict[str, Any]) -> None:
    """The lab CA's root is in Root and its issuing CA in CA on every demo host: a certificate from it adds
    nothing to either store, and the preview says both are already there."""
    devices = onboard(lab, "IIS2019")
    assert lab.ca is not None
    before = store_thumbprints(lab, "IIS2019")
    assert thumbprint_of(lab.ca.root.der) in before["Root"]
    certificate = _issued_by(lab.ca, "shop.lab.test")
    connector = _shop_connector(certificate, people, devices["IIS2019"], push_chain=True)

    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])

    assert order.state == "completed", order.error
    assert [(c["role"], c["present"]) for c in rows[0].preview["certificates"][1:]] == [
        ("intermediate", True),
        ("root", True),
    ]
    assert rows[0].result["chain_added"] == [] and rows[0].snapshot["chain_added"] == []
    after = store_thumbprints(lab, "IIS2019")
    assert (after["CA"], after["Root"]) == (before["CA"], before["Root"])
    assert certificate.thumbprint in after["My"]


def test_a_push_that_fails_tls_verification_removes_only_the_chain_certificates_it_added(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    """The root was trusted on the host before the push, the intermediate was not. The push adds the intermediate;
    the served certificate is wrong (HTTP.sys drift, as in test_push_lab), so the executor restores the host: the
    intermediate goes, the root the administrator had installed stays."""
    devices = onboard(lab, "IIS2016")
    ip = address(lab, "IIS2016")
    old = served_thumbprint(ip, 443)
    control(lab).set_http_sys(
        "IIS2016", kind="ipport", endpoint=f"{ip}:443", certificate_hash=old, certificate_store="My"
    )
    ca = LabCA.create("Half Trusted CA")
    intermediate, root = thumbprint_of(ca.issuing.der), thumbprint_of(ca.root.der)
    lab.host("IIS2016").state.stores["Root"][root] = StoredCertificate(root, ca.root.der, "installed by the admin")
    before = store_thumbprints(lab, "IIS2016")
    certificate = _issued_by(ca, "www.legacy.lab.test")
    connector = connector_for(
        certificate,
        people["requester"],
        [devices["IIS2016"]],
        bind_type="update_certificate",
        profiles=["MS IIS::Default Web Site::*:443:CS"],
        push_chain=True,
    )

    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])

    row = rows[0]
    assert order.state == "failed" and "verification failed; rolled back" in order.error
    assert row.step == PushStep.ROLLED_BACK and row.operations == ["push_and_bind", "restore"]
    assert [(c["store"], c["thumbprint"]) for c in row.result["chain_added"]] == [("CA", intermediate)]
    assert [(c["store"], c["thumbprint"]) for c in row.result["restore"]["chain_removed"]] == [("CA", intermediate)]
    assert store_thumbprints(lab, "IIS2016") == before  # root still there, intermediate and leaf gone
    assert served_thumbprint(ip, 443) == old


def test_with_push_chain_off_nothing_but_the_certificate_is_installed(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    devices = onboard(lab, "IIS2019")
    ca = LabCA.create("Unasked Chain CA")
    before = store_thumbprints(lab, "IIS2019")
    certificate = _issued_by(ca, "shop.lab.test")  # the portal knows its chain; the connector does not push it
    connector = _shop_connector(certificate, people, devices["IIS2019"], push_chain=False)

    order, rows = push_through(connector, people["requester"], people["approvers"], people["implementer"])

    assert order.state == "completed", order.error
    assert [c["role"] for c in rows[0].preview["certificates"]] == ["certificate"]
    assert rows[0].result["chain_added"] == []
    after = store_thumbprints(lab, "IIS2019")
    assert (after["CA"], after["Root"]) == (before["CA"], before["Root"])
    assert after["My"] == before["My"] | {certificate.thumbprint}


def test_a_push_whose_answer_was_lost_still_takes_back_the_chain_it_added_when_rolled_back(
    db: Any, lab: Lab, people: dict[str, Any]
) -> None:
    """The host applied the push but the portal never heard (the connection dropped): the snapshot is rebuilt from
    the preview, which lists the chain certificates that were not on the host; a failing post-push script then
    rolls back, and those certificates go with the rest."""
    from tests.connectors.helpers import approve_and_implement, execute

    devices = onboard(lab, "IIS2019")
    ca = LabCA.create("Lost Answer CA")
    before = store_thumbprints(lab, "IIS2019")
    certificate = _issued_by(ca, "shop.lab.test")
    connector = _shop_connector(
        certificate,
        people,
        devices["IIS2019"],
        push_chain=True,
        script_location="device",
        post_script_name="failing.ps1",
        post_script_path="C:\\scripts",
        post_script_failure="rollback",
    )
    order = request_and_preview(connector, people["requester"])
    approve_and_implement(order, people["approvers"], people["implementer"])
    control(lab).set_faults("IIS2019", drop_connection_on_op="push_and_bind")
    assert execute(order) == "retry"
    assert thumbprint_of(ca.root.der) in store_thumbprints(lab, "IIS2019")["Root"]  # the host did it
    control(lab).clear_faults("IIS2019")

    execute(order)
    row = PushDevice.objects.get(work_order=order)

    assert row.snapshot_source == "preview" and row.step == PushStep.ROLLED_BACK, row.error
    assert {(c["store"], c["thumbprint"]) for c in row.result["restore"]["chain_removed"]} == {
        ("CA", thumbprint_of(ca.issuing.der)),
        ("Root", thumbprint_of(ca.root.der)),
    }
    assert store_thumbprints(lab, "IIS2019") == before
