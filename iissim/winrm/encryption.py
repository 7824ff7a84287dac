"""WinRM message encryption over HTTP (MS-WSMV 2.2.9.1.1, the SPNEGO variant), server side.

A request body is one MIME part pair: a header part carrying the plaintext length and a binary part holding
`<int32 LE signature length><signature><sealed SOAP>`, closed by `--Encrypted Boundary--\\r\\n`. The response uses the
same framing and the same Content-Type, or pywinrm does not decrypt it (winrm-protocol.md §1.3).
"""

from __future__ import annotations

import re
import struct
from typing import Any

PROTOCOL_SPNEGO = "application/HTTP-SPNEGO-session-encrypted"
CONTENT_TYPE_SPNEGO = f'multipart/encrypted;protocol="{PROTOCOL_SPNEGO}";boundary="Encrypted Boundary"'

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_PROTOCOL = re.compile(r'protocol="?([^";]+)"?', re.IGNORECASE)
_LENGTH = re.compile(rb"Length=(\d+)")
_OCTET = b"\tContent-Type: application/octet-stream\r\n"


class EncryptionError(ValueError):
    """The encrypted body is malformed or does not decrypt with this connection's security context."""


def is_encrypted(content_type: str) -> bool:
    lowered = content_type.lower()
    return lowered.startswith("multipart/encrypted") or lowered.startswith("multipart/x-multi-encrypted")


def unwrap(body: bytes, content_type: str, context: Any) -> bytes:
    """Decrypt a request body with the connection's completed pyspnego context."""
    boundary_match = _BOUNDARY.search(content_type)
    protocol_match = _PROTOCOL.search(content_type)
    if not boundary_match or not protocol_match:
        raise EncryptionError("multipart/encrypted without boundary or protocol")
    if protocol_match.group(1).lower() != PROTOCOL_SPNEGO.lower():
        raise EncryptionError(f"unsupported encryption protocol {protocol_match.group(1)}")
    marker = b"--" + boundary_match.group(1).encode()
    end = marker + b"--\r\n"
    if not body.endswith(end):
        raise EncryptionError("encrypted body lacks its closing boundary")
    body = body[: -len(end)]

    # SPNEGO sends exactly one part per message; the sealed bytes run to the closing boundary.
    if not body.startswith(marker + b"\r\n"):
        raise EncryptionError("expected a MIME boundary")
    header_start = len(marker) + 2
    header_end = body.find(marker + b"\r\n", header_start)
    if header_end < 0:
        raise EncryptionError("encrypted body has no data part")
    length_match = _LENGTH.search(body, header_start, header_end)
    if not length_match:
        raise EncryptionError("OriginalContent has no Length")
    expected = int(length_match.group(1))
    data_start = header_end + len(marker) + 2
    if not body.startswith(_OCTET, data_start):
        raise EncryptionError("data part is not application/octet-stream")
    data_start += len(_OCTET)
    if len(body) < data_start + 4:
        raise EncryptionError("truncated encrypted data")
    (sig_len,) = struct.unpack_from("<i", body, data_start)
    sig_start = data_start + 4
    signature = body[sig_start : sig_start + sig_len]
    sealed = body[sig_start + sig_len :]
    try:
        plain: bytes = context.unwrap_winrm(signature, sealed)
    except Exception as exc:  # pyspnego raises several types for a bad signature
        raise EncryptionError(f"message does not decrypt: {exc}") from exc
    if len(plain) != expected:
        raise EncryptionError(f"decrypted length {len(plain)} != OriginalContent Length {expected}")
    return plain


def wrap(plain: bytes, context: Any) -> bytes:
    """Encrypt a response body; the caller sends it with CONTENT_TYPE_SPNEGO."""
    result = context.wrap_winrm(plain)
    length = len(plain) + result.padding_length
    return b"".join(
        (
            b"--Encrypted Boundary\r\n",
            f"\tContent-Type: {PROTOCOL_SPNEGO}\r\n".encode(),
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n".encode(),
            b"--Encrypted Boundary\r\n",
            _OCTET,
            struct.pack("<i", len(result.header)),
            result.header,
            result.data,
            b"--Encrypted Boundary--\r\n",
        )
    )
