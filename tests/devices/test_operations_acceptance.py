"""Acceptance of issue 3 over real sockets: the demo lab, the unmodified WinRM client (pypsrp through
devices.iis.session), the operations of devices.iis, and plain Python `ssl` handshakes against the served bindings."""

from __future__ import annotations

from typing import Any

import pytest

from devices.iis import operations as ops
from devices.iis.errors import OperationFailed
from iissim.control import ControlClient
from iissim.lab import Lab
from iissim.model.state import thumbprint_of
from tests.iissim.labtools import demo_lab, served, session

__all__ = ["demo_lab"]


def _state(lab: Lab, host: str) -> dict[str, Any]:
    """The control API's dump of a host, without the fields that change on every operation (journal, faults)."""
    dump = ControlClient(lab.control_url).state(host)
    for volatile in ("journal_seq", "faults"):
        dump.pop(volatile)
    return dump


def _new_shop_pfx(lab: Lab, encryption: str) -> tuple[bytes, str]:
    assert lab.ca is not None
    material = lab.ca.issue(common_name="shop.lab.test", dns_names=["shop.lab.test"], key_type="rsa2048")
    return material.pfx("N3w-Sh0p$@pass", encryption), thumbprint_of(material.der)


def test_a_push_to_one_sni_binding_changes_only_that_host_name(demo_lab: Lab) -> None:
    shop_before = served(demo_lab, "IIS2019", 443, "shop.lab.test")
    blog_before = served(demo_lab, "IIS2019", 443, "blog.lab.test")
    assert shop_before["subject"] == "CN=shop.lab.test" and blog_before["subject"] == "CN=blog.lab.test"
    pfx, new_thumbprint = _new_shop_pfx(demo_lab, "aes256")

    with session(demo_lab, "IIS2019") as s:
        result = ops.push_and_bind(
            s,
            pfx,
            "N3w-Sh0p$@pass",
            store="My",
            bindings=[ops.BindingTarget("update_certificate", "Shop", "*:443:shop.lab.test")],
            expected_thumbprint=new_thumbprint,
        )
        on_host = ops.verify_served_on_host(s, 443, sni="shop.lab.test")

    assert result.thumbprint == new_thumbprint and result.imported and result.has_private_key
    assert [c.binding.ssl_flags for c in result.bindings if c.binding] == [1]
    shop_after = served(demo_lab, "IIS2019", 443, "shop.lab.test")
    blog_after = served(demo_lab, "IIS2019", 443, "blog.lab.test")
    assert shop_after["thumbprint"] == new_thumbprint != shop_before["thumbprint"]
    assert blog_after["thumbprint"] == blog_before["thumbprint"]
    assert on_host.thumbprint == new_thumbprint and on_host.method == "handshake"


def test_b_aes256_pfx_on_server_2016_fails_clearly_and_changes_nothing(demo_lab: Lab) -> None:
    before = _state(demo_lab, "IIS2016")
    served_before = served(demo_lab, "IIS2016", 443, "portal.lab.test")
    pfx, _ = _new_shop_pfx(demo_lab, "aes256")

    with session(demo_lab, "IIS2016", scheme="https") as s, pytest.raises(OperationFailed) as failure:
        ops.push_and_bind(
            s,
            pfx,
            "N3w-Sh0p$@pass",
            bindings=[ops.BindingTarget("update_certificate", "Legacy Portal", "*:443:portal.lab.test")],
        )

    assert failure.value.code == "pfx_import_failed"
    assert failure.value.step == "import"
    assert "AES-256" in failure.value.message and "14393" in failure.value.message
    assert _state(demo_lab, "IIS2016") == before
    assert served(demo_lab, "IIS2016", 443, "portal.lab.test")["thumbprint"] == served_before["thumbprint"]
    journal = ControlClient(demo_lab.control_url).journal("IIS2016")
    assert journal[-1]["pfx"]["pbes2"] is True and journal[-1]["pfx"]["keys"][0].endswith("aes256-cbc")
    assert "N3w-Sh0p" not in str(journal)


def test_c_failure_at_the_bind_step_leaves_bindings_and_served_certificates_as_before(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.fail_step("IIS2019", "push_and_bind", "bind")
    before = _state(demo_lab, "IIS2019")
    names = ["shop.lab.test", "blog.lab.test"]
    served_before = {n: served(demo_lab, "IIS2019", 443, n)["thumbprint"] for n in names}
    pfx, _ = _new_shop_pfx(demo_lab, "legacy")

    with session(demo_lab, "IIS2019") as s, pytest.raises(OperationFailed) as failure:
        ops.push_and_bind(
            s,
            pfx,
            "N3w-Sh0p$@pass",
            bindings=[
                ops.BindingTarget("update_certificate", "Shop", "*:443:shop.lab.test"),
                ops.BindingTarget("update_certificate", "Blog", "*:443:blog.lab.test"),
            ],
        )

    assert (failure.value.code, failure.value.step) == ("injected_failure", "bind")
    assert _state(demo_lab, "IIS2019") == before
    assert {n: served(demo_lab, "IIS2019", 443, n)["thumbprint"] for n in names} == served_before
    assert control.journal("IIS2019")[-1]["steps"] == ["validate", "snapshot", "import", "verify", "bind"]
