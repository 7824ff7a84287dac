"""The endpoint's authentication pieces on their own: account matching, channel-binding policy, message framing.

No seam is faked: real pyspnego initiator and acceptor contexts exchange real tokens in memory.
"""

from __future__ import annotations

import base64
import struct

import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from iissim.winrm import encryption
from iissim.winrm.auth import AuthRejected, NegotiateAcceptor, check_basic, find_password, ntlm_cbt_presence

USERS = {"winrm": "Passw0rd!", "CORP\\svc-iis": "S3rvice!"}
GOOD = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x01" * 32)
WRONG = GssChannelBindings(application_data=b"tls-server-end-point:" + b"\x02" * 32)


def handshake(
    username: str, password: str, *, client_bindings: GssChannelBindings | None, cbt: str, protocol: str = "ntlm"
) -> NegotiateAcceptor:
    client = spnego.client(
        username, password, hostname="iis01", service="HTTP", channel_bindings=client_bindings, protocol=protocol
    )
    token = client.step()
    assert token is not None
    acceptor = NegotiateAcceptor("Negotiate", token, USERS)
    while not acceptor.complete:
        out = acceptor.step(token, GOOD, cbt)  # type: ignore[arg-type]  # cbt is a CbtMode literal
        if acceptor.complete:
            break
        assert out is not None
        token = client.step(out)
        assert token is not None
    return acceptor


def test_a_local_account_answers_to_any_machine_prefix_but_a_domain_account_needs_its_domain() -> None:
    assert find_password(USERS, "", "WINRM") == "Passw0rd!"
    assert find_password(USERS, ".", "winrm") == "Passw0rd!"
    assert find_password(USERS, "IIS-SIM01", "winrm") == "Passw0rd!"
    assert find_password(USERS, "corp", "svc-iis") == "S3rvice!"
    assert find_password(USERS, "OTHER", "svc-iis") is None
    assert find_password(USERS, "", "nobody") is None


def test_basic_credentials_are_checked_exactly() -> None:
    def header(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    assert check_basic(USERS, header("winrm:Passw0rd!")) == "winrm"
    assert check_basic(USERS, header("winrm:passw0rd!")) is None
    assert check_basic(USERS, header("CORP\\svc-iis:S3rvice!")) == "CORP\\svc-iis"
    assert check_basic(USERS, "not base64!") is None


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_ntlm_with_the_right_password_completes_and_names_the_user(protocol: str) -> None:
    acceptor = handshake("CORP\\svc-iis", "S3rvice!", client_bindings=GOOD, cbt="strict", protocol=protocol)
    assert acceptor.complete
    assert acceptor.user is not None and acceptor.user.lower().endswith("svc-iis")


def test_ntlm_with_a_wrong_password_is_rejected() -> None:
    with pytest.raises(AuthRejected):
        handshake("winrm", "wrong", client_bindings=None, cbt="off")


def test_relaxed_cbt_accepts_missing_bindings_but_rejects_wrong_ones() -> None:
    assert handshake("winrm", "Passw0rd!", client_bindings=None, cbt="relaxed").complete
    with pytest.raises(AuthRejected):
        handshake("winrm", "Passw0rd!", client_bindings=WRONG, cbt="relaxed")


def test_strict_cbt_rejects_missing_bindings() -> None:
    with pytest.raises(AuthRejected, match="Strict"):
        handshake("winrm", "Passw0rd!", client_bindings=None, cbt="strict")


def test_cbt_off_ignores_even_wrong_bindings() -> None:
    assert handshake("winrm", "Passw0rd!", client_bindings=WRONG, cbt="off").complete


def authenticate_token(bindings: GssChannelBindings | None, protocol: str) -> bytes:
    client = spnego.client("winrm", "Passw0rd!", hostname="iis01", channel_bindings=bindings, protocol=protocol)
    first = client.step()
    assert first is not None
    acceptor = NegotiateAcceptor("Negotiate", first, USERS)
    challenge = acceptor.step(first, None, "off")
    assert challenge is not None
    token = client.step(challenge)
    assert token is not None
    return token


@pytest.mark.parametrize("protocol", ["ntlm", "negotiate"])
def test_the_bindings_of_an_authenticate_message_are_detected(protocol: str) -> None:
    assert ntlm_cbt_presence(authenticate_token(GOOD, protocol)) == "present"
    assert ntlm_cbt_presence(authenticate_token(None, protocol)) == "absent"
    assert ntlm_cbt_presence(b"garbage") == "unknown"


def frame(header: bytes, data: bytes, length: int) -> bytes:
    return (
        b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
        + f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n".encode()
        + b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(header))
        + header
        + data
        + b"--Encrypted Boundary--\r\n"
    )


def test_encrypted_messages_round_trip_and_tampering_is_detected() -> None:
    client = spnego.client(
        "winrm", "Passw0rd!", hostname="iis01", protocol="ntlm", options=spnego.NegotiateOptions.wrapping_winrm
    )
    token = client.step()
    assert token is not None
    acceptor = NegotiateAcceptor("Negotiate", token, USERS)
    challenge = acceptor.step(token, None, "off")
    assert challenge is not None
    acceptor.step(client.step(challenge) or b"", None, "off")
    assert acceptor.complete

    request = b"<s:Envelope>request</s:Envelope>"
    sealed = client.wrap_winrm(request)
    body = frame(sealed.header, sealed.data, len(request))
    assert encryption.unwrap(body, encryption.CONTENT_TYPE_SPNEGO, acceptor.context) == request

    reply = encryption.wrap(b"<s:Envelope>reply</s:Envelope>", acceptor.context)
    assert b"Length=30\r\n" in reply
    start = reply.index(b"octet-stream\r\n") + len(b"octet-stream\r\n")
    (sig_len,) = struct.unpack_from("<i", reply, start)
    header = reply[start + 4 : start + 4 + sig_len]
    data = reply[start + 4 + sig_len : -len(b"--Encrypted Boundary--\r\n")]
    assert client.unwrap_winrm(header, data) == b"<s:Envelope>reply</s:Envelope>"

    second = client.wrap_winrm(request)
    tampered = bytes([second.data[0] ^ 0xFF]) + second.data[1:]
    with pytest.raises(encryption.EncryptionError):
        encryption.unwrap(
            frame(second.header, tampered, len(request)), encryption.CONTENT_TYPE_SPNEGO, acceptor.context
        )
