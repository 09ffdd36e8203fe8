"""One error hierarchy for the whole hub.

Library code raises these; it never speaks HTTP. The API maps each kind to a
status in one place (``cityhub.api.problems``), the CLI to an exit code, Airflow
to a failed task. Every message says what is wrong and, where it can, what to do.
"""
from __future__ import annotations


class CityHubError(Exception):
    """Base of every error the hub raises on purpose."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(CityHubError):
    """The caller asked for something malformed (a bad filter, cursor or body)."""


class Unauthorized(CityHubError):
    """No credentials, or credentials that do not check out."""


class Forbidden(CityHubError):
    """The caller is known but may not do or see this."""


class NotFound(CityHubError):
    """No such thing, or none the caller may see."""


class Conflict(CityHubError):
    """The thing is not in a state that allows this (already decided, already owned)."""


class Gone(CityHubError):
    """What the caller refers to existed once and no longer does (an expired snapshot)."""


class DeclarationError(CityHubError):
    """A declaration (contract, connector, indicator, region, catalogue, threshold) is broken."""


class SourceError(CityHubError):
    """A permanent problem with a department's source: the run fails with this message."""


class ConfigurationError(CityHubError):
    """A setting is missing or does not work (no URL, an unknown city, a bad storage URI)."""


class NotAuthentic(CityHubError):
    """A signed document that does not verify; ``failed`` names the check that failed
    (malformed, unknown key, signature, payload digest)."""

    def __init__(self, failed: str, detail: str):
        super().__init__(f"{failed}: {detail}")
        self.failed = failed
