"""Faults injected through the control API, seen by the device layer over real WinRM: each maps to its DeviceError,
and a connection dropped mid-operation leaves the host changed while the client never hears of it."""

from __future__ import annotations

import time

import pytest

from devices.iis import operations as ops
from devices.iis.errors import AuthFailed, OperationFailed, Timeout, Unreachable
from iissim.control import ControlClient
from iissim.lab import Lab
from iissim.model.state import thumbprint_of
from tests.iissim.labtools import demo_lab, session, shared_ca

__all__ = ["demo_lab"]


def test_refused_connections_and_auth_failures_map_to_their_errors(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_faults("IIS2022", refuse_connections=True)
    with pytest.raises(Unreachable) as refused:
        session(demo_lab, "IIS2022", timeout=5).open()
    assert refused.value.retryable
    control.set_faults("IIS2022", refuse_connections=False, auth_failure=True)
    with pytest.raises(AuthFailed):
        session(demo_lab, "IIS2022", scheme="https", auth="basic", timeout=5).open()
    control.clear_faults("IIS2022")
    with session(demo_lab, "IIS2022") as s:
        assert ops.host_facts(s).build == 20348


def test_a_slow_operation_times_out_and_a_failing_step_is_reported(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_faults(
        "IIS2019", slow_ms={"list_sites": 4000}, fail=[{"op": "host_facts", "step": "read", "code": "wmi_broken"}]
    )
    with session(demo_lab, "IIS2019", timeout=2) as s:
        with pytest.raises(Timeout):
            ops.list_sites(s)
        with pytest.raises(OperationFailed) as failed:
            ops.host_facts(s)
    assert (failed.value.code, failed.value.step) == ("wmi_broken", "read")


def test_a_connection_dropped_mid_push_leaves_the_change_made_on_the_host(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_faults("IIS2019", drop_connection_on_op="push_and_bind")
    material = shared_ca().issue(common_name="blog.lab.test", key_type="ec256")
    target = ops.BindingTarget("update_certificate", "Blog", "*:443:blog.lab.test")
    with session(demo_lab, "IIS2019", timeout=10) as s, pytest.raises(Unreachable):
        ops.push_and_bind(s, material.pfx("pw", "aes256"), "pw", bindings=[target])
    deadline = time.monotonic() + 10
    while not control.journal("IIS2019") and time.monotonic() < deadline:
        time.sleep(0.05)  # the host may still be finishing the operation the client no longer waits for
    entry = control.journal("IIS2019")[-1]
    assert entry["op"] == "push_and_bind" and entry["ok"] is True  # the host did it; the portal must re-check
    blog = demo_lab.host("IIS2019").state.http_sys[("hostnameport", "blog.lab.test:443")]
    assert blog.certificate_hash == thumbprint_of(material.der)
