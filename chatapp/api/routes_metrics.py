"""`GET /metrics`: Prometheus' text format, for the operator's scraper only.

Off the public path: answered only when METRICS_ENABLED and to a client in
METRICS_ALLOWED_NETWORKS (loopback by default), as resolved through
TRUSTED_PROXIES like the per-IP rate limits; anyone else gets the same 404
as an unknown route, so the endpoint does not announce itself.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response

from chatapp import metrics
from chatapp.api.deps import SettingsDep
from chatapp.api.errors import error_response
from chatapp.api.schemas import ErrorResponse
from chatapp.config import Settings
from chatapp.services.database import in_thread
from chatapp.services.ratelimit import client_ip

router = APIRouter(tags=["operations"])

PROMETHEUS_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def may_scrape(request: Request, settings: Settings) -> bool:
    if not settings.metrics_enabled:
        return False
    peer = request.client.host if request.client else None
    address = client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxy_list)
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in settings.metrics_networks)


@router.get(
    "/metrics", response_class=Response,
    responses={200: {"description": "The Prometheus text exposition format.", "content": PROMETHEUS_TEXT},
               404: {"model": ErrorResponse, "description": "Metrics are off, or not for this client."}},
)
async def prometheus_metrics(request: Request, settings: SettingsDep) -> Response:
    """Turns by outcome, turn and first-event latency, turns in flight, tool
    calls, streamed tokens and errors, summed over every worker."""
    if not may_scrape(request, settings):
        return error_response("not_found", "No such route.")
    body, content_type = await in_thread(metrics.exposition)
    return Response(body, media_type=content_type)
