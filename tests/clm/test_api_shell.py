"""The API shell: schema, local docs assets, error format, health."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings


def test_the_openapi_schema_describes_the_api(requester: Any, api: Any) -> None:
    response = api(requester).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/auth/token/" in schema["paths"]
    assert "/api/v1/jobs/{id}/" in schema["paths"]


def test_the_api_docs_load_with_every_asset_served_locally(client: Any, requester: Any) -> None:
    client.force_login(requester)
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    import re

    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "the docs page must load its assets from /static/"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_a_method_not_allowed_uses_the_error_format(requester: Any, api: Any) -> None:
    response = api(requester).delete("/api/v1/auth/token/")
    assert response.status_code in {401, 405}
    assert set(response.json()) == {"detail", "errors"}


def test_an_unknown_object_is_a_404_in_the_error_format(admin_user: Any, api: Any) -> None:
    response = api(admin_user).get("/api/v1/jobs/999999/")
    assert response.status_code == 404
    assert response.json()["errors"] == {}


def test_malformed_json_is_a_400_not_a_500(admin_user: Any, api: Any) -> None:
    response = api(admin_user).generic("POST", "/api/v1/jobs/selftest/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_healthz_is_200_when_database_and_broker_answer(client: Any, db: Any, tmp_path: Any) -> None:
    from tests.fixtures.workers import filesystem_broker, use_broker

    url, options = filesystem_broker(tmp_path)
    with use_broker(url, options), override_settings(CELERY_BROKER_URL=url, CELERY_BROKER_TRANSPORT_OPTIONS=options):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.integration
def test_healthz_is_200_on_redis(client: Any, db: Any) -> None:
    from tests.fixtures.workers import use_broker
    from tests.services import broker_url

    with use_broker(broker_url()), override_settings(CELERY_BROKER_URL=broker_url()):
        assert client.get("/healthz").status_code == 200


def test_healthz_is_503_naming_the_broker_when_it_is_down(client: Any, db: Any) -> None:
    from tests.fixtures.workers import use_broker

    dead = "redis://127.0.0.1:1/0"
    with use_broker(dead), override_settings(CELERY_BROKER_URL=dead):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["broker"].startswith("broker unreachable")


@pytest.mark.django_db
def test_the_openapi_schema_generates_without_warnings(tmp_path: Any) -> None:
    # A warning means a generated name (TypeD71Enum) or an untyped path parameter that clients would see.
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi:")
