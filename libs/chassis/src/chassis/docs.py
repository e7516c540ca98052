"""Swagger UI for a service at ``/docs/<service>/`` with locally served assets (no CDN: the
machine may be offline). The schema's paths are the public ones, so "Try it out" works
through the gateway with a bearer token."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from chassis.errors import NotFound

SWAGGER_ASSETS = {"swagger-ui-bundle.js": "application/javascript",
                  "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def swagger_assets_dir() -> Path:
    """Folder holding swagger-ui-bundle.js and swagger-ui.css (from fastapi-swagger)."""
    return Path(str(resources.files("fastapi_swagger") / "resources"))


def swagger_page(title: str, openapi_url: str, assets_url: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url, title=title,
        swagger_js_url=f"{assets_url}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets_url}/swagger-ui.css",
        swagger_favicon_url=f"{assets_url}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True})


def docs_router(app: FastAPI, service: str) -> APIRouter:
    router = APIRouter(prefix=f"/docs/{service}", include_in_schema=False)
    base = f"/docs/{service}"

    @router.get("/")
    async def swagger_ui() -> HTMLResponse:
        return swagger_page(f"{app.title} API", f"{base}/openapi.json", f"{base}/static")

    @router.get("/static/{name}")
    async def asset(name: str) -> FileResponse:
        if name not in SWAGGER_ASSETS:
            raise NotFound("No such asset")
        return FileResponse(swagger_assets_dir() / name, media_type=SWAGGER_ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    return router
