"""Where the pages' files live, and their mounts: ``/static`` (the hub's own scripts and
styles) and ``/vendor`` (ECharts and swagger-ui, installed from the npm registry by
``make install`` at the versions ``web/package-lock.json`` pins, never a CDN at run time)."""
from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
VENDOR = HERE / "vendor"
LAYOUTS = HERE / "layouts"

ECHARTS = "/vendor/echarts/echarts.min.js"
SWAGGER_JS = "/vendor/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/vendor/swagger-ui/swagger-ui.css"
SWAGGER_FAVICON = "/vendor/swagger-ui/favicon-32x32.png"


def mount(app) -> None:
    """Serve ``/static`` and ``/vendor`` from the package (``check_dir=False``: a checkout
    whose assets were not installed yet still starts; its pages say what is missing)."""
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.mount("/vendor", StaticFiles(directory=VENDOR, check_dir=False), name="vendor")


def vendored() -> bool:
    """Whether ``make install`` copied the vendored assets in."""
    return (HERE / ECHARTS.removeprefix("/")).is_file()
