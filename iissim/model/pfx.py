"""PKCS#12 (PFX) files: which encryption they use (read from the DER, without the password) and loading them.

Windows Server 2016 (build 14393) cannot read PBES2 (AES-256) PFX files; the simulator decides that from the
algorithms found here, the same structure `openssl pkcs12 -info` reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

OID_NAMES = {
    "1.2.840.113549.1.7.1": "data",
    "1.2.840.113549.1.7.6": "encryptedData",
    "1.2.840.113549.1.12.10.1.1": "keyBag",
    "1.2.840.113549.1.12.10.1.2": "pkcs8ShroudedKeyBag",
    "1.2.840.113549.1.12.10.1.3": "certBag",
    "1.2.840.113549.1.5.13": "pbes2",
    "1.2.840.113549.1.5.12": "pbkdf2",
    "1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
    "1.2.840.113549.1.12.1.3": "pbeWithSHAAnd3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "pbeWithSHAAnd2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "1.2.840.113549.2.7": "hmacWithSHA1",
    "1.2.840.113549.2.9": "hmacWithSHA256",
    "1.2.840.113549.2.10": "hmacWithSHA384",
    "1.2.840.113549.2.11": "hmacWithSHA512",
    "2.16.840.1.101.3.4.1.2": "aes128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes192-cbc",
    "2.16.840.1.101.3.4.1.42": "aes256-cbc",
    "1.2.840.113549.3.7": "des-ede3-cbc",
}


class DerError(ValueError):
    pass


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)


def _read_tlv(data: bytes, pos: int) -> tuple[Tlv, int]:
    if pos + 2 > len(data):
        raise DerError("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise DerError("indefinite length (BER) is not supported")
        if count > 4 or pos + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise DerError("truncated")
    return Tlv(tag, data[pos : pos + length]), pos + length


def _children(value: bytes) -> list[Tlv]:
    out: list[Tlv] = []
    pos = 0
    while pos < len(value):
        tlv, pos = _read_tlv(value, pos)
        out.append(tlv)
    return out


def _oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    parts = [value[0] // 40, value[0] % 40]
    acc = 0
    for byte in value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(str(p) for p in parts)


def _name(oid: str) -> str:
    return OID_NAMES.get(oid, oid)


def _algorithm(alg: Tlv) -> str:
    """Describe an AlgorithmIdentifier: PBES2 as `pbes2/pbkdf2/<prf>/<cipher>`, PBES1 by its name."""
    parts = _children(alg.value)
    oid = _oid(parts[0].value)
    if _name(oid) != "pbes2" or len(parts) < 2:
        return _name(oid)
    kdf, scheme = _children(parts[1].value)[:2]
    kdf_parts = _children(kdf.value)
    prf = "hmacWithSHA1"
    if len(kdf_parts) > 1:
        for item in _children(kdf_parts[1].value):
            if item.tag == 0x30:
                prf = _name(_oid(_children(item.value)[0].value))
    cipher = _name(_oid(_children(scheme.value)[0].value))
    return f"pbes2/{_name(_oid(kdf_parts[0].value))}/{prf}/{cipher}"


@dataclass
class PfxAlgorithms:
    """What protects a PFX: the MAC digest and the encryption of its certificate and key bags."""

    mac: str | None = None
    mac_iterations: int | None = None
    certificates: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def uses_pbes2(self) -> bool:
        return any(a.startswith("pbes2") for a in self.certificates + self.keys)

    def as_dict(self) -> dict[str, object]:
        return {
            "mac": self.mac,
            "mac_iterations": self.mac_iterations,
            "certificates": list(self.certificates),
            "keys": list(self.keys),
            "pbes2": self.uses_pbes2,
            **({"error": self.error} if self.error else {}),
        }


def _bags(safe_contents: bytes, result: PfxAlgorithms) -> None:
    for bag in _children(_read_tlv(safe_contents, 0)[0].value):
        parts = _children(bag.value)
        kind = _name(_oid(parts[0].value))
        if kind == "pkcs8ShroudedKeyBag":
            epki = _children(parts[1].value)[0]
            result.keys.append(_algorithm(_children(epki.value)[0]))
        elif kind == "keyBag":
            result.keys.append("none")
        elif kind == "certBag":
            result.certificates.append("none")


def pfx_algorithms(data: bytes) -> PfxAlgorithms:
    """Read the algorithms of a PFX without its password (certificate bags inside encryptedData stay opaque)."""
    result = PfxAlgorithms()
    try:
        pfx, _ = _read_tlv(data, 0)
        parts = _children(pfx.value)
        auth_safe = _children(parts[1].value)
        content = _children(auth_safe[1].value)[0].value  # [0] EXPLICIT OCTET STRING
        for info in _children(_read_tlv(content, 0)[0].value):
            ci = _children(info.value)
            kind = _name(_oid(ci[0].value))
            if kind == "data":
                _bags(_children(ci[1].value)[0].value, result)
            elif kind == "encryptedData":
                encrypted_data = _children(_children(ci[1].value)[0].value)
                eci = _children(encrypted_data[1].value)
                result.certificates.append(_algorithm(eci[1]))
        if len(parts) > 2:
            mac_data = _children(parts[2].value)
            digest_info = _children(mac_data[0].value)
            result.mac = _name(_oid(_children(digest_info[0].value)[0].value))
            result.mac_iterations = int.from_bytes(mac_data[2].value, "big") if len(mac_data) > 2 else 1
    except (DerError, IndexError) as exc:
        result.error = f"not a DER PKCS#12 file ({exc})"
    return result


@dataclass
class LoadedPfx:
    leaf: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None
    chain: list[x509.Certificate]
    friendly_name: str | None


def load_pfx(data: bytes, password: str | None) -> LoadedPfx:
    """Load a PFX with its password; raises ValueError for a wrong password or damaged data (as Windows cannot tell)."""
    pw = password.encode("utf-8") if password else None
    try:
        loaded = pkcs12.load_pkcs12(data, pw)
    except ValueError:
        if pw is not None:
            raise
        loaded = pkcs12.load_pkcs12(data, b"")
    if loaded.cert is None:
        if not loaded.additional_certs:
            raise ValueError("PFX holds no certificate")
        leaf = loaded.additional_certs[0].certificate
        chain = [c.certificate for c in loaded.additional_certs[1:]]
        friendly = loaded.additional_certs[0].friendly_name
    else:
        leaf = loaded.cert.certificate
        chain = [c.certificate for c in loaded.additional_certs]
        friendly = loaded.cert.friendly_name
    key = loaded.key
    if key is not None and not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported key type in PFX")
    return LoadedPfx(
        leaf=leaf,
        key=key,
        chain=chain,
        friendly_name=friendly.decode("utf-8", "replace") if friendly else None,
    )
