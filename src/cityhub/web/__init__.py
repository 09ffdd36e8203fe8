"""The hub's browser pages: templates, scripts and styles, and the vendored assets
(ECharts, swagger-ui) the project's install copies from the npm registry. Pages are thin
HTML shells whose scripts read the same ``/v1/...`` API the county apps use; the routes
that serve them are in ``cityhub.api.routes.pages_*``."""
