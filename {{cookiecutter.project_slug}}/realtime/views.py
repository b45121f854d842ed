"""The endpoint that exchanges an access JWT for a one-time WebSocket ticket."""

from django.conf import settings
from rest_framework import status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from realtime.tickets import issue_ticket


class WebSocketTicketView(APIView):
    """`POST /api/ws-ticket/` with `Authorization: Bearer <access>` -> 201 {"ticket", "expires_in"}.

    Only a bearer access token authenticates here (REST_FRAMEWORK's defaults): not a session
    cookie, not a refresh token, not another ticket. Issuance is throttled per user.
    """

    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "ws_ticket"

    def post(self, request):
        ticket = issue_ticket(request.user, token_expires_at=request.auth.get("exp"))
        return Response(
            {"ticket": ticket, "expires_in": settings.WS_TICKET_TTL},
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )
