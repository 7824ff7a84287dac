"""Fast PKCS#12 (.pfx / .p12) reading for discovery: certificates first, the private key only when asked for.

`cryptography`'s `load_pkcs12` validates an RSA private key on every load (an RSA key check costs about 38 ms, which
caps it near 26 files per second per core; see notes/pki-tools.md §5) and has no option to skip it. Discovery needs
the certificates of every file but a key only for Managed certificates, and even then only the PKCS#8 bytes: the key
is validated when it is used (push), not when it is found. So this module walks the PFX structure (RFC 7292) itself:

- the MAC is the password check (one key derivation, the cheapest test when several candidate passwords are tried);
- the certificate bags are decrypted with PBES1 (PKCS#12 3DES / RC2) or PBES2 (PBKDF2 + AES / 3DES);
- the shrouded key bag is decrypted only with `extract_key=True` and returned as PKCS#8 DER, unvalidated.

Key derivations run in C: PBKDF2 through `cryptography`, the PKCS#12 KDF (RFC 7292 appendix B, not exposed by
`cryptography`) through the OpenSSL `libcrypto` that Python's own `hashlib` links against, with a pure-Python
fallback. Anything the fast path does not understand (BER indefinite lengths, unusual algorithms) falls back to
`load_pkcs12`, so a valid file is never rejected for being unusual, only read more slowly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from cryptography.hazmat.decrepit.ciphers.algorithms import RC2, TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12

# -- object identifiers (DER-encoded content octets) ----------------------------------------------------------------


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([parts[0] * 40 + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


OID_DATA = _oid("1.2.840.113549.1.7.1")
OID_ENCRYPTED_DATA = _oid("1.2.840.113549.1.7.6")
OID_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.1")
OID_SHROUDED_KEY_BAG = _oid("1.2.840.113549.1.12.10.1.2")
OID_CERT_BAG = _oid("1.2.840.113549.1.12.10.1.3")
OID_X509_CERT = _oid("1.2.840.113549.1.9.22.1")
OID_FRIENDLY_NAME = _oid("1.2.840.113549.1.9.20")
OID_LOCAL_KEY_ID = _oid("1.2.840.113549.1.9.21")
OID_PBES2 = _oid("1.2.840.113549.1.5.13")
OID_PBKDF2 = _oid("1.2.840.113549.1.5.12")

# PKCS#12 PBE (PBES1 with the PKCS#12 KDF): cipher factory, key length, IV length.
PKCS12_PBE = {
    _oid("1.2.840.113549.1.12.1.3"): ("3des", 24, 8),  # pbeWithSHAAnd3-KeyTripleDES-CBC
    _oid("1.2.840.113549.1.12.1.4"): ("3des2", 16, 8),  # pbeWithSHAAnd2-KeyTripleDES-CBC
    _oid("1.2.840.113549.1.12.1.5"): ("rc2", 16, 8),  # pbeWithSHAAnd128BitRC2-CBC
}
PBES2_CIPHERS = {
    _oid("2.16.840.1.101.3.4.1.2"): ("aes", 16),
    _oid("2.16.840.1.101.3.4.1.22"): ("aes", 24),
    _oid("2.16.840.1.101.3.4.1.42"): ("aes", 32),
    _oid("1.2.840.113549.3.7"): ("3des", 24),
}
PRF_HASHES: dict[bytes, Callable[[], hashes.HashAlgorithm]] = {
    _oid("1.2.840.113549.2.7"): hashes.SHA1,
    _oid("1.2.840.113549.2.8"): hashes.SHA224,
    _oid("1.2.840.113549.2.9"): hashes.SHA256,
    _oid("1.2.840.113549.2.10"): hashes.SHA384,
    _oid("1.2.840.113549.2.11"): hashes.SHA512,
}
DIGESTS = {
    _oid("1.3.14.3.2.26"): "sha1",
    _oid("2.16.840.1.101.3.4.2.4"): "sha224",
    _oid("2.16.840.1.101.3.4.2.1"): "sha256",
    _oid("2.16.840.1.101.3.4.2.2"): "sha384",
    _oid("2.16.840.1.101.3.4.2.3"): "sha512",
}
ENCRYPTION_NAMES = {"3des": "3des", "3des2": "3des", "rc2": "rc2", "aes": "aes"}


class PfxError(ValueError):
    """A file could not be read as PKCS#12."""


class PfxFormatError(PfxError):
    """Not a PKCS#12 file, or a damaged one."""


class PfxPasswordError(PfxError):
    """None of the passwords opens the file (a wrong password and a tampered MAC look the same)."""


class _Unsupported(Exception):
    """The fast path does not handle this encoding or algorithm: use `load_pkcs12`."""


@dataclass(frozen=True)
class PfxContents:
    """What a PFX holds. `leaf_der` is the certificate that goes with the key (else the first end-entity one);
    `chain_der` the other certificates; `key_pkcs8` the unvalidated PKCS#8 DER when extracted."""

    leaf_der: bytes
    chain_der: tuple[bytes, ...] = ()
    friendly_name: str = ""
    has_key: bool = False
    key_pkcs8: bytes | None = field(default=None, repr=False)
    encryption: str = "none"
    password_index: int | None = None  # which candidate opened it (None: no password needed)
    fast_path: bool = True


# -- a minimal DER reader -------------------------------------------------------------------------------------------


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`."""
    if pos + 2 > end:
        raise PfxFormatError("truncated ASN.1 element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _Unsupported("multi-byte tag")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise _Unsupported("indefinite length (BER)")
        if count > 4 or pos + count > end:
            raise PfxFormatError("bad ASN.1 length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise PfxFormatError("truncated ASN.1 element")
    return tag, pos, pos + length


Element = tuple[int, int, int, int]  # (tag, content start, content end, header start)


def _children(data: bytes, start: int, end: int) -> list[Element]:
    out = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(data, pos, end)
        out.append((tag, cstart, cend, pos))
        pos = cend
    return out


def _top(data: bytes) -> Element:
    tag, start, end = _tlv(data, 0, len(data))
    return tag, start, end, 0


def _expect(element: Element, tag: int) -> tuple[int, int]:
    if element[0] != tag:
        raise PfxFormatError(f"unexpected ASN.1 tag 0x{element[0]:02x} (wanted 0x{tag:02x})")
    return element[1], element[2]


def _int(data: bytes, element: Element) -> int:
    start, end = _expect(element, 0x02)
    return int.from_bytes(data[start:end], "big", signed=True)


# -- key derivation -------------------------------------------------------------------------------------------------


@cache
def _libcrypto() -> ctypes.CDLL | None:
    """OpenSSL's libcrypto (the one Python's hashlib links), for PKCS12_key_gen_uni; None when unavailable."""
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.EVP_get_digestbyname.restype = ctypes.c_void_p
        lib.EVP_get_digestbyname.argtypes = [ctypes.c_char_p]
        lib.PKCS12_key_gen_uni.restype = ctypes.c_int
        lib.PKCS12_key_gen_uni.argtypes = [
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_void_p,
        ]
    except (OSError, AttributeError):
        return None
    return lib


@cache
def _evp_md(name: str) -> int | None:
    lib = _libcrypto()
    if lib is None:
        return None
    md = lib.EVP_get_digestbyname(name.upper().encode("ascii"))
    return int(md) if md else None


def pkcs12_kdf_python(
    digest: str, password_bmp: bytes, salt: bytes, purpose: int, iterations: int, length: int
) -> bytes:
    """RFC 7292 appendix B.2 in Python (the reference the C path is tested against)."""
    u = hashlib.new(digest).digest_size
    v = hashlib.new(digest).block_size
    d = bytes([purpose]) * v

    def stretch(value: bytes) -> bytes:
        if not value:
            return b""
        size = v * ((len(value) + v - 1) // v)
        return (value * (size // len(value) + 1))[:size]

    i = bytearray(stretch(salt) + stretch(password_bmp))
    out = b""
    while True:
        a = hashlib.new(digest, d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(digest, a).digest()
        out += a
        if len(out) >= length:
            return out[:length]
        b = int.from_bytes((a * (v // u + 1))[:v], "big") + 1
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b) & ((1 << (v * 8)) - 1)
            i[j : j + v] = block.to_bytes(v, "big")


def pkcs12_kdf(digest: str, password_bmp: bytes, salt: bytes, purpose: int, iterations: int, length: int) -> bytes:
    """The PKCS#12 key derivation (purpose 1 = key, 2 = IV, 3 = MAC key), in C when libcrypto is there."""
    lib, md = _libcrypto(), _evp_md(digest)
    if lib is None or md is None:
        return pkcs12_kdf_python(digest, password_bmp, salt, purpose, iterations, length)
    out = ctypes.create_string_buffer(length)
    ok = lib.PKCS12_key_gen_uni(
        password_bmp, len(password_bmp), salt, len(salt), purpose, iterations, length, out, ctypes.c_void_p(md)
    )
    if ok != 1:
        return pkcs12_kdf_python(digest, password_bmp, salt, purpose, iterations, length)
    return out.raw


def _bmp(password: str | None) -> bytes:
    """The PKCS#12 password encoding: BMPString (UTF-16BE) with a two-byte terminator; no password is empty."""
    if password is None:
        return b""
    return password.encode("utf-16-be") + b"\x00\x00"


# -- decryption -----------------------------------------------------------------------------------------------------


def _cbc_decrypt(kind: str, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if kind == "aes":
        algorithm: algorithms.BlockCipherAlgorithm = algorithms.AES(key)
    elif kind in ("3des", "3des2"):
        algorithm = TripleDES(key if kind == "3des" else key + key[:8])
    elif kind == "rc2":
        algorithm = RC2(key)
    else:
        raise _Unsupported(kind)
    if not ciphertext or len(ciphertext) % (algorithm.block_size // 8):
        raise PfxPasswordError("ciphertext is not a whole number of blocks")
    decryptor = Cipher(algorithm, modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithm.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise PfxPasswordError("wrong password (bad padding after decryption)") from None


def _decrypt(data: bytes, algorithm: Element, ciphertext: bytes, password: str | None) -> tuple[bytes, str]:
    """Decrypt with an AlgorithmIdentifier; returns (plaintext, encryption name)."""
    parts = _children(data, *_expect(algorithm, 0x30))
    oid = data[slice(*_expect(parts[0], 0x06))]
    if oid in PKCS12_PBE:
        kind, key_len, iv_len = PKCS12_PBE[oid]
        params = _children(data, *_expect(parts[1], 0x30))
        salt = data[slice(*_expect(params[0], 0x04))]
        rounds = _int(data, params[1])
        bmp = _bmp(password)
        key = pkcs12_kdf("sha1", bmp, salt, 1, rounds, key_len)
        iv = pkcs12_kdf("sha1", bmp, salt, 2, rounds, iv_len)
        return _cbc_decrypt(kind, key, iv, ciphertext), ENCRYPTION_NAMES[kind]
    if oid == OID_PBES2:
        params = _children(data, *_expect(parts[1], 0x30))
        kdf = _children(data, *_expect(params[0], 0x30))
        if data[slice(*_expect(kdf[0], 0x06))] != OID_PBKDF2:
            raise _Unsupported("PBES2 key derivation other than PBKDF2")
        kdf_params = _children(data, *_expect(kdf[1], 0x30))
        salt = data[slice(*_expect(kdf_params[0], 0x04))]
        rounds = _int(data, kdf_params[1])
        prf: Callable[[], hashes.HashAlgorithm] = hashes.SHA1
        for extra in kdf_params[2:]:
            if extra[0] == 0x30:
                prf_oid = data[slice(*_expect(_children(data, extra[1], extra[2])[0], 0x06))]
                if prf_oid not in PRF_HASHES:
                    raise _Unsupported("PBKDF2 PRF")
                prf = PRF_HASHES[prf_oid]
        scheme = _children(data, *_expect(params[1], 0x30))
        cipher_oid = data[slice(*_expect(scheme[0], 0x06))]
        if cipher_oid not in PBES2_CIPHERS:
            raise _Unsupported("PBES2 cipher")
        kind, key_len = PBES2_CIPHERS[cipher_oid]
        iv = data[slice(*_expect(scheme[1], 0x04))]
        # PBES2 inside PKCS#12 takes the password as UTF-8 bytes (as OpenSSL and Windows write it), not as BMP.
        secret = (password or "").encode("utf-8")
        key = PBKDF2HMAC(prf(), key_len, salt, rounds).derive(secret)
        return _cbc_decrypt(kind, key, iv, ciphertext), ENCRYPTION_NAMES[kind]
    raise _Unsupported("encryption algorithm")


def _verify_mac(data: bytes, mac_data: Element, auth_safe: bytes, password: str | None) -> bool:
    parts = _children(data, *_expect(mac_data, 0x30))
    digest_info = _children(data, *_expect(parts[0], 0x30))
    algorithm = _children(data, *_expect(digest_info[0], 0x30))
    digest_oid = data[slice(*_expect(algorithm[0], 0x06))]
    if digest_oid not in DIGESTS:
        raise _Unsupported("MAC digest")
    digest = DIGESTS[digest_oid]
    expected = data[slice(*_expect(digest_info[1], 0x04))]
    salt = data[slice(*_expect(parts[1], 0x04))]
    rounds = _int(data, parts[2]) if len(parts) > 2 else 1
    size = hashlib.new(digest).digest_size
    # An empty password is written either as an empty BMPString with its terminator or as no bytes at all.
    candidates = [_bmp(password)] if password else [b"\x00\x00", b""]
    for bmp in candidates:
        key = pkcs12_kdf(digest, bmp, salt, 3, rounds, size)
        if hmac.compare_digest(hmac.new(key, auth_safe, digest).digest(), expected):
            return True
    return False


# -- bags -----------------------------------------------------------------------------------------------------------


@dataclass
class _Bags:
    certs: list[tuple[bytes, bytes | None, str]] = field(default_factory=list)  # (der, local key id, friendly name)
    keys: list[tuple[bytes, bytes | None, bool]] = field(default_factory=list)  # (bag bytes, local key id, shrouded)
    encryption: str = "none"


def _attributes(data: bytes, element: Element) -> tuple[bytes | None, str]:
    key_id, friendly = None, ""
    for attribute in _children(data, *_expect(element, 0x31)):
        parts = _children(data, *_expect(attribute, 0x30))
        oid = data[slice(*_expect(parts[0], 0x06))]
        values = _children(data, *_expect(parts[1], 0x31))
        if not values:
            continue
        if oid == OID_LOCAL_KEY_ID and values[0][0] == 0x04:
            key_id = data[values[0][1] : values[0][2]]
        elif oid == OID_FRIENDLY_NAME and values[0][0] == 0x1E:
            friendly = data[values[0][1] : values[0][2]].decode("utf-16-be", errors="replace")
    return key_id, friendly


def _read_safe_contents(data: bytes, bags: _Bags) -> None:
    outer = _top(data)
    for bag in _children(data, *_expect(outer, 0x30)):
        parts = _children(data, *_expect(bag, 0x30))
        bag_id = data[slice(*_expect(parts[0], 0x06))]
        value = _children(data, *_expect(parts[1], 0xA0))
        key_id, friendly = _attributes(data, parts[2]) if len(parts) > 2 else (None, "")
        if bag_id == OID_CERT_BAG:
            cert_bag = _children(data, *_expect(value[0], 0x30))
            if data[slice(*_expect(cert_bag[0], 0x06))] != OID_X509_CERT:
                continue
            inner = _children(data, *_expect(cert_bag[1], 0xA0))
            bags.certs.append((data[slice(*_expect(inner[0], 0x04))], key_id, friendly))
        elif bag_id in (OID_SHROUDED_KEY_BAG, OID_KEY_BAG):
            element = value[0]
            bags.keys.append((data[element[3] : element[2]], key_id, bag_id == OID_SHROUDED_KEY_BAG))


def _read_auth_safe(auth_safe: bytes, password: str | None, bags: _Bags) -> None:
    outer = _top(auth_safe)
    for info in _children(auth_safe, *_expect(outer, 0x30)):
        parts = _children(auth_safe, *_expect(info, 0x30))
        content_type = auth_safe[slice(*_expect(parts[0], 0x06))]
        explicit = _children(auth_safe, *_expect(parts[1], 0xA0))
        if content_type == OID_DATA:
            octets = explicit[0]
            if octets[0] != 0x04:
                raise _Unsupported("constructed OCTET STRING")
            _read_safe_contents(auth_safe[octets[1] : octets[2]], bags)
        elif content_type == OID_ENCRYPTED_DATA:
            encrypted = _children(auth_safe, *_expect(explicit[0], 0x30))
            content_info = _children(auth_safe, *_expect(encrypted[1], 0x30))
            if len(content_info) < 3:
                continue
            ciphertext_el = content_info[2]
            if ciphertext_el[0] != 0x80:
                raise _Unsupported("constructed encrypted content")
            ciphertext = auth_safe[ciphertext_el[1] : ciphertext_el[2]]
            plaintext, encryption = _decrypt(auth_safe, content_info[1], ciphertext, password)
            bags.encryption = encryption
            try:
                _read_safe_contents(plaintext, bags)
            except PfxFormatError:
                # Decryption "succeeded" with garbage that happened to have valid padding: a wrong password.
                raise PfxPasswordError("wrong password (decrypted data is not PKCS#12 content)") from None
        else:
            raise _Unsupported("enveloped data")


def _decrypt_key(bag: bytes, shrouded: bool, password: str | None) -> bytes:
    if not shrouded:
        return bag
    outer = _top(bag)
    parts = _children(bag, *_expect(outer, 0x30))
    ciphertext = bag[slice(*_expect(parts[1], 0x04))]
    plaintext, _ = _decrypt(bag, parts[0], ciphertext, password)
    return plaintext


def _choose_leaf(bags: _Bags) -> tuple[int, bytes | None]:
    """Index of the leaf certificate and the local key id of the key that goes with it."""
    key_ids = {key_id for _, key_id, _ in bags.keys if key_id}
    for index, (_, key_id, _) in enumerate(bags.certs):
        if key_id and key_id in key_ids:
            return index, key_id
    return _first_end_entity(bags), None


def _first_end_entity(bags: _Bags) -> int:
    from cryptography import x509

    for index, (der, _, _) in enumerate(bags.certs):
        try:
            constraints = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            return index
        except ValueError:
            continue
        if not constraints.value.ca:
            return index
    return 0


def _open_fast(data: bytes, passwords: Sequence[str | None], extract_key: bool) -> PfxContents:
    outer = _top(data)
    if outer[0] != 0x30 or outer[2] != len(data):
        raise PfxFormatError("not a PKCS#12 file")
    parts = _children(data, outer[1], outer[2])
    if len(parts) < 2 or _int(data, parts[0]) != 3:
        raise PfxFormatError("not a PKCS#12 version 3 file")
    content_info = _children(data, *_expect(parts[1], 0x30))
    if data[slice(*_expect(content_info[0], 0x06))] != OID_DATA:
        raise _Unsupported("public-key integrity mode")
    octets = _children(data, *_expect(content_info[1], 0xA0))[0]
    if octets[0] != 0x04:
        raise _Unsupported("constructed OCTET STRING")
    auth_safe = data[octets[1] : octets[2]]
    mac_data = parts[2] if len(parts) > 2 else None

    # The candidates in order, then no password at all (files exported with an empty password are common).
    candidates: list[tuple[int | None, str | None]] = [*enumerate(passwords), (None, None)]
    last_error: PfxError = PfxPasswordError("none of the passwords opens this file")
    for index, password in candidates:
        if mac_data is not None and not _verify_mac(data, mac_data, auth_safe, password):
            continue
        bags = _Bags()
        try:
            _read_auth_safe(auth_safe, password, bags)
        except PfxPasswordError as exc:
            last_error = exc
            continue
        if not bags.certs:
            raise PfxFormatError("the file holds no certificate")
        leaf_index, key_id = _choose_leaf(bags)
        key_pkcs8 = None
        if extract_key and bags.keys:
            chosen = next((k for k in bags.keys if key_id and k[1] == key_id), bags.keys[0])
            key_pkcs8 = _decrypt_key(chosen[0], chosen[2], password)
        return PfxContents(
            leaf_der=bags.certs[leaf_index][0],
            chain_der=tuple(der for i, (der, _, _) in enumerate(bags.certs) if i != leaf_index),
            friendly_name=bags.certs[leaf_index][2],
            has_key=bool(bags.keys),
            key_pkcs8=key_pkcs8,
            encryption=bags.encryption,
            password_index=index,
        )
    raise last_error


def _open_slow(data: bytes, passwords: Sequence[str | None], extract_key: bool) -> PfxContents:
    """`load_pkcs12` (validates the key: slow) for what the fast path does not parse."""
    candidates: list[tuple[int | None, str | None]] = [*enumerate(passwords), (None, None)]
    for index, password in candidates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # BER fallback warning from cryptography
                loaded = pkcs12.load_pkcs12(data, password.encode("utf-8") if password is not None else None)
        except ValueError as exc:
            if "Could not deserialize" in str(exc):
                raise PfxFormatError("not a PKCS#12 file") from None
            continue
        certs = [(loaded.cert.certificate, loaded.cert.friendly_name)] if loaded.cert else []
        certs += [(c.certificate, c.friendly_name) for c in loaded.additional_certs]
        if not certs:
            raise PfxFormatError("the file holds no certificate")
        ders = [c.public_bytes(serialization.Encoding.DER) for c, _ in certs]
        key_pkcs8 = None
        if extract_key and loaded.key is not None:
            key_pkcs8 = loaded.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        return PfxContents(
            leaf_der=ders[0],
            chain_der=tuple(ders[1:]),
            friendly_name=(certs[0][1] or b"").decode("utf-8", errors="replace"),
            has_key=loaded.key is not None,
            key_pkcs8=key_pkcs8,
            encryption="unknown",
            password_index=index,
            fast_path=False,
        )
    raise PfxPasswordError("none of the passwords opens this file")


def pfx_open(data: bytes, passwords: Iterable[str | None] = (), *, extract_key: bool = False) -> PfxContents:
    """Read a PFX with the first candidate password that opens it (`password_index` says which).

    Raises PfxPasswordError when no candidate opens it and PfxFormatError when it is not PKCS#12.
    """
    candidates = list(passwords)
    try:
        return _open_fast(data, candidates, extract_key)
    except _Unsupported:
        return _open_slow(data, candidates, extract_key)
    except (IndexError, UnicodeDecodeError):
        raise PfxFormatError("damaged PKCS#12 structure") from None
