"""/api/docs: the interactive API documentation, served whole by ronda itself.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script: blank
offline (and behind ronda's content policy), and online every visitor's browser tells the
CDN it came. Here the page, its start-up script and Swagger UI's files (those the
swagger-ui-py package ships: Swagger UI 5, which reads FastAPI's OpenAPI 3.1) all come
from ronda."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles


def swagger_ui_files() -> Path:
    """The folder of Swagger UI's files in swagger-ui-py, found without importing that
    package (its import loads adapters for web frameworks ronda does not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed: pip install swagger-ui-py")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


DOCS = "/api/docs"
ASSETS = f"{DOCS}/assets"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ronda API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="/static/api-docs.js" data-openapi="{{openapi}}"></script>
</body>
</html>
"""


def add_api_docs(app: FastAPI, openapi_url: str) -> None:
    """The page at /api/docs and Swagger UI's files under /api/docs/assets (no token: they
    show nothing of ronda's until a token is typed into the page)."""
    router = APIRouter(include_in_schema=False)  # a page for people, as FastAPI's own docs
    page = PAGE.replace("{openapi}", openapi_url)

    @router.get(DOCS, response_class=HTMLResponse, summary="Interactive API documentation (Swagger UI, no token)")
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_files()), name="api-docs-assets")
