"""Pushing the issuer chain with push_and_bind ("push root and intermediate certificates"): intermediates into
LocalMachine\\CA, a self-signed root into LocalMachine\\Root, nothing that is already there twice, and a restore that
takes back exactly what the push added. The demo lab over real WinRM; the stores read back through the control API."""

from __future__ import annotations

from typing import Any

import pytest

from devices.iis import operations as ops
from devices.iis.errors import OperationFailed
from iissim.control import ControlClient
from iissim.lab import Lab
from iissim.model.state import thumbprint_of
from iissim.pki import LabCA, Material
from tests.iissim.labtools import demo_lab, served, session

__all__ = ["demo_lab"]

PASSWORD = "Ch@in-P$ss'1"
SHOP = ops.BindingTarget("update_certificate", "Shop", "*:443:shop.lab.test")


def _stores(lab: Lab, host: str) -> dict[str, set[str]]:
    """Thumbprints per LocalMachine store, as the simulated host holds them."""
    stores = ControlClient(lab.control_url).state(host)["stores"]
    return {name: {c["thumbprint"] for c in certs} for name, certs in stores.items()}


def _shop(ca: LabCA) -> Material:
    return ca.issue(common_name="shop.lab.test", dns_names=["shop.lab.test"], key_type="ec256")


def _ders(*materials: Material) -> list[bytes]:
    return [m.der for m in materials]


def test_the_chain_goes_to_ca_and_root_and_a_restore_takes_back_only_what_the_push_added(demo_lab: Lab) -> None:
    ca = LabCA.create("Chain Test")  # a hierarchy the host has never seen
    leaf = _shop(ca)
    intermediate, root = thumbprint_of(ca.issuing.der), thumbprint_of(ca.root.der)
    before = _stores(demo_lab, "IIS2019")
    assert intermediate not in before["CA"] and root not in before["Root"]

    with session(demo_lab, "IIS2019") as s:
        pushed = ops.push_and_bind(
            s, leaf.pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=_ders(ca.issuing, ca.root)
        )
        after_push = _stores(demo_lab, "IIS2019")
        restored = ops.restore(s, pushed.snapshot, remove_certificate=True)

    assert {(c.store, c.thumbprint) for c in pushed.chain_added} == {("CA", intermediate), ("Root", root)}
    assert pushed.snapshot["chain_added"] == [
        {"store": "CA", "thumbprint": intermediate},
        {"store": "Root", "thumbprint": root},
    ]
    assert after_push["CA"] == before["CA"] | {intermediate}
    assert after_push["Root"] == before["Root"] | {root}
    assert served(demo_lab, "IIS2019", 443, "shop.lab.test")["thumbprint"] != pushed.thumbprint
    assert {(c.store, c.thumbprint) for c in restored.chain_removed} == {("CA", intermediate), ("Root", root)}
    assert restored.chain_kept == () and restored.certificate_removed
    assert _stores(demo_lab, "IIS2019") == before  # the lab's own CA and root are still there


def test_a_chain_already_on_the_host_is_not_added_again_nor_removed_by_a_restore(demo_lab: Lab) -> None:
    assert demo_lab.ca is not None
    lab_ca = demo_lab.ca  # its root is in Root and its issuing CA in CA on every demo host
    leaf = _shop(lab_ca)
    before = _stores(demo_lab, "IIS2019")
    assert thumbprint_of(lab_ca.root.der) in before["Root"] and thumbprint_of(lab_ca.issuing.der) in before["CA"]

    with session(demo_lab, "IIS2019") as s:
        pushed = ops.push_and_bind(
            s, leaf.pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=_ders(lab_ca.issuing, lab_ca.root)
        )
        after_push = _stores(demo_lab, "IIS2019")
        restored = ops.restore(s, pushed.snapshot, remove_certificate=True)

    assert pushed.chain_added == () and pushed.snapshot["chain_added"] == []
    assert (after_push["CA"], after_push["Root"]) == (before["CA"], before["Root"])
    assert restored.chain_removed == ()
    assert _stores(demo_lab, "IIS2019") == before


def test_only_the_missing_part_of_a_chain_is_added_and_taken_back(demo_lab: Lab) -> None:
    """The root is there already (the administrator trusts it), the intermediate is not: only the intermediate is
    added, and the restore removes the intermediate and leaves the root."""
    ca = LabCA.create("Half Known")
    root = thumbprint_of(ca.root.der)
    demo_lab.host("IIS2019").state.stores["Root"][root] = _stored(ca.root)
    before = _stores(demo_lab, "IIS2019")

    with session(demo_lab, "IIS2019") as s:
        pushed = ops.push_and_bind(
            s, _shop(ca).pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=_ders(ca.issuing, ca.root)
        )
        ops.restore(s, pushed.snapshot, remove_certificate=True)

    assert [(c.store, c.thumbprint) for c in pushed.chain_added] == [("CA", thumbprint_of(ca.issuing.der))]
    assert _stores(demo_lab, "IIS2019") == before and root in before["Root"]


def test_an_intermediate_another_certificate_now_relies_on_stays_after_the_restore(demo_lab: Lab) -> None:
    """Two pushes from one CA: the first adds the chain, the second finds it there. Undoing the first must not pull
    the intermediate and root from under the second certificate, which stays bound."""
    ca = LabCA.create("Shared Issuer")
    first, second = _shop(ca), ca.issue(common_name="blog.lab.test", dns_names=["blog.lab.test"], key_type="ec256")
    blog = ops.BindingTarget("update_certificate", "Blog", "*:443:blog.lab.test")
    with session(demo_lab, "IIS2019") as s:
        one = ops.push_and_bind(
            s, first.pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=_ders(ca.issuing, ca.root)
        )
        two = ops.push_and_bind(
            s, second.pfx(PASSWORD, "aes256"), PASSWORD, bindings=[blog], chain=_ders(ca.issuing, ca.root)
        )
        restored = ops.restore(s, one.snapshot, remove_certificate=True)

    assert len(one.chain_added) == 2 and two.chain_added == ()
    assert restored.chain_removed == ()
    assert {(c.store, why) for c, why in restored.chain_kept} == {
        ("CA", "issuer of CN=blog.lab.test"),
        ("Root", f"issuer of {ca.issuing.cert.subject.rfc4514_string()}"),
    }
    stores = _stores(demo_lab, "IIS2019")
    assert thumbprint_of(ca.issuing.der) in stores["CA"] and thumbprint_of(ca.root.der) in stores["Root"]
    assert served(demo_lab, "IIS2019", 443, "blog.lab.test")["thumbprint"] == two.thumbprint


def test_without_a_chain_nothing_goes_to_ca_or_root_even_when_the_pfx_carries_one(demo_lab: Lab) -> None:
    ca = LabCA.create("Not Asked")
    leaf = _shop(ca)  # its PFX carries the issuing CA
    before = _stores(demo_lab, "IIS2019")
    with session(demo_lab, "IIS2019") as s:
        pushed = ops.push_and_bind(s, leaf.pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP])
    after = _stores(demo_lab, "IIS2019")
    assert pushed.chain_added == ()
    assert (after["CA"], after["Root"]) == (before["CA"], before["Root"])


def test_a_push_that_fails_after_adding_the_chain_takes_it_back(demo_lab: Lab) -> None:
    ca = LabCA.create("Failing Push")
    before = _stores(demo_lab, "IIS2019")
    ControlClient(demo_lab.control_url).fail_step("IIS2019", "push_and_bind", "commit")
    with session(demo_lab, "IIS2019") as s, pytest.raises(OperationFailed) as failed:
        ops.push_and_bind(
            s, _shop(ca).pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=_ders(ca.issuing, ca.root)
        )
    assert failed.value.step == "commit"
    assert _stores(demo_lab, "IIS2019") == before


def test_a_chain_entry_that_is_not_a_certificate_is_refused_before_any_change(demo_lab: Lab) -> None:
    before = _stores(demo_lab, "IIS2019")
    with session(demo_lab, "IIS2019") as s, pytest.raises(OperationFailed) as refused:
        ops.push_and_bind(
            s, _shop(LabCA.create("X")).pfx(PASSWORD, "aes256"), PASSWORD, bindings=[SHOP], chain=[b"not DER"]
        )
    assert (refused.value.code, refused.value.step) == ("bad_params", "validate")
    assert _stores(demo_lab, "IIS2019") == before


def _stored(material: Material) -> Any:
    from iissim.model.state import StoredCertificate

    return StoredCertificate(thumbprint_of(material.der), material.der, "pre-installed")
