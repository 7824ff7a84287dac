"""The enrollment rules of the reference (Table 15) and of the group's policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from certificates.compliance import policy_reasons
from certificates.models import Policy
from enrollment.validation import (
    Validity,
    check_challenge_password,
    check_common_name,
    check_country,
    check_crypto,
    check_validity,
    clean_sans,
)

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def policy(**fields: object) -> Policy:
    return Policy(name="p", **fields)  # unsaved: the checks only read it


def test_a_64_character_common_name_is_fine_and_65_is_not() -> None:
    assert check_common_name("a" * 64) == []
    assert check_common_name("a" * 65) == ["Common name can have at most 64 characters (it has 65)."]


@pytest.mark.parametrize("name", ["www.example.test", "*.example.test", "web_01-prod", "Rita Client"])
def test_allowed_common_names(name: str) -> None:
    assert check_common_name(name) == []


@pytest.mark.parametrize("name", ["", "a/b", "x;rm", "caf\u00e9.test", " leading", "a@b", "*"])
def test_refused_common_names(name: str) -> None:
    assert check_common_name(name)


def test_sans_are_split_by_comma_per_type_and_deduplicated() -> None:
    sans, errors = clean_sans({"dns": "a.test, B.test ,a.test", "ip": ["192.0.2.1"], "email": "x@y.test", "uri": ""})
    assert errors == {}
    assert sans == {"dns": ["a.test", "b.test"], "ip": ["192.0.2.1"], "email": ["x@y.test"], "uri": []}


def test_each_bad_san_is_named_by_its_type() -> None:
    _, errors = clean_sans(
        {"dns": ["ok.test", "bad_host..test"], "ip": ["300.1.1.1"], "email": ["nope"], "uri": ["no scheme"]}
    )
    assert set(errors) == {"sans.dns", "sans.ip", "sans.email", "sans.uri"}
    assert "'bad_host..test' is not a valid DNS name." in errors["sans.dns"]
    _, unknown = clean_sans({"upn": ["x"]})
    assert "sans" in unknown


@pytest.mark.parametrize(("value", "ok"), [("US", True), ("de", True), ("", True), ("USA", False), ("U1", False)])
def test_country_is_exactly_two_letters(value: str, ok: bool) -> None:
    assert (check_country(value) == []) is ok


def test_challenge_password_needs_four_kinds_of_characters_and_a_matching_confirmation() -> None:
    assert check_challenge_password("", "") == {}
    assert check_challenge_password("Abcdef1!", "Abcdef1!") == {}
    weak = check_challenge_password("abcdefgh", "abcdefgh")["challenge_password"][0]
    assert "upper-case letter" in weak and "digit" in weak and "special character" in weak
    assert check_challenge_password("Abcdef1!", "Abcdef1?") == {
        "challenge_password_confirm": ["The two passwords do not match."]
    }


def test_validity_counts_calendar_months_and_years() -> None:
    assert Validity(1, "months").end(NOW) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert Validity(13, "months").end(NOW) == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert Validity(1, "years").end(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)
    assert Validity(90, "days").end(NOW) == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_validity_within_the_policy_maximum() -> None:
    limit = policy(max_validity_days=397)
    assert check_validity({"value": 397, "unit": "days"}, limit, NOW)[1] == []
    assert check_validity({"value": 13, "unit": "months"}, limit, NOW)[1] == []
    assert (
        "longer than the group's policy allows (397 days)"
        in check_validity({"value": 2, "unit": "years"}, limit, NOW)[1][0]
    )
    assert check_validity({"value": 0, "unit": "days"}, limit, NOW)[1] == ["The validity must be at least 1."]
    assert check_validity({"value": 3, "unit": "weeks"}, limit, NOW)[1]
    assert check_validity(90, limit, NOW)[1]


def test_key_type_size_and_hash_within_the_policy() -> None:
    strict = policy(allowed_key_types=["rsa"], allowed_rsa_sizes=[3072, 4096], allowed_hashes=["sha384"])
    assert check_crypto(key_type="rsa", key_size=3072, hash_name="sha384", policy=strict, generated=True) == {}
    assert "key_size" in check_crypto(key_type="rsa", key_size=2048, hash_name="sha384", policy=strict, generated=True)
    assert "key_type" in check_crypto(key_type="ec", key_size=256, hash_name="sha384", policy=strict, generated=True)
    assert "hash" in check_crypto(key_type="rsa", key_size=4096, hash_name="sha256", policy=strict, generated=True)


def test_the_portal_generates_only_the_sizes_it_supports() -> None:
    loose = policy(allowed_rsa_sizes=[1024, 2048, 8192], allowed_ec_curves=["P-256", "P-521"])
    assert "key_size" in check_crypto(key_type="rsa", key_size=8192, hash_name="sha256", policy=loose, generated=True)
    assert check_crypto(key_type="rsa", key_size=8192, hash_name="sha256", policy=loose, generated=False) == {}
    assert "key_size" in check_crypto(key_type="ec", key_size=521, hash_name="sha256", policy=loose, generated=True)


def test_compliance_lists_what_a_certificate_breaks() -> None:
    strict = policy(allowed_rsa_sizes=[4096], max_validity_days=90, allowed_hashes=["sha256"])
    problems = policy_reasons(strict, key_type="rsa", key_size=2048, signature_hash="sha1", validity_days=365)
    assert len(problems) == 3
    assert policy_reasons(strict, key_type="rsa", key_size=4096, signature_hash="sha256", validity_days=90) == []
