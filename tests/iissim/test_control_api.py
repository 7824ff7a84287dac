"""The lab's control API over HTTP: state dumps, the journal, fault injection (host and transport), scripts,
HTTP.sys drift, site start/stop and reset."""

from __future__ import annotations

import pytest

from iissim.control import ControlClient, ControlError
from iissim.lab import Lab
from tests.iissim.labtools import demo_lab, fail, ok

__all__ = ["demo_lab"]


def test_it_lists_hosts_and_dumps_one_without_secrets(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    hosts = {h["name"]: h for h in control.hosts()}
    assert set(hosts) == {"IIS2016", "IIS2019", "IIS2022"}
    assert hosts["IIS2016"]["build"] == 14393 and hosts["IIS2016"]["winrm"]["running"] is True
    assert all("password" not in u for u in hosts["IIS2016"]["users"])
    state = control.state("iis2019.lab.test")
    assert {s["name"] for s in state["sites"]} == {"Default Web Site", "Shop", "Blog", "Intranet", "Files FTP"}
    assert {(listener["scheme"], listener["port"]) for listener in state["listeners"]} >= {("https", 443), ("http", 80)}
    text = str(state)
    assert "PRIVATE KEY" not in text and "Share-Pki-2025!" not in text and "keys" not in state


def test_the_journal_records_every_operation(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    host = demo_lab.host("IIS2022")
    ok(host, "host_facts")
    fail(host, "run_script", {"path": "C:\\missing.ps1"})
    entries = control.journal("IIS2022")
    assert [(e["op"], e["ok"]) for e in entries] == [("host_facts", True), ("run_script", False)]
    assert entries[1]["error"]["code"] == "script_not_found"
    assert control.journal("IIS2022", since=entries[0]["seq"])[0]["op"] == "run_script"


def test_an_operation_fails_at_the_named_step_as_often_as_asked(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_faults(
        "IIS2019", fail=[{"op": "list_sites", "step": "read_http_sys", "code": "netsh_failed", "times": 1}]
    )
    host = demo_lab.host("IIS2019")
    error = fail(host, "list_sites")
    assert (error["code"], error["step"]) == ("netsh_failed", "read_http_sys")
    ok(host, "list_sites")


def test_transport_faults_reach_the_hosts_transport_faults(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    view = control.set_faults("IIS2016", latency_ms=250, auth_failure=True, drop_connection_on_op="push_and_bind")
    faults = demo_lab.host("IIS2016").transport_faults
    assert (faults.latency_ms, faults.auth_failure, faults.drop_connection_on_op) == (250, True, "push_and_bind")
    assert view["transport"]["refuse_connections"] is False
    control.set_faults("IIS2016", refuse_connections=True, slow_ms={"host_facts": 5})
    assert faults.refuse_connections is True and demo_lab.host("IIS2016").op_faults.slow_ms == {"host_facts": 5}
    control.clear_faults("IIS2016")
    assert (faults.latency_ms, faults.refuse_connections, faults.auth_failure) == (0, False, False)
    with pytest.raises(ControlError) as bad:
        control.set_faults("IIS2016", explode=True)
    assert bad.value.status == 400


def test_scripts_can_be_made_to_fail(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    host = demo_lab.host("IIS2016")
    assert (
        ok(host, "run_script", {"path": "C:\\scripts\\pre-push.ps1", "arguments": ["-Site", "Shop"]})["exit_code"] == 0
    )
    control.set_script("IIS2016", "C:\\scripts\\pre-push.ps1", exit_code=2, output="disk full")
    error = fail(host, "run_script", {"path": "C:\\scripts\\pre-push.ps1"})
    assert error["code"] == "script_failed" and "disk full" in error["message"]
    assert control.journal("IIS2016")[0]["script"]["arguments"] == ["-Site", "Shop"]


def test_http_sys_drift_can_be_injected_and_is_reported(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    control.set_http_sys(
        "IIS2019", kind="ipport", endpoint="0.0.0.0:443", certificate_hash="AB" * 20, certificate_store="My"
    )
    entries = ok(demo_lab.host("IIS2019"), "list_sites")["http_sys"]
    drift = {"kind": "ipport", "endpoint": "0.0.0.0:443", "certificate_hash": "AB" * 20}
    assert any(drift.items() <= entry.items() for entry in entries)
    control.delete_http_sys("IIS2019", "ipport", "0.0.0.0:443")
    assert all(e["endpoint"] != "0.0.0.0:443" for e in control.state("IIS2019")["http_sys"])


def test_reset_returns_a_host_to_the_lab_state(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    before = control.state("IIS2022")
    control.stop_site("IIS2022", "API")
    control.set_faults("IIS2022", latency_ms=10)
    assert control.state("IIS2022")["sites"] != before["sites"]
    control.reset("IIS2022")
    after = control.state("IIS2022")
    assert after["sites"] == before["sites"] and after["stores"] == before["stores"]
    assert after["faults"]["transport"]["latency_ms"] == 0 and control.journal("IIS2022") == []


def test_unknown_hosts_and_routes_are_404(demo_lab: Lab) -> None:
    control = ControlClient(demo_lab.control_url)
    for call in (lambda: control.state("NOPE"), lambda: control._call("GET", "/v1/whatever")):
        with pytest.raises(ControlError) as missing:
            call()
        assert missing.value.status == 404
    with pytest.raises(ControlError) as conflict:
        control.start_site("IIS2016", "No Such Site")
    assert conflict.value.status == 404
