"""Router endpoints other than chat completions (catalog reads), as small handlers.

Paths are relative to the API prefix (``/api/v1`` and its ``/v1`` alias).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from .dialects.base import JSON

if TYPE_CHECKING:
    from .app import Handler, MockrouterApp, RequestInfo


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON.decode(), headers=headers)


async def list_models(app: MockrouterApp, request: Request, info: RequestInfo) -> Response:
    """``GET /models``: the catalog plus every ``mockrouter/<scenario>`` id. No key needed."""
    return json_response(info.dialect.models(app.catalog, app.scenario_model_ids()))


ROUTES: dict[str, dict[str, Handler]] = {
    "/models": {"GET": list_models},
}
