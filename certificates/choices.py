"""Vocabularies of the inventory."""

from django.db import models


class CertificateStatus(models.TextChoices):
    """The reference's inventory statuses: Managed certificates are acted on (renew, push); Monitored are watched.

    Discovered: found by a discovery whose "Move Certificate to Inventory with Status" was "Do not move". Such a
    certificate (with its locations) is kept out of the inventory lists until someone moves it in.
    """

    MANAGED = "managed", "Managed"
    MONITORED = "monitored", "Monitored"
    DISCOVERED = "discovered", "Not in inventory"


# A certificate's status only ever moves up this ladder through discovery (never from Managed back to Monitored).
STATUS_RANK = {CertificateStatus.DISCOVERED: 0, CertificateStatus.MONITORED: 1, CertificateStatus.MANAGED: 2}
INVENTORY_STATUSES = (CertificateStatus.MANAGED, CertificateStatus.MONITORED)


class CertificateSource(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    ENROLLED = "enrolled", "Enrolled"
    UPLOADED = "uploaded", "Uploaded"


class KeyType(models.TextChoices):
    RSA = "rsa", "RSA"
    EC = "ec", "EC"
    DSA = "dsa", "DSA"
    ED25519 = "ed25519", "Ed25519"
    ED448 = "ed448", "Ed448"


class HashFunction(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    SHA384 = "sha384", "SHA-384"
    SHA512 = "sha512", "SHA-512"
    SHA1 = "sha1", "SHA-1"


class KeyLocation(models.TextChoices):
    """Where a certificate's private key lives."""

    PORTAL = "portal", "In the portal (encrypted)"
    HSM = "hsm", "On an HSM"
    ENDPOINT = "endpoint", "On the endpoint"


EC_CURVE_SIZES = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}


class InventoryKind(models.TextChoices):
    """The two inventory pages: Client holds clientAuth-only certificates, Server everything else."""

    SERVER = "server", "Server"
    CLIENT = "client", "Client"


class LocationKind(models.TextChoices):
    STORE = "store", "Certificate store"
    FILE = "file", "File"


class LocationState(models.TextChoices):
    """A file location is Locked when no candidate password opens it (found, not dropped), Unreadable when it is
    not a PKCS#12 file at all."""

    OK = "ok", "OK"
    LOCKED = "locked", "Locked (password unknown)"
    UNREADABLE = "unreadable", "Unreadable"


class BindingKind(models.TextChoices):
    """What uses a certificate: an IIS site binding, an FTP site's SSL setting, or an HTTP.sys SSL binding that no
    site owns (netsh http add sslcert)."""

    SITE = "site", "Site binding"
    FTP = "ftp", "FTP site"
    HTTP_SYS = "http_sys", "HTTP.sys binding"


STORE_NAMES = {"my": "My", "personal": "My", "webhosting": "WebHosting", "web hosting": "WebHosting"}
