"""The simulated WinRM endpoint against the unmodified pypsrp client (`WSMan` + `WinRS` + `Process`) over real sockets.

The host behind the endpoint is `FakeHost` (tests/iissim/conftest.py), the one faked seam: these tests are about the
wire (HTTP, authentication, encryption, TLS, WinRS actions, faults), not about IIS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.shell import Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from tests.iissim.conftest import PASSWORD, USER, Pki, RunningEndpoint, StartEndpoint, _pattern

SHELL_NOT_FOUND = 2150858843
MAX_SHELLS = 2150859173


def wsman(port: int, **kwargs: Any) -> WSMan:
    options: dict[str, Any] = {
        "port": port,
        "ssl": False,
        "username": USER,
        "password": PASSWORD,
        "auth": "ntlm",
        "cert_validation": False,
        "no_proxy": True,
        "operation_timeout": 5,
        "read_timeout": 10,
        "connection_timeout": 5,
    }
    options.update(kwargs)
    return WSMan("127.0.0.1", **options)


def run(
    client: WSMan, command: str, args: list[str] | None = None, stdin: bytes | None = None, chunk: int = 0
) -> Process:
    with WinRS(client) as shell:
        process = Process(shell, command, args)
        process.begin_invoke()
        if stdin is not None:
            size = chunk or max(len(stdin), 1)
            pieces = [stdin[i : i + size] for i in range(0, len(stdin), size)] or [b""]
            for index, piece in enumerate(pieces):
                process.send(piece, end=index == len(pieces) - 1)
        process.end_invoke()
        process.signal(SignalCode.TERMINATE)
    return process


def envelope(op: str, **params: Any) -> bytes:
    return json.dumps({"op": op, "v": 1, "params": params, "script": "param($Params) 1"}).encode()


# -- authentication and encryption ----------------------------------------------------------------------------------


def test_basic_over_http_works_when_the_lab_allows_unencrypted_basic(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    with wsman(endpoint.http, auth="basic", encryption="never") as client:
        process = run(client, "hostname")
    assert process.rc == 0
    assert process.stdout.startswith(b"hostname\n0 ")
    assert endpoint.listener.stats["plaintext"] == 5  # Create, Command, Receive, Signal, Delete
    assert endpoint.listener.open_shells == 0


def test_basic_over_https_validates_the_lab_certificate(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint(auth_methods=("negotiate", "ntlm", "basic"))
    with wsman(endpoint.https, ssl=True, auth="basic", cert_validation=str(pki.ca_file)) as client:
        process = run(client, "hostname")
    assert process.rc == 0
    assert endpoint.listener.stats["plaintext"] == 5


def test_ntlm_over_http_encrypts_every_message(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, auth="ntlm") as client:
        process = run(client, "hostname")
    assert process.rc == 0
    assert endpoint.listener.stats["encrypted"] == 5
    assert endpoint.listener.stats["plaintext"] == 0


def test_negotiate_spnego_over_http_authenticates_and_encrypts(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("negotiate",))
    with wsman(endpoint.http, auth="negotiate") as client:
        process = run(client, "hostname")
    assert process.rc == 0
    assert endpoint.listener.stats["encrypted"] == 5


def test_a_domain_qualified_local_account_is_accepted(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, auth="ntlm", username=f"IIS-SIM01\\{USER}") as client:
        assert run(client, "hostname").rc == 0


@pytest.mark.parametrize("cbt", ["strict", "relaxed", "off"])
def test_ntlm_over_https_with_channel_binding_is_accepted(winrm_endpoint: StartEndpoint, pki: Pki, cbt: str) -> None:
    endpoint = winrm_endpoint(cbt=cbt)
    with wsman(endpoint.https, ssl=True, auth="ntlm", cert_validation=str(pki.ca_file)) as client:
        assert run(client, "hostname").rc == 0
    assert endpoint.listener.stats["plaintext"] == 5  # inside TLS, no message encryption


def test_strict_cbt_rejects_a_client_that_sends_no_channel_binding(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint(cbt="strict")
    client = wsman(
        endpoint.https, ssl=True, auth="negotiate", cert_validation=str(pki.ca_file), negotiate_send_cbt=False
    )
    with client, pytest.raises(AuthenticationError):
        run(client, "hostname")


def test_relaxed_cbt_accepts_a_client_that_sends_no_channel_binding(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint(cbt="relaxed")
    client = wsman(
        endpoint.https, ssl=True, auth="negotiate", cert_validation=str(pki.ca_file), negotiate_send_cbt=False
    )
    with client:
        assert run(client, "hostname").rc == 0


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_a_wrong_password_is_rejected(winrm_endpoint: StartEndpoint, auth: str) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, auth=auth, password="not-the-password") as client, pytest.raises(AuthenticationError):
        run(client, "hostname")
    assert endpoint.host.calls == []


def test_a_wrong_basic_password_is_rejected(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",))
    client = wsman(endpoint.https, ssl=True, auth="basic", cert_validation=str(pki.ca_file), password="nope")
    with client, pytest.raises(AuthenticationError):
        run(client, "hostname")


def test_an_untrusted_certificate_fails_validation(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint()
    client = wsman(endpoint.https, ssl=True, auth="ntlm", cert_validation=str(pki.other_ca_file))
    with client, pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        run(client, "hostname")
    assert endpoint.listener.stats.get("http", 0) == 0


def test_unencrypted_soap_over_http_is_refused_by_default(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, auth="ntlm", encryption="never") as client, pytest.raises(WinRMTransportError) as error:
        run(client, "hostname")
    assert error.value.code == 500
    assert endpoint.host.calls == []


def test_unencrypted_soap_over_http_is_served_when_the_lab_allows_it(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(allow_unencrypted=True)
    with wsman(endpoint.http, auth="ntlm", encryption="never") as client:
        assert run(client, "hostname").rc == 0
    assert endpoint.listener.stats["plaintext"] == 5


def test_basic_is_refused_by_default_even_over_https(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint()
    client = wsman(endpoint.https, ssl=True, auth="basic", cert_validation=str(pki.ca_file))
    with client, pytest.raises(AuthenticationError):
        run(client, "hostname")


def test_basic_over_http_is_refused_when_unencrypted_traffic_is_not_allowed(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("negotiate", "basic"))
    with wsman(endpoint.http, auth="basic", encryption="never") as client, pytest.raises(AuthenticationError):
        run(client, "hostname")


# -- WinRS ----------------------------------------------------------------------------------------------------------


def test_large_stdin_arrives_whole_over_several_sends(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    payload = _pattern(300_000)
    with wsman(endpoint.http) as client:
        process = run(client, "powershell.exe", ["-NoProfile", "-"], stdin=payload, chunk=100_000)
    assert process.stdout.decode().splitlines()[1] == f"300000 {hashlib.sha256(payload).hexdigest()}"
    assert endpoint.listener.stats["Send"] == 3
    assert endpoint.host.calls[0].command_line == "powershell.exe -NoProfile -"


def test_large_output_is_split_over_several_receives(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client:
        process = run(client, "size", ["1000000"])
    assert process.stdout == _pattern(1_000_000)
    assert endpoint.listener.stats["Receive"] >= 16


def test_large_stderr_is_delivered_too(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client:
        process = run(client, "errsize", ["200000"])
    assert process.stderr == _pattern(200_000)
    assert process.stdout == b""


def test_a_receive_with_nothing_ready_times_out_and_the_client_polls_again(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, operation_timeout=1, read_timeout=5) as client:
        process = run(client, "sleep", ["2.5"])
    assert process.rc == 0
    assert process.stdout.startswith(b"sleep 2.5")
    assert endpoint.listener.stats["Receive"] >= 3  # at least two w:TimedOut faults, then the output


def test_a_command_waits_for_the_end_of_stdin_before_it_runs(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, operation_timeout=1) as client, WinRS(client) as shell:
        process = Process(shell, "powershell.exe", ["-"])
        process.begin_invoke()
        process.send(b"first half ", end=False)
        process.poll_invoke()  # no End yet: the OperationTimeout fault, swallowed by pypsrp
        assert process.rc is None
        assert endpoint.host.calls == []
        process.send(b"second half", end=True)
        process.end_invoke()
    assert endpoint.host.calls[0].stdin == b"first half second half"


def test_an_unknown_shell_gives_the_shell_not_found_fault(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client:
        shell = WinRS(client)
        shell.open()
        shell.close()  # deleted on the host; the client still knows its ShellId
        with pytest.raises(WSManFaultError) as error:
            Process(shell, "hostname").begin_invoke()
    assert error.value.code == SHELL_NOT_FOUND


def test_a_command_line_over_8191_characters_is_refused_as_cmd_exe_does(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client:
        too_long = run(client, "echo", ["x" * 8186 + "y"])  # 8,192 characters
        at_limit = run(client, "echo", ["x" * 8186])  # 8,191 characters
    assert too_long.rc == 1
    assert too_long.stderr == b"The command line is too long.\r\n"
    assert at_limit.rc == 0
    assert [len(call.command_line) for call in endpoint.host.calls] == [8191]


def test_a_terminated_command_is_gone(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http, operation_timeout=1) as client, WinRS(client) as shell:
        process = Process(shell, "sleep", ["3"])
        process.begin_invoke()
        process.poll_invoke()
        process.signal(SignalCode.TERMINATE)
        with pytest.raises(WSManFaultError):
            process.poll_invoke()


def test_a_user_gets_at_most_30_shells(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client:
        shells = [WinRS(client) for _ in range(30)]
        for shell in shells:
            shell.open()
        with pytest.raises(WSManFaultError) as error:
            WinRS(client).open()
        assert error.value.code == MAX_SHELLS
        shells[0].close()
        extra = WinRS(client)
        extra.open()
        extra.close()
        for shell in shells[1:]:
            shell.close()
    assert endpoint.listener.open_shells == 0


def test_one_connection_serves_many_commands(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    with wsman(endpoint.http) as client, WinRS(client) as shell:
        for index in range(5):
            process = Process(shell, "echo", [str(index)])
            process.invoke()
            process.signal(SignalCode.TERMINATE)
            assert process.stdout.startswith(f"echo {index}".encode())
    assert endpoint.listener.stats["connections"] == 1


def test_an_envelope_over_max_envelope_size_gets_413(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(max_envelope_kb=150)
    with wsman(endpoint.http) as client, pytest.raises(WinRMTransportError) as error:
        run(client, "powershell.exe", ["-"], stdin=_pattern(200_000))
    assert error.value.code == 413


# -- transport faults -----------------------------------------------------------------------------------------------


def test_latency_fault_delays_every_response(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    endpoint.faults.latency_ms = 1500
    with wsman(endpoint.http, read_timeout=1) as client, pytest.raises(requests.exceptions.ReadTimeout):
        run(client, "hostname")
    endpoint.faults.latency_ms = 0
    with wsman(endpoint.http) as client:
        assert run(client, "hostname").rc == 0


def test_refused_connections_fault_resets_new_connections(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint()
    endpoint.faults.refuse_connections = True
    with wsman(endpoint.http) as client, pytest.raises(requests.exceptions.ConnectionError):
        run(client, "hostname")
    https = wsman(endpoint.https, ssl=True, cert_validation=str(pki.ca_file))
    with https, pytest.raises(requests.exceptions.ConnectionError):
        run(https, "hostname")
    endpoint.faults.refuse_connections = False
    with wsman(endpoint.http) as client:
        assert run(client, "hostname").rc == 0


def test_auth_failure_fault_rejects_correct_credentials(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    endpoint.faults.auth_failure = True
    with wsman(endpoint.http) as client, pytest.raises(AuthenticationError):
        run(client, "hostname")
    endpoint.faults.auth_failure = False
    with wsman(endpoint.http) as client:
        assert run(client, "hostname").rc == 0


def start_and_receive(client: WSMan, command: str, stdin: bytes | None = None) -> None:
    """Run a command without the shell's clean-up: after a dropped connection pypsrp's encryption context is gone,
    so a Delete on a new connection could only fail."""
    shell = WinRS(client)
    shell.open()
    process = Process(shell, command, [])
    process.begin_invoke()
    if stdin is not None:
        process.send(stdin, end=True)
    process.end_invoke()


def test_drop_fault_cuts_the_connection_while_the_named_op_runs(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    endpoint.faults.drop_connection_on_op = "push_and_bind"
    with wsman(endpoint.http) as client, pytest.raises(requests.exceptions.ConnectionError):
        start_and_receive(client, "powershell.exe", stdin=envelope("push_and_bind", site="Default Web Site"))
    # The host ran the operation to the end before the connection dropped; only the client lost the answer.
    assert [json.loads(call.stdin)["op"] for call in endpoint.host.calls] == ["push_and_bind"]
    assert endpoint.host.calls[0].finished > 0
    with wsman(endpoint.http) as client:
        other = run(client, "powershell.exe", ["-"], stdin=envelope("list_sites"))
    assert json.loads(other.stdout)["data"]["op"] == "list_sites"


def test_drop_fault_with_a_star_cuts_any_command(winrm_endpoint: StartEndpoint) -> None:
    endpoint: RunningEndpoint = winrm_endpoint()
    endpoint.faults.drop_connection_on_op = "*"
    with wsman(endpoint.http) as client, pytest.raises(requests.exceptions.ConnectionError):
        start_and_receive(client, "hostname")
