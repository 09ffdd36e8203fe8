"""The audit entry of a request, applied once as a dependency: a route declares an
``Annotated[AuditEntry, audited(action)]`` parameter and describes what it served; the dependency writes the entry when the route returns, or the refusal
(with its status) when the route or a later dependency raises. A route never calls
the audit log itself unless it must write in its own thread (the data routes' hot
path: one thread hop per page, not two) or several entries (evidence: one per input
dataset; exports: one as the download starts, one when it ends).

Personal values in an entry's filters are masked by ``Hub.audit``."""

import functools
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends

from cityhub.access.clients import Principal
from cityhub.api.deps import Hub, HubDep, maybe_principal, principal
from cityhub.api.problems import status_of


class AuditEntry:
    """What one request read or did, for the audit log."""

    __slots__ = ("hub", "action", "caller", "dataset", "category", "filters", "rows", "status", "written",
                 "anonymous")

    def __init__(self, hub: Hub, action: str, caller: Principal | None, anonymous: bool):
        self.hub, self.action, self.caller, self.anonymous = hub, action, caller, anonymous
        self.dataset: str | None = None
        self.category: str | None = None
        self.filters: dict = {}
        self.rows = 0
        self.status = 200
        self.written = False

    def note(self, **what: Any) -> "AuditEntry":
        """Describe the request (dataset, category, filters, rows, status, caller)."""
        for k, v in what.items():
            setattr(self, k, v)
        return self

    def write(self, **override: Any) -> None:
        """Write an entry now, in the caller's thread (blocking until committed): this
        one as described, with ``override`` (another action, filters, rows, status)."""
        self.written = True
        kw = {"action": self.action, "dataset": self.dataset, "category": self.category, "filters": self.filters,
              "rows": self.rows, "status": self.status, **override}
        self.hub.audit(self.caller, kw.pop("action"), **kw)

    @property
    def wanted(self) -> bool:
        """An unauthenticated request to a route that needs a token is no access (no entry)."""
        return self.caller is not None or self.anonymous


def _entry(action: str, who: Callable | None, anonymous: bool):
    async def entry(hub: HubDep, caller: Annotated[Principal | None, Depends(who or _nobody)]
                    ) -> AsyncIterator[AuditEntry]:
        e = AuditEntry(hub, action, caller, anonymous)
        try:
            yield e
        except Exception as exc:
            if not e.written and e.wanted:
                e.dataset = e.dataset or getattr(exc, "dataset", None)
                e.category = e.category or getattr(exc, "category", None)
                await anyio.to_thread.run_sync(functools.partial(e.write, status=status_of(exc), rows=0))
            raise
        if not e.written and e.wanted:
            await anyio.to_thread.run_sync(e.write)
    entry.__name__ = f"audit_{action.replace('.', '_').replace('-', '_')}"
    return entry


async def _nobody() -> None:
    return None


@functools.cache
def audited(action: str, caller: str = "required") -> Any:
    """The ``Depends`` of an audit entry for ``action``. ``caller``: ``required`` (the
    route needs a token: the entry's caller), ``optional`` (open data: refusals of
    anonymous callers are audited too) or ``route`` (the route authenticates in its own
    thread and notes the caller itself). One per action and kind, so that a route and
    its dependencies share the entry."""
    who = {"required": principal, "optional": maybe_principal, "route": None}[caller]
    return Depends(_entry(action, who, anonymous=caller == "optional"), scope="function")

