"""The page (``/``) and its static files (``/static/``): plain HTML, CSS and JavaScript, loading nothing from
anywhere but this server."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["router", "STATIC", "PAGE_HEADERS"]

STATIC = Path(__file__).parent.parent / "static"
PAGE_HEADERS = {  # the page loads nothing from anywhere but this server
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter()
router.mount("/static", StaticFiles(directory=STATIC), name="static")


@router.get("/", include_in_schema=False)
async def page():
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)
