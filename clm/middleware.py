"""Middleware that binds a request id and the client's address for logs and audit events."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from clm import context

HEADER = "X-Request-ID"


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else context.new_request_id()
        with context.bound(request_id=request_id, source_ip=client_ip(request)):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response
