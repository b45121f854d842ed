"""The OpenAPI description of `POST /api/ws-ticket/`, for drf-spectacular.

The ticket endpoint is an async Django view (realtime.ticket_endpoint.ws_ticket), which
drf-spectacular does not read: `TicketEndpointSchema` is a DRF view that only describes it, and the
preprocessing hook `add_ticket_endpoint` (in SPECTACULAR_SETTINGS) puts it at the URL that
config/urls.py routes to `ws_ticket`, refusing to describe any other view.
"""

from django.urls import resolve, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from realtime.api_schema import Error, Throttled, retry_after
from realtime.ticket_endpoint import ws_ticket


class TicketEndpointSchema(APIView):
    """Describes `ws_ticket`; never routed, never answers."""

    authentication_classes = (JWTAuthentication,)

    @extend_schema(
        operation_id="ws_ticket",
        summary="A one-time WebSocket ticket for a bearer access token",
        description=(
            "Connect to `/ws/chat/<room>/?ticket=<ticket>` within `expires_in` seconds; the "
            "server redeems a ticket once. No request body."
        ),
        request=None,
        parameters=[retry_after(429, 503)],
        responses={
            201: inline_serializer(
                "Ticket",
                fields={
                    "ticket": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                },
            ),
            401: OpenApiResponse(Error, description="No valid access token in `Authorization`."),
            405: OpenApiResponse(Error, description="Only POST."),
            413: OpenApiResponse(Error, description="A request body over 1 KiB."),
            429: Throttled,
            503: OpenApiResponse(Error, description="Redis is unreachable: retry later."),
        },
    )
    def post(self, request):
        raise NotImplementedError("config/urls.py routes this URL to ws_ticket")


def add_ticket_endpoint(endpoints):
    path = reverse("ws_ticket")
    if resolve(path).func is not ws_ticket:
        raise LookupError(f"{path} is not routed to ws_ticket: its description would be wrong")
    view = TicketEndpointSchema.as_view()
    return [*endpoints, (path, f"^{path.lstrip('/')}$", "POST", view)]
