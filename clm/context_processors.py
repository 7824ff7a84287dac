"""Template context shared by every page: the navigation and the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clm.navigation import NAVIGATION, item_url
from clm.roles import has_role, user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "user_roles": []}
    path = request.path
    sections = []
    for section in NAVIGATION:
        items = []
        for item in section.items:
            if item.roles and not has_role(user, *item.roles):
                continue
            url, built = item_url(item)
            active = path == url or (url != "/" and path.startswith(url))
            items.append({"label": item.label, "url": url, "built": built, "active": active})
        if items:
            sections.append({"label": section.label, "items": items})
    return {"nav_sections": sections, "user_roles": sorted(user_roles(user))}
