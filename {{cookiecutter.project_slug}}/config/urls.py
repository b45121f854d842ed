"""HTTP routes: the admin and the JSON API that hands out credentials."""

from django.contrib import admin
from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView
{%- if cookiecutter.auth_mode == "ticket" %}

from realtime.views import WebSocketTicketView
{%- endif %}

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
{%- if cookiecutter.auth_mode == "ticket" %}
    path("api/ws-ticket/", WebSocketTicketView.as_view(), name="ws_ticket"),
{%- endif %}
]
