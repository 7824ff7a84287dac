"""The left navigation, in the reference's order (UI.md "Frame").

An entry names the URL of its page. Until an issue builds that page, the entry leads to a plain "not built yet"
page that says which issue brings it -- never a fake page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    slug: str
    issue: str = ""
    roles: tuple[str, ...] = ()  # empty: every signed-in user


@dataclass(frozen=True)
class NavSection:
    label: str
    items: tuple[NavItem, ...] = field(default_factory=tuple)


NAVIGATION: tuple[NavSection, ...] = (
    NavSection("Dashboard", (NavItem("Dashboard", "dashboard", "dashboard"),)),
    NavSection("Device Management", (NavItem("Server", "devices:device_list", "servers", "[onboarding]"),)),
    NavSection(
        "Discovery",
        (
            NavItem("Managed Devices Scan", "discovery:discovery_list", "discovery", "[discovery]"),
            NavItem("Runs", "discovery:run_list", "discovery-runs", "[discovery]"),
        ),
    ),
    NavSection(
        "Inventory",
        (
            NavItem("Server", "certificates:server_list", "inventory-server", "[discovery]"),
            NavItem("Client", "certificates:client_list", "inventory-client", "[discovery]"),
        ),
    ),
    NavSection(
        "Enroll",
        (
            NavItem("Server", "enrollment:enroll_server", "enroll-server", "[enrollment]"),
            NavItem("Client", "enrollment:enroll_client", "enroll-client", "[enrollment]"),
        ),
    ),
    NavSection(
        "Push to Device",
        (
            NavItem("Server", "connectors:push_server", "push-server", "[push]"),
            NavItem("Client", "connectors:push_client", "push-client", "[push]"),
        ),
    ),
    NavSection("Work Orders", (NavItem("Work Orders", "workorders:workorder_list", "work-orders", "[enrollment]"),)),
    NavSection(
        "Groups & Policies", (NavItem("Groups & Policies", "certificates:group_list", "groups", "[discovery]"),)
    ),
    NavSection(
        "Reports",
        (
            NavItem("Push Validation", "connectors:push_validation_report", "report-push-validation", "[push]"),
            NavItem("Expiry", "certificates:expiry_report", "report-expiry", "[discovery]"),
        ),
    ),
    NavSection(
        "Settings",
        (
            NavItem("General", "connectors:general_settings", "settings-general", "[push]", ("administrator",)),
            NavItem("CA Accounts", "enrollment:ca_account_list", "settings-ca-accounts", "[enrollment]"),
            NavItem(
                "Credential List", "vaults:credential_list", "settings-credentials", "[onboarding]", ("administrator",)
            ),
            NavItem("Vaults", "vaults:vault_list", "settings-vaults", "vault integration", ("administrator",)),
            NavItem("Gateways", "devices:gateway_list", "settings-gateways", "[onboarding]", ("administrator",)),
            NavItem("Users", "user_list", "settings-users", "", ("administrator",)),
            NavItem("Jobs", "job_list", "jobs", "", ("administrator", "auditor")),
        ),
    ),
    NavSection("Audit", (NavItem("Audit", "audit_list", "audit", "", ("administrator", "auditor")),)),
)


def item_by_slug(slug: str) -> NavItem | None:
    for section in NAVIGATION:
        for item in section.items:
            if item.slug == slug:
                return item
    return None


def item_url(item: NavItem) -> tuple[str, bool]:
    """(url, built): the page's URL, or the "not built yet" page's URL when the page does not exist yet."""
    try:
        return reverse(item.url_name), True
    except NoReverseMatch:
        return reverse("not_built", args=[item.slug]), False
