"""Authentication for the simulated WinRM service: Basic, and NTLM / Negotiate through pyspnego's acceptor.

pyspnego's NTLM acceptor looks the user up in the one file named by the NTLM_USER_FILE environment variable. A
simulator process hosts hundreds of hosts, each with its own local users, so the lookup is routed through a context
variable that holds the user table of the host whose connection is being authenticated (`_users_for_step`). The
acceptor steps run synchronously on the event loop thread with that variable set; nothing else changes in pyspnego.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import spnego
import spnego._ntlm as _spnego_ntlm
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego._ntlm_raw.messages import Authenticate, AvId, NTClientChallengeV2
from spnego._spnego import unpack_token
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from iissim.contract import CbtMode

_users_for_step: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "iissim_ntlm_users", default=None
)
_SENTINEL_STORE = "iissim:host-users"
_original_get_credential_file = _spnego_ntlm._get_credential_file
_original_get_credential = _spnego_ntlm._get_credential


def split_user(name: str) -> tuple[str, str]:
    """`DOMAIN\\user` -> (DOMAIN, user); `user` and `user@domain` keep an empty domain."""
    if "\\" in name:
        domain, user = name.split("\\", 1)
        return domain, user
    return "", name


def find_password(users: dict[str, str], domain: str, user: str) -> str | None:
    """The password of a local account as Windows matches it: user names are case-insensitive, and an account
    configured without a domain also answers to `.\\user` and to `HOST\\user` (any machine-name prefix)."""
    wanted_domain = domain.upper()
    for key, password in users.items():
        key_domain, key_user = split_user(key)
        if key_user.upper() != user.upper():
            continue
        if not key_domain or wanted_domain in {"", ".", key_domain.upper()}:
            return password
    return None


def _get_credential_file() -> str | None:
    if _users_for_step.get() is not None:
        return _SENTINEL_STORE
    return _original_get_credential_file()


def _get_credential(
    store: str | None, domain: str | None = None, username: str | None = None
) -> tuple[str | None, str | None, bytes, bytes]:
    users = _users_for_step.get()
    if users is None or store != _SENTINEL_STORE:
        return _original_get_credential(store, domain, username)
    password = find_password(users, domain or "", username or "")
    if password is None:
        raise SpnegoError(context_msg="no such user on this host")
    return domain, username, lmowfv1(password), ntowfv1(password)


_spnego_ntlm._get_credential_file = _get_credential_file
_spnego_ntlm._get_credential = _get_credential


@contextmanager
def host_users(users: dict[str, str]) -> Iterator[None]:
    token = _users_for_step.set(users)
    try:
        yield
    finally:
        _users_for_step.reset(token)


def check_basic(users: dict[str, str], header_value: str) -> str | None:
    """The authenticated user name for an `Authorization: Basic ...` value, or None."""
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    if not sep:
        return None
    domain, user = split_user(name)
    expected = find_password(users, domain, user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        return None
    return name


def tls_channel_bindings(cert_pem: bytes) -> GssChannelBindings:
    """RFC 5929 tls-server-end-point bindings of the listener's leaf certificate, as both clients compute them."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    else:
        hasher = hashes.Hash(algorithm)
        hasher.update(cert.public_bytes(Encoding.DER))
        digest = hasher.finalize()
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest)


CbtPresence = Literal["absent", "zero", "present", "unknown"]


def ntlm_cbt_presence(token: bytes) -> CbtPresence:
    """Whether an NTLM AUTHENTICATE (raw or inside SPNEGO) carries channel bindings. pyspnego's acceptor treats an
    all-zero value as 'no bindings' and a missing one as an error, which matches neither Strict nor Relaxed on its
    own, so the endpoint decides itself from this."""
    try:
        raw = token
        if not token.startswith(b"NTLMSSP\x00"):
            parsed = unpack_token(token)
            raw = getattr(parsed, "response_token", None) or getattr(parsed, "mech_token", None) or b""
        if not raw.startswith(b"NTLMSSP\x00") or raw[8] != 3:
            return "unknown"
        auth = Authenticate.unpack(raw)
        response = auth.nt_challenge_response or b""
        if len(response) <= 24:
            return "absent"
        av_pairs = NTClientChallengeV2.unpack(response[16:]).av_pairs
    except Exception:  # a malformed token is the acceptor's business; it will reject it
        return "unknown"
    value = av_pairs.get(AvId.channel_bindings)
    if value is None:
        return "absent"
    return "zero" if value == b"\x00" * 16 else "present"


class AuthRejected(Exception):
    """The client's credentials or token were refused: answer 401."""


class NegotiateAcceptor:
    """One NTLM or SPNEGO acceptor for one TCP connection (NTLM authenticates the connection, not the request)."""

    def __init__(self, scheme: str, first_token: bytes, users: dict[str, str]) -> None:
        self.scheme = scheme  # "Negotiate" or "NTLM", echoed in WWW-Authenticate
        self._users = users
        raw_ntlm = first_token.startswith(b"NTLMSSP\x00")
        self.protocol = "ntlm" if raw_ntlm else "negotiate"
        with host_users(users):
            self.context = spnego.server(
                protocol=self.protocol,
                options=spnego.NegotiateOptions.use_ntlm if raw_ntlm else spnego.NegotiateOptions.use_negotiate,
            )
        self.user: str | None = None

    @property
    def complete(self) -> bool:
        return bool(self.context.complete)

    def step(self, token: bytes, bindings: GssChannelBindings | None, cbt: CbtMode) -> bytes | None:
        """Feed one client token; returns the token to send back (None when there is none)."""
        use_bindings = None
        if bindings is not None and cbt != "off":
            presence = ntlm_cbt_presence(token)
            if presence in {"present", "unknown"}:
                use_bindings = bindings
            elif cbt == "strict" and presence in {"absent", "zero"}:
                raise AuthRejected("channel binding token required (CbtHardeningLevel=Strict)")
        try:
            with host_users(self._users):
                out = self.context.step(token, channel_bindings=use_bindings)
        except Exception as exc:  # SpnegoError subclasses and ValueError for malformed tokens
            raise AuthRejected(str(exc)) from exc
        if self.context.complete:
            self.user = self._client_user()
        return out

    def _client_user(self) -> str:
        principal = getattr(self.context, "client_principal", None)
        return str(principal) if principal else "unknown"
