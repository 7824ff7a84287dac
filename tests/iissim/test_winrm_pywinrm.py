"""The simulated WinRM endpoint against the unmodified pywinrm client (`Protocol`, and `Session.run_ps` for the
command-line limit) over real sockets.

The host behind the endpoint is `FakeHost` (tests/iissim/conftest.py), the one faked seam: these tests are about the
wire, not about IIS.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from tests.iissim.conftest import PASSWORD, USER, Pki, StartEndpoint, _pattern


def protocol(url: str, transport: str, **kwargs: Any) -> Protocol:
    options: dict[str, Any] = {
        "transport": transport,
        "username": USER,
        "password": PASSWORD,
        "server_cert_validation": "ignore",
        "operation_timeout_sec": 5,
        "read_timeout_sec": 10,
        "proxy": None,
    }
    options.update(kwargs)
    return Protocol(url, **options)


def run(client: Protocol, command: str, args: list[str] | None = None, stdin: bytes | None = None, chunk: int = 0):
    shell_id = client.open_shell()
    try:
        command_id = client.run_command(shell_id, command, args or [], console_mode_stdin=stdin is None)
        if stdin is not None:
            size = chunk or len(stdin)
            pieces = [stdin[i : i + size] for i in range(0, len(stdin), size)]
            for index, piece in enumerate(pieces):
                client.send_command_input(shell_id, command_id, piece, end=index == len(pieces) - 1)
        stdout, stderr, rc = client.get_command_output(shell_id, command_id)
        client.cleanup_command(shell_id, command_id)
    finally:
        client.close_shell(shell_id)
    return stdout, stderr, rc


def test_basic_over_http_works_when_the_lab_allows_it(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",), allow_unencrypted=True)
    stdout, _stderr, rc = run(protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "basic"), "hostname")
    assert rc == 0
    assert stdout.startswith(b"hostname\n0 ")


def test_basic_over_https_validates_against_the_lab_ca(winrm_endpoint: StartEndpoint, pki: Pki) -> None:
    endpoint = winrm_endpoint(auth_methods=("basic",))
    client = protocol(
        f"https://127.0.0.1:{endpoint.https}/wsman",
        "ssl",
        server_cert_validation="validate",
        ca_trust_path=str(pki.ca_file),
    )
    _stdout, _stderr, rc = run(client, "hostname")
    assert rc == 0


def test_ntlm_over_http_is_encrypted_and_carries_chunked_stdin(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    payload = _pattern(250_000)
    client = protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm")
    stdout, _stderr, rc = run(client, "powershell", ["-NoProfile -"], stdin=payload, chunk=100_000)
    assert rc == 0
    assert stdout.decode().splitlines()[1] == f"250000 {hashlib.sha256(payload).hexdigest()}"
    assert endpoint.listener.stats["Send"] == 3
    assert endpoint.listener.stats["plaintext"] == 0
    assert endpoint.listener.stats["encrypted"] == 8  # Create, Command, 3 x Send, Receive, Signal, Delete


@pytest.mark.parametrize("cbt", ["strict", "relaxed"])
def test_ntlm_over_https_sends_a_channel_binding_the_endpoint_checks(
    winrm_endpoint: StartEndpoint, pki: Pki, cbt: str
) -> None:
    endpoint = winrm_endpoint(cbt=cbt)
    url = f"https://127.0.0.1:{endpoint.https}/wsman"
    client = protocol(url, "ntlm", server_cert_validation="validate", ca_trust_path=str(pki.ca_file))
    assert run(client, "hostname")[2] == 0
    unbound = protocol(url, "ntlm", server_cert_validation="validate", ca_trust_path=str(pki.ca_file), send_cbt=False)
    if cbt == "strict":
        with pytest.raises(InvalidCredentialsError):
            run(unbound, "hostname")
    else:
        assert run(unbound, "hostname")[2] == 0


def test_a_wrong_password_raises_invalid_credentials(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    client = protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm", password="wrong")
    with pytest.raises(InvalidCredentialsError):
        run(client, "hostname")


def test_basic_over_plain_http_is_refused_by_stock_settings(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint(auth_methods=("negotiate", "basic"))
    with pytest.raises(InvalidCredentialsError):
        run(protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "basic"), "hostname")


def test_unencrypted_ntlm_over_http_is_refused_with_500(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    client = protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm", message_encryption="never")
    with pytest.raises(WinRMTransportError) as error:
        run(client, "hostname")
    assert error.value.code == 500


def test_large_encrypted_output_arrives_over_several_receives(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    stdout, _stderr, rc = run(protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm"), "size", ["300000"])
    assert rc == 0
    assert stdout == _pattern(300_000)
    assert endpoint.listener.stats["Receive"] >= 5


def test_get_command_output_retries_through_operation_timeouts(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    client = protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm", operation_timeout_sec=1, read_timeout_sec=3)
    stdout, _stderr, rc = run(client, "sleep", ["2.5"])
    assert rc == 0
    assert stdout.startswith(b"sleep 2.5")
    assert endpoint.listener.stats["Receive"] >= 3


def test_an_unknown_shell_raises_the_wsman_fault_code(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    client = protocol(f"http://127.0.0.1:{endpoint.http}/wsman", "ntlm")
    with pytest.raises(WSManFaultError) as error:
        client.run_command("11111111-2222-3333-4444-555555555555", "hostname")
    assert error.value.wsman_fault_code == 2150858843


def test_run_ps_hits_the_command_line_limit_past_about_3000_characters(winrm_endpoint: StartEndpoint) -> None:
    endpoint = winrm_endpoint()
    session = winrm.Session(
        f"http://127.0.0.1:{endpoint.http}/wsman",
        auth=(USER, PASSWORD),
        transport="ntlm",
        server_cert_validation="ignore",
    )
    fits = session.run_ps("#" * 3000)
    too_long = session.run_ps("#" * 3100)
    assert fits.status_code == 0
    assert too_long.status_code == 1
    assert too_long.std_err == b"The command line is too long.\r\n"
    assert len(endpoint.host.calls) == 1
