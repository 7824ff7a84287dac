"""IISSession against the real simulated hosts of the demo lab (iissim/labs/demo.yaml): real envelopes with the real
operation scripts, over real WinRM connections (HTTP with message encryption, HTTPS with the lab CA). Nothing is
faked.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest

from devices.iis import operations
from devices.iis.errors import OperationFailed, TlsUntrusted, Unreachable
from devices.iis.operations import script_text
from devices.iis.session import STDIN_CHUNK, Endpoint, IISSession, build_envelope
from iissim.lab import Lab
from iissim.model.host import StepFailure

LAB_FILE = "iissim/labs/demo.yaml"
SERVICE_ACCOUNT = "LAB\\svc-thumbprint"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab.from_file(LAB_FILE, relocate_to="auto", winrm_ports="ephemeral") as running:
        yield running


@pytest.fixture(autouse=True)
def clean_faults(lab: Lab) -> Iterator[None]:
    yield
    for name in ("IIS2016", "IIS2019", "IIS2022"):
        host = lab.host(name)
        with host.transport_faults.lock:
            host.transport_faults.drop_connection_on_op = None
        host.op_faults.clear()


def endpoint(lab: Lab, name: str, scheme: str = "http", auth: str = "ntlm", **kwargs: object) -> Endpoint:
    host = lab.host(name)
    options: dict[str, object] = {
        "host": host.state.addresses[0],
        "scheme": scheme,
        "port": lab.winrm_port(name, scheme),  # type: ignore[arg-type]
        "auth": auth,
        "username": SERVICE_ACCOUNT,
        "password": lab.users[name][SERVICE_ACCOUNT],
        "ca_bundle": lab.ca_pem.decode() if scheme == "https" else None,
        "timeout": 30.0,
    }
    options.update(kwargs)
    return Endpoint(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "scheme", "auth", "build"),
    [
        ("IIS2016", "http", "ntlm", 14393),
        ("IIS2016", "https", "basic", 14393),
        ("IIS2019", "http", "negotiate", 17763),
        ("IIS2019", "https", "ntlm", 17763),
        ("IIS2022", "https", "negotiate", 20348),
    ],
)
def test_host_facts_come_back_over_each_transport(lab: Lab, name: str, scheme: str, auth: str, build: int) -> None:
    with IISSession(endpoint(lab, name, scheme, auth)) as session:
        data = session.run("host_facts", {}, script_text("host_facts"))
        facts = operations.host_facts(session)
    assert data["os"]["build"] == build
    assert facts.build == build


def test_a_session_runs_many_real_operations_on_one_connection(lab: Lab) -> None:
    with IISSession(endpoint(lab, "IIS2019")) as session:
        sites = session.run("list_sites", {}, script_text("list_sites"))
        stores = session.run("list_store_certificates", {}, script_text("list_store_certificates"))
        facts = session.run("host_facts", {}, script_text("host_facts"))
        assert session.round_trips == 1 + 3 * 4
    assert isinstance(sites["sites"], list) and sites["sites"]
    assert isinstance(stores["certificates"], list)
    assert facts["hostname"] == "IIS2019"


def test_a_large_file_travels_in_several_sends_and_arrives_intact(lab: Lab) -> None:
    content = bytes(range(256)) * 1200  # 300 KiB
    params = {"path": "C:\\inetpub\\wwwroot\\big.bin", "content_b64": base64.b64encode(content).decode()}
    assert len(build_envelope("write_file", params, script_text("write_file"))) > 3 * STDIN_CHUNK
    with IISSession(endpoint(lab, "IIS2022", "https", "negotiate")) as session:
        written = session.run("write_file", params, script_text("write_file"))
    assert written["size"] == len(content)
    assert written["sha256"].lower() == hashlib.sha256(content).hexdigest()
    assert lab.host("IIS2022").state.files.read("C:\\inetpub\\wwwroot\\big.bin").content == content


def test_a_refusal_of_the_host_is_operation_failed_with_its_code_and_step(lab: Lab) -> None:
    with IISSession(endpoint(lab, "IIS2019")) as session, pytest.raises(OperationFailed) as failure:
        session.run("list_store_certificates", {"stores": "My"}, script_text("list_store_certificates"))
    assert failure.value.code == "bad_params"
    assert failure.value.step == "validate"


def test_a_failure_injected_at_a_step_surfaces_with_that_step(lab: Lab) -> None:
    host = lab.host("IIS2016")
    host.op_faults.failures.append(StepFailure(op="list_sites", step="read_http_sys", code="injected"))
    with IISSession(endpoint(lab, "IIS2016")) as session:
        with pytest.raises(OperationFailed) as failure:
            session.run("list_sites", {}, script_text("list_sites"))
        assert session.run("host_facts", {}, script_text("host_facts"))["hostname"] == "IIS2016"
    assert (failure.value.code, failure.value.step) == ("injected", "read_http_sys")


def test_a_connection_dropped_during_an_operation_is_unreachable_but_the_host_ran_it(lab: Lab) -> None:
    host = lab.host("IIS2019")
    before = host.journal.last_seq
    with host.transport_faults.lock:
        host.transport_faults.drop_connection_on_op = "list_sites"
    with IISSession(endpoint(lab, "IIS2019")) as session:
        with pytest.raises(Unreachable):
            session.run("list_sites", {}, script_text("list_sites"))
        with host.transport_faults.lock:
            host.transport_faults.drop_connection_on_op = None
        assert session.run("list_sites", {}, script_text("list_sites"))["sites"]
    ops = [entry["op"] for entry in host.journal.since(before)]
    assert ops == ["list_sites", "list_sites"]


def test_the_winrm_certificate_validates_only_against_the_lab_ca(lab: Lab) -> None:
    from tests.iissim.conftest import make_ca

    stranger, _ = make_ca("Not the lab CA")
    from cryptography.hazmat.primitives import serialization

    wrong_ca = stranger.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(TlsUntrusted):
        IISSession(endpoint(lab, "IIS2022", "https", "negotiate", ca_bundle=wrong_ca)).open()


def test_the_journal_sees_the_parameters_the_session_sent(lab: Lab) -> None:
    host = lab.host("IIS2022")
    before = host.journal.last_seq
    with IISSession(endpoint(lab, "IIS2022")) as session:
        session.run("list_store_certificates", {"stores": ["My"]}, script_text("list_store_certificates"))
    (entry,) = host.journal.since(before)
    assert entry["op"] == "list_store_certificates"
    assert json.loads(json.dumps(entry["params"])) == {"stores": ["My"]}
