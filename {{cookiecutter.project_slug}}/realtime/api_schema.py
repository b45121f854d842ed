"""The OpenAPI description of the JSON API, for drf-spectacular.

The token views are simplejwt's (realtime.views): their request and success bodies come from
drf-spectacular's simplejwt support; the extensions here add every refusal a client must handle,
with its status code, body and headers. Refusals are `{"detail", "code"}`; 429 and 503 carry
Retry-After. SPECTACULAR_SETTINGS names `api_endpoints` as a preprocessing hook, which imports this
module, and so registers the extensions, whenever a schema is generated.
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

Error = inline_serializer(
    "Error",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.CharField(required=False),
    },
)
ValidationErrors = OpenApiResponse(
    OpenApiTypes.OBJECT, description="A field is missing or malformed: `{field: [messages]}`."
)
Throttled = OpenApiResponse(Error, description="Too many requests: wait Retry-After seconds.")


# realtime.views.LogoutView's 503 detail.
SOCKETS_NOT_CLOSED = (
    "The refresh token is revoked, but live sockets could not be closed now; they close when "
    "their access tokens expire."
)


# What sign-in and refresh answer. The project's serializers subclass simplejwt's, which
# drf-spectacular's simplejwt support does not match, so the answer is spelled out.
TokenPair = inline_serializer(
    "TokenPair",
    fields={"access": serializers.CharField(), "refresh": serializers.CharField()},
)


def retry_after(*statuses):
    """The Retry-After header of the responses with these status codes."""
    return OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        description="Seconds to wait before trying again.",
        response=list(statuses),
    )


class SignInViewSchema(OpenApiViewExtension):
    target_class = "realtime.views.SignInView"

    def view_replacement(self):
        @extend_schema_view(
            post=extend_schema(
                operation_id="token_obtain_pair",
                summary="Sign in: a token pair for a username and password",
                parameters=[retry_after(429)],
                responses={
                    200: TokenPair,
                    400: ValidationErrors,
                    401: OpenApiResponse(
                        Error, description="No active account with these credentials."
                    ),
                    429: Throttled,
                },
            )
        )
        class Fixed(self.target_class):
            pass

        return Fixed


class RefreshViewSchema(OpenApiViewExtension):
    target_class = "realtime.views.RefreshView"

    def view_replacement(self):
        @extend_schema_view(
            post=extend_schema(
                operation_id="token_refresh",
                summary="A new access token and a new refresh token; the one sent is blacklisted",
                parameters=[retry_after(429)],
                responses={
                    200: TokenPair,
                    400: ValidationErrors,
                    401: OpenApiResponse(
                        Error, description="Invalid, expired or already used refresh token."
                    ),
                    429: Throttled,
                },
            )
        )
        class Fixed(self.target_class):
            pass

        return Fixed


SocketsNotClosed = inline_serializer(
    "SocketsNotClosed",
    fields={
        "detail": serializers.CharField(),
        "code": serializers.ChoiceField(choices=["sockets_not_closed"]),
    },
)


class LogoutViewSchema(OpenApiViewExtension):
    target_class = "realtime.views.LogoutView"
    operation_id = "logout"
    summary = "Blacklist a refresh token, end its session and close its sockets (4401 logged_out)"

    def view_replacement(self):
        @extend_schema_view(
            post=extend_schema(
                operation_id=self.operation_id,
                summary=self.summary,
                parameters=[retry_after(503)],
                responses={
                    200: OpenApiResponse(
                        OpenApiTypes.OBJECT, description="`{}`: revoked, sockets closed."
                    ),
                    400: ValidationErrors,
                    401: OpenApiResponse(
                        Error, description="Invalid, expired or already blacklisted refresh token."
                    ),
                    503: OpenApiResponse(
                        SocketsNotClosed,
                        description=(
                            "The refresh token is revoked, but the channel layer could not close "
                            "live sockets now; they close when their access tokens expire."
                        ),
                        examples=[
                            OpenApiExample(
                                "sockets_not_closed",
                                value={
                                    "detail": SOCKETS_NOT_CLOSED,
                                    "code": "sockets_not_closed",
                                },
                                status_codes=["503"],
                                response_only=True,
                            )
                        ],
                    ),
                },
            )
        )
        class Fixed(self.target_class):
            pass

        return Fixed


class LogoutEverywhereViewSchema(LogoutViewSchema):
    target_class = "realtime.views.LogoutEverywhereView"
    operation_id = "logout_everywhere"
    summary = "End every session of the refresh token's user and close all their sockets"


def api_endpoints(endpoints):
    """Only the JSON API under /api/ (not the schema view itself)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]
