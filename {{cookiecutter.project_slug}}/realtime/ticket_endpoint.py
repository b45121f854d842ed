"""`POST /api/ws-ticket/`: a bearer access JWT buys a one-time WebSocket ticket.

`ws_ticket` is the view, an async Django view that config/urls.py routes as "ws_ticket". A
ticket-mode client buys a ticket before every connect, so this endpoint is on the path of every
socket: config/asgi.py serves that URL with `TicketEndpoint`, a Channels HTTP consumer ahead of
Django's handler that runs the same view on the event loop, because Django's handler runs each
middleware hook and request signal in a thread made for the request (asgiref's
ThreadSensitiveContext).

`TicketEndpoint` runs the view inside the project's HTTP policy: the middleware of
settings.MIDDLEWARE that is in POLICY_MIDDLEWARE, in settings order, each layer wrapped as
Django's handler wraps it (an exception becomes Django's response for it). These do no I/O, so
their hooks run inline on the event loop. The rest of settings.MIDDLEWARE does not run on this
endpoint: NOT_NEEDED_MIDDLEWARE says why the default rest does not apply, and the system check
realtime.W005 names any other (realtime/ticket_checks.py).

The view answers with Django's and simplejwt's own parts:
- a Host header outside ALLOWED_HOSTS is refused (HttpRequest.get_host), 400;
- only POST, 405 otherwise;
- only an access JWT in `Authorization: Bearer` authenticates (JWTAuthentication, through
  realtime.access_tokens): not a session cookie, not a refresh token, not a ticket; 401;
- issuance is throttled per user (WS_TICKET_THROTTLE_RATE), 429 with Retry-After;
- Redis unreachable: 503 with Retry-After, logged as one warning line.
"""

import functools
import io
import logging

from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from realtime.access_tokens import authenticate_access_token, jwt_authentication
from realtime.dispatch import LoopDispatchMixin
from realtime.redis_outages import REDIS_UNAVAILABLE, RETRY_AFTER_SECONDS
from realtime.tickets import issue_ticket_within_rate

logger = logging.getLogger(__name__)

# The endpoint takes no body; a request whose body grows past this is refused without reading on.
MAX_BODY_BYTES = 1024

# The middleware TicketEndpoint runs when settings.MIDDLEWARE lists it: HTTP policy that does no
# I/O and has no process_view or process_exception hook.
POLICY_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",  # HTTPS redirect, HSTS, nosniff, ...
        "corsheaders.middleware.CorsMiddleware",  # preflights, Access-Control-Allow-Origin
        "django.middleware.common.CommonMiddleware",  # DISALLOWED_USER_AGENTS, PREPEND_WWW
        "django.middleware.clickjacking.XFrameOptionsMiddleware",  # X-Frame-Options
    }
)
# Middleware that TicketEndpoint skips because it has nothing to do on this endpoint.
NOT_NEEDED_MIDDLEWARE = frozenset(
    {
        # Bearer tokens only: no session, no cookie, so nothing for CSRF to protect either.
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        # request.user and messages are never read here: the bearer token names the user.
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)


@csrf_exempt  # bearer tokens only, never a cookie: nothing for CSRF to protect
async def ws_ticket(request):
    """Answers `POST` with 201 {"ticket", "expires_in"}, or refuses it.

    Its only database access, the user check when it is not remembered, goes through
    database_sync_to_async.
    """
    request.get_host()  # DisallowedHost: Django's 400, logged on django.security.DisallowedHost
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
        ticket, wait = await issue_ticket_within_rate(auth)
    except REDIS_UNAVAILABLE as outage:
        logger.warning("Redis unavailable, answered %s with 503: %s", request.path, outage)
        response = error(503, "Service temporarily unavailable, try again later.")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if ticket is None:
        response = error(429, f"Too many tickets; try again in {wait} s.", "throttled")
        response["Retry-After"] = str(wait)
        return response
    response = JsonResponse({"ticket": ticket, "expires_in": settings.WS_TICKET_TTL}, status=201)
    response["Cache-Control"] = "no-store"
    return response


async def body_too_large(request):
    return error(413, "Request body too large.", "body_too_large")


class TicketEndpoint(LoopDispatchMixin, AsyncHttpConsumer):
    """Serves `ws_ticket` inside the project's HTTP policy, on the event loop.

    No thread hop per request (LoopDispatchMixin, policy_chain).
    """

    # It answers and is gone: no channel of its own on the channel layer.
    channel_layer_alias = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.body_size = 0

    async def http_request(self, message):
        self.body_size += len(message.get("body", b""))
        if self.body_size > MAX_BODY_BYTES:
            await self.serve(body_too_large, b"")
            raise StopConsumer()
        await super().http_request(message)

    async def handle(self, body):
        await self.serve(ws_ticket, body)

    async def serve(self, view, body):
        request = ASGIRequest(self.scope, io.BytesIO(body))
        response = await policy_chain(view)(request)
        response["Content-Length"] = str(len(response.content))
        headers = [
            (name.encode("ascii"), value.encode("latin-1")) for name, value in response.items()
        ]
        await self.send_response(response.status_code, response.content, headers=headers)


@functools.cache
def policy_chain(view):
    """`view` inside the POLICY_MIDDLEWARE of settings.MIDDLEWARE, as Django's handler chains it.

    Built once per view, as Django's handler loads its middleware once: building it takes about
    0.2 ms of CPU, much of what the rest of a ticket request takes.
    """
    handler = convert_exception_to_response(view)
    for middleware_path in reversed(settings.MIDDLEWARE):
        if middleware_path not in POLICY_MIDDLEWARE:
            continue
        middleware_class = import_string(middleware_path)
        if issubclass(middleware_class, MiddlewareMixin):
            layer = hooks_on_the_loop(middleware_class(handler), handler)
        else:  # async-capable (CorsMiddleware): given an async handler, it awaits it
            layer = middleware_class(handler)
        handler = convert_exception_to_response(layer)
    return handler


@receiver(setting_changed)
def rebuild_policy_chains(**kwargs):
    """Settings changed (tests do): middleware reads some of them when it is made."""
    policy_chain.cache_clear()


def hooks_on_the_loop(middleware, get_response):
    """MiddlewareMixin's async call, with its hooks run inline instead of in a worker thread."""

    async def layer(request):
        response = None
        if hasattr(middleware, "process_request"):
            response = middleware.process_request(request)
        response = response or await get_response(request)
        if hasattr(middleware, "process_response"):
            response = middleware.process_response(request, response)
        return response

    return layer


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
