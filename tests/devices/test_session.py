"""IISSession (devices/iis/session.py) over real WinRM connections to the simulated endpoint.

The host behind the endpoint is `FakeHost` (tests/iissim/conftest.py), the one faked seam: it answers envelopes the
way the bootstrap would, so these tests pin the session's side of the contract (command line, envelope, chunking,
result parsing, error mapping, security defaults, connection reuse). test_session_lab.py runs the same session
against the real simulated hosts.
"""

from __future__ import annotations

import base64
import json
import math
import socket
from collections.abc import Iterator

import pytest

from devices.iis.errors import (
    AuthFailed,
    DeviceError,
    InsecureTransport,
    OperationFailed,
    ProtocolError,
    Timeout,
    TlsUntrusted,
    Unreachable,
)
from devices.iis.session import (
    BOOTSTRAP_PATH,
    STDIN_CHUNK,
    Endpoint,
    IISSession,
    bootstrap_arguments,
    build_envelope,
    clixml_text,
    parse_result,
)
from tests.iissim.conftest import (
    PASSWORD,
    PROGRESS_CLIXML,
    USER,
    Pki,
    RunningEndpoint,
    StartEndpoint,
    build_pki,
    endpoint_factory,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("session-pki"))


@pytest.fixture
def winrm_endpoint(pki: Pki) -> Iterator[StartEndpoint]:
    with endpoint_factory(pki) as start:
        yield start


SCRIPT = "param($Params)\nSet-OpStep 'read'\n[pscustomobject]@{ name = $Params.name }\n"


def endpoint_for(running: RunningEndpoint, pki_: Pki, scheme: str = "http", **kwargs: object) -> Endpoint:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "scheme": scheme,
        "port": running.http if scheme == "http" else running.https,
        "auth": "ntlm",
        "username": USER,
        "password": PASSWORD,
        "ca_bundle": pki_.ca_pem.decode() if scheme == "https" else None,
        "timeout": 20.0,
    }
    options.update(kwargs)
    return Endpoint(**options)  # type: ignore[arg-type]


def received(running: RunningEndpoint, index: int = -1) -> dict[str, object]:
    return json.loads(running.host.calls[index].stdin)


# -- happy paths ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "auth"),
    [("http", "ntlm"), ("http", "negotiate"), ("https", "ntlm"), ("https", "negotiate"), ("https", "basic")],
)
def test_an_operation_runs_over_each_secure_transport(
    winrm_endpoint: StartEndpoint, pki: Pki, scheme: str, auth: str
) -> None:
    running = winrm_endpoint(auth_methods=("negotiate", "ntlm", "basic"), cbt="strict")
    with IISSession(endpoint_for(running, pki, scheme, auth=auth)) as session:
        data = session.run("host_facts", {"name": "IIS01"}, SCRIPT)
    assert data["op"] == "host_facts"
    assert data["v"] == 1
    assert data["params"] == {"name": "IIS01"}
    if scheme == "http":
        assert running.listener.stats["plaintext"] == 0  # NTLM/Negotiate over HTTP: every message encrypted


def test_basic_over_http_works_only_when_the_device_allows_it(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    endpoint = endpoint_for(running, pki, "http", auth="basic", allow_basic_over_http=True)
    with IISSession(endpoint) as session:
        assert session.run("ping", {}, SCRIPT)["op"] == "ping"


def test_the_command_line_is_the_fixed_bootstrap_whatever_the_parameters(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session:
        session.run("one", {"password": "first"}, SCRIPT)
        session.run("two", {"password": "$(Remove-Item C:\\ -Recurse)"}, "param($Params) 2")
    first, second = (call.command_line for call in running.host.calls)
    assert first == second == " ".join(("powershell.exe", *bootstrap_arguments()))
    assert first.startswith("powershell.exe -NoProfile -NonInteractive -EncodedCommand ")
    assert len(first) <= 8191
    decoded = base64.b64decode(first.rsplit(" ", 1)[1]).decode("utf-16-le")
    assert "$input | Out-String" in decoded
    assert "Remove-Item" not in decoded and "first" not in decoded


def test_parameters_travel_only_in_the_envelope_exactly_as_given(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    params = {
        "password": "P@ss$w0rd'\"`;$(whoami)\r\n",
        "site": "Z\u00fcrich \u2013 \u65e5\u672c",
        "nested": {"list": [1, 2.5, None, True], "empty": []},
    }
    with IISSession(endpoint_for(running, pki)) as session:
        data = session.run("push_and_bind", params, SCRIPT)
    assert data["params"] == params
    stdin = running.host.calls[0].stdin
    assert stdin.isascii()
    assert received(running) == {"op": "push_and_bind", "v": 1, "params": params, "script": SCRIPT}


def test_a_large_envelope_is_sent_in_several_sends(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    blob = base64.b64encode(bytes(300_000)).decode()
    envelope = build_envelope("push_and_bind", {"pfx_b64": blob}, SCRIPT)
    with IISSession(endpoint_for(running, pki)) as session:
        data = session.run("push_and_bind", {"pfx_b64": blob}, SCRIPT)
    assert data["stdin_bytes"] == len(envelope)
    assert running.listener.stats["Send"] == math.ceil(len(envelope) / STDIN_CHUNK) > 1


def test_one_connection_and_one_shell_serve_every_operation_of_a_session(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session:
        for index in range(5):
            session.run("ping", {"i": index}, SCRIPT)
        assert session.round_trips == 1 + 5 * 4  # Create, then Command + Send + Receive + Signal per operation
    assert running.listener.stats["connections"] == 1
    assert running.listener.stats["Create"] == 1
    assert running.listener.open_shells == 0  # deleted on close


def test_progress_records_on_stderr_do_not_spoil_a_success(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session:
        assert session.run("noisy", {}, SCRIPT)["op"] == "noisy"


# -- operation-level failures ---------------------------------------------------------------------------------------


def test_a_reported_failure_raises_operation_failed_and_keeps_the_session(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session:
        with pytest.raises(OperationFailed) as failure:
            session.run("fail", {"code": "pfx_password", "step": "import"}, SCRIPT)
        assert session.run("ping", {}, SCRIPT)["op"] == "ping"
    error = failure.value
    assert (error.code, error.step, error.op, error.retryable) == ("pfx_password", "import", "fail", False)
    assert error.as_dict()["kind"] == "operation_failed"
    assert running.listener.stats["connections"] == 1


def test_output_without_json_is_a_protocol_error(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session, pytest.raises(ProtocolError, match="no JSON result"):
        session.run("nojson", {}, SCRIPT)


def test_a_failure_document_with_exit_code_zero_is_a_protocol_error(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session, pytest.raises(ProtocolError, match="inconsistent"):
        session.run("liar", {}, SCRIPT)


def test_results_are_judged_by_exit_code_and_json_not_by_stderr() -> None:
    assert parse_result("op", 0, b'\xef\xbb\xbf{"ok": true, "data": [1]}\r\n', PROGRESS_CLIXML) == [1]
    assert parse_result("op", 0, b'{"ok": true}', b"") is None
    assert parse_result("op", 0, b'WARNING: a banner\r\n{"ok": true, "data": "caf\\u00e9"}', b"") == "caf\u00e9"
    with pytest.raises(ProtocolError, match="The command line is too long"):
        parse_result("op", 1, b"", b"The command line is too long.\r\n")
    with pytest.raises(ProtocolError, match="inconsistent"):
        parse_result("op", 1, b'{"ok": true, "data": 1}', b"")
    with pytest.raises(OperationFailed) as failure:
        parse_result("op", 1, b'{"ok": false, "error": {"code": "site_missing", "message": "no site"}}', b"")
    assert failure.value.step is None and failure.value.code == "site_missing"


def test_clixml_error_records_are_decoded_for_messages() -> None:
    stderr = (
        b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        b'<S S="Error">Cannot find site &apos;X&apos;_x000D__x000A_</S><S S="Error">At line:1_x000D__x000A_</S></Objs>'
    )
    assert clixml_text(stderr) == "Cannot find site 'X'\r\nAt line:1"
    assert clixml_text(PROGRESS_CLIXML) == ""
    assert clixml_text(b"plain text\r\n") == "plain text"


# -- transport failures ---------------------------------------------------------------------------------------------


def test_a_wrong_password_is_auth_failed(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    with pytest.raises(AuthFailed, match="authentication failed") as failure:
        IISSession(endpoint_for(running, pki, password="wrong")).open()
    assert failure.value.retryable is False
    assert "wrong" not in str(failure.value)


def test_an_untrusted_certificate_is_tls_untrusted_with_the_reason(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    other_ca = pki.other_ca_file.read_text()
    with pytest.raises(TlsUntrusted) as failure:
        IISSession(endpoint_for(running, pki, "https", ca_bundle=other_ca)).open()
    assert "certificate" in failure.value.reason
    assert failure.value.retryable is False
    assert failure.value.as_dict()["reason"] == failure.value.reason


def test_a_certificate_for_another_address_is_tls_untrusted(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint(address="127.0.0.2")  # the listener's certificate names 127.0.0.1 and localhost
    with pytest.raises(TlsUntrusted, match="mismatch"):
        IISSession(endpoint_for(running, pki, "https", host="127.0.0.2")).open()


def test_no_listener_is_unreachable_and_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = Endpoint("127.0.0.1", scheme="http", port=port, auth="ntlm", username=USER, password=PASSWORD)
    with pytest.raises(Unreachable) as failure:
        IISSession(endpoint).open()
    assert failure.value.retryable is True


def test_refused_connections_fault_is_unreachable(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    running.faults.refuse_connections = True
    with pytest.raises(Unreachable):
        IISSession(endpoint_for(running, pki)).open()


def test_auth_failure_fault_is_auth_failed(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    running.faults.auth_failure = True
    with pytest.raises(AuthFailed):
        IISSession(endpoint_for(running, pki, "https")).open()


def test_an_operation_past_the_timeout_is_timeout_and_the_session_recovers(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki, timeout=1.5)) as session:
        with pytest.raises(Timeout) as failure:
            session.run("sleep", {"seconds": 3}, SCRIPT)
        assert failure.value.retryable is True
        assert session.run("ping", {}, SCRIPT)["op"] == "ping"


def test_latency_beyond_the_timeout_is_timeout(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint()
    running.faults.latency_ms = 2500
    with pytest.raises(Timeout):
        IISSession(endpoint_for(running, pki, timeout=1.0)).open()


def test_a_dropped_connection_is_unreachable_and_the_next_operation_reconnects(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    running.faults.drop_connection_on_op = "push_and_bind"
    with IISSession(endpoint_for(running, pki)) as session:
        with pytest.raises(Unreachable) as failure:
            session.run("push_and_bind", {"site": "shop"}, SCRIPT)
        assert failure.value.retryable is True
        assert session.run("list_sites", {}, SCRIPT)["op"] == "list_sites"
    assert [received(running, i)["op"] for i in range(2)] == ["push_and_bind", "list_sites"]
    assert running.listener.stats["connections"] == 2


def test_a_shell_lost_on_the_host_is_replaced_without_failing_the_operation(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki)) as session:
        session.run("ping", {}, SCRIPT)
        running.listener.service.shells.clear()  # what a WinRM service restart or the idle timeout does
        assert session.run("ping", {}, SCRIPT)["op"] == "ping"
    assert running.listener.stats["Create"] == 2


# -- security defaults ----------------------------------------------------------------------------------------------


def test_basic_over_plain_http_is_refused_before_connecting(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    with pytest.raises(InsecureTransport) as failure:
        IISSession(endpoint_for(running, pki, "http", auth="basic")).open()
    assert failure.value.retryable is False
    assert running.listener.stats["connections"] == 0


def test_basic_over_https_without_validation_is_refused_too(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint(auth_methods=("basic",))
    with pytest.raises(InsecureTransport):
        IISSession(endpoint_for(running, pki, "https", auth="basic", verify_tls=False)).open()
    assert running.listener.stats["connections"] == 0


def test_ntlm_over_https_without_validation_still_encrypts_every_message(
    winrm_endpoint: StartEndpoint, pki: Pki
) -> None:
    running = winrm_endpoint()
    with IISSession(endpoint_for(running, pki, "https", verify_tls=False)) as session:
        session.run("ping", {}, SCRIPT)
    assert running.listener.stats["plaintext"] == 0
    assert running.listener.stats["encrypted"] >= 5


def test_an_endpoint_never_shows_its_password_and_rejects_bad_settings() -> None:
    endpoint = Endpoint("iis01", username="svc", password="s3cret-value", ca_bundle="PEM")
    assert "s3cret-value" not in repr(endpoint)
    assert endpoint.effective_port == 5986
    assert Endpoint("iis01", scheme="http").effective_port == 5985
    with pytest.raises(ValueError, match="scheme"):
        Endpoint("iis01", scheme="ftp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="auth"):
        Endpoint("iis01", auth="credssp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Endpoint("iis01", timeout=0)


def test_every_device_error_says_whether_a_retry_can_help() -> None:
    retryable = {cls.kind: cls("x").retryable for cls in (Unreachable, AuthFailed, Timeout, ProtocolError)}
    assert retryable == {"unreachable": True, "auth_failed": False, "timeout": True, "protocol_error": False}
    assert TlsUntrusted("x", reason="expired").retryable is False
    assert OperationFailed("code", "message", "step").retryable is False
    assert isinstance(InsecureTransport("x"), DeviceError)


def test_the_bootstrap_fits_the_command_line_and_defines_the_script_helpers() -> None:
    text = BOOTSTRAP_PATH.read_text()
    assert "function Set-OpStep" in text and "function New-OpError" in text
    arguments = bootstrap_arguments()
    assert len(" ".join(("powershell.exe", *arguments))) < 8191 - 1000  # room to spare under cmd.exe's limit
    compact = base64.b64decode(arguments[-1]).decode("utf-16-le")
    assert not any(line.lstrip().startswith("#") for line in compact.splitlines())


def test_kerberos_without_its_libraries_is_auth_failed_not_a_crash(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    running = winrm_endpoint(auth_methods=("negotiate", "ntlm", "kerberos"))
    with pytest.raises(AuthFailed):
        IISSession(endpoint_for(running, pki, auth="kerberos")).open()
