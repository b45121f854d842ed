"""`POST /api/ws-ticket/`: a bearer access JWT buys a one-time WebSocket ticket.

A ticket-mode client buys a ticket before every connect, so this endpoint is on the path of every
socket. It is a Channels HTTP consumer that config/asgi.py routes ahead of Django, and it runs on
the event loop: Django's ASGI handler runs each middleware hook and request signal in a thread
made for the request (asgiref's ThreadSensitiveContext), and DRF's view, its throttle and its user
lookup are synchronous too.

It answers as the Django stack would, with Django's and simplejwt's own parts:
- a Host header outside ALLOWED_HOSTS is refused (HttpRequest.get_host), 400;
- SecurityMiddleware and XFrameOptionsMiddleware run on the request and the response: the HTTPS
  redirect, HSTS, nosniff, Referrer-Policy, Cross-Origin-Opener-Policy, X-Frame-Options;
- only an access JWT in `Authorization: Bearer` authenticates (JWTAuthentication, through
  realtime.access_tokens): not a session cookie, not a refresh token, not a ticket; 401;
- issuance is throttled per user (WS_TICKET_THROTTLE_RATE), 429 with Retry-After;
- Redis unreachable: 503 with Retry-After, logged as one warning line.
Nothing else in settings.MIDDLEWARE runs here: what this endpoint needs of it goes here.
"""

import io
import logging

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from rest_framework.exceptions import AuthenticationFailed

from realtime.access_tokens import authenticate_access_token, jwt_authentication
from realtime.dispatch import LoopDispatchMixin
from realtime.redis_outages import REDIS_UNAVAILABLE, RETRY_AFTER_SECONDS
from realtime.tickets import issue_ticket_within_rate

logger = logging.getLogger(__name__)
disallowed_host_logger = logging.getLogger("django.security.DisallowedHost")

# The endpoint takes no body; a request whose body grows past this is refused without reading on.
MAX_BODY_BYTES = 1024
# The response middleware of Django's stack that applies to a JSON API.
RESPONSE_MIDDLEWARE = (SecurityMiddleware, XFrameOptionsMiddleware)


class TicketEndpoint(LoopDispatchMixin, AsyncHttpConsumer):
    """Answers one `POST /api/ws-ticket/` with 201 {"ticket", "expires_in"}, or refuses it.

    No thread hop per request (LoopDispatchMixin): its only database access, the user check when
    it is not remembered, goes through database_sync_to_async.
    """

    # It answers and is gone: no channel of its own on the channel layer.
    channel_layer_alias = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.body_size = 0

    async def http_request(self, message):
        self.body_size += len(message.get("body", b""))
        if self.body_size > MAX_BODY_BYTES:
            request = ASGIRequest(self.scope, io.BytesIO())
            await self.send_django_response(
                request, error(413, "Request body too large.", "body_too_large")
            )
            raise StopConsumer()
        await super().http_request(message)

    async def handle(self, body):
        request = ASGIRequest(self.scope, io.BytesIO(body))
        await self.send_django_response(request, await self.respond(request))

    async def respond(self, request):
        """The response to `request`, before the response middleware."""
        try:
            request.get_host()
        except DisallowedHost as refusal:
            # As Django's handler logs it.
            disallowed_host_logger.error(
                str(refusal), extra={"status_code": 400, "request": request}
            )
            return error(400, "Invalid Host header.", "bad_request")
        if redirect := SecurityMiddleware(unused).process_request(request):  # to HTTPS
            return redirect
        if request.method != "POST":
            response = error(405, f'Method "{request.method}" not allowed.', "method_not_allowed")
            response["Allow"] = "POST"
            return response
        auth = await authenticate(request)
        if auth is None:
            response = error(401, "A valid access token is required.", "not_authenticated")
            response["WWW-Authenticate"] = jwt_authentication.authenticate_header(request)
            return response
        try:
            ticket, wait = await issue_ticket_within_rate(auth.user, auth.expires_at)
        except REDIS_UNAVAILABLE as outage:
            logger.warning("Redis unavailable, answered %s with 503: %s", request.path, outage)
            response = error(503, "Service temporarily unavailable, try again later.")
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if ticket is None:
            response = error(429, f"Too many tickets; try again in {wait} s.", "throttled")
            response["Retry-After"] = str(wait)
            return response
        response = JsonResponse(
            {"ticket": ticket, "expires_in": settings.WS_TICKET_TTL}, status=201
        )
        response["Cache-Control"] = "no-store"
        return response

    async def send_django_response(self, request, response):
        """Send `response` to `request` through the response middleware."""
        for middleware in RESPONSE_MIDDLEWARE:
            response = middleware(unused).process_response(request, response)
        response["Content-Length"] = str(len(response.content))
        headers = [
            (name.encode("ascii"), value.encode("latin-1")) for name, value in response.items()
        ]
        await self.send_response(response.status_code, response.content, headers=headers)


async def authenticate(request):
    """The Authentication of the request's bearer access token, or None."""
    header = jwt_authentication.get_header(request)
    try:
        raw_token = jwt_authentication.get_raw_token(header) if header else None
    except AuthenticationFailed:  # not "Bearer <token>"
        return None
    if raw_token is None:
        return None
    return await authenticate_access_token(raw_token.decode("latin-1"))


def error(status: int, detail: str, code: str | None = None) -> JsonResponse:
    body = {"detail": detail} if code is None else {"detail": detail, "code": code}
    return JsonResponse(body, status=status)


def unused(request):
    """The middleware's get_response: the endpoint calls their hooks, never the chain."""
    raise AssertionError("not a middleware chain")
