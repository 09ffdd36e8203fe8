"""People the console, catalogue and sign-in tests need beyond the harness's roles: a
department desk (the social-security bureau, owner of the conditional ``hrss.records``)
and county desks that apply for grants, registered in the served hub's own DB."""
from __future__ import annotations

from tests.e2e.browser.conftest import QIHE, Client, Hub

DEPARTMENT = "human_resources_social_security"
CONDITIONAL = "hrss.records"
"""A conditional category of that department, fed by social_security_records_drop."""


def add_client(hub: Hub, role: str, kind: str, region: str | None = None, department: str | None = None) -> Client:
    """Register ``role`` in the served hub (once per test session) and let ``open_as`` sign in as it."""
    if role in hub.clients:
        return hub.clients[role]
    from cityhub.access import clients
    from cityhub.core.settings import Settings
    from cityhub.declarations import load

    cfg = Settings(home=hub.home)
    p, secret = clients.create(cfg, load(cfg.declarations), f"browser-{role}", kind, region, department)
    hub.clients[role] = Client(role, p.client_id, secret, clients.issue_token(cfg, p, ttl_s=6 * 3600), region)
    return hub.clients[role]


def department(hub: Hub) -> Client:
    return add_client(hub, "department-hrss", "department", department=DEPARTMENT)


def county_applicant(hub: Hub, region: str = QIHE) -> Client:
    return add_client(hub, f"applicant-{region}", "county", region)
