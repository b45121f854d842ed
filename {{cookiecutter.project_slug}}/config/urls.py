"""HTTP routes: the admin and the JSON API that hands out credentials."""

from django.contrib import admin
from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

{% if cookiecutter.demo_page -%}
from realtime import demo_urls
{% endif -%}
from realtime.sessions import LogoutView
{%- if cookiecutter.auth_mode == "ticket" %}
from realtime.views import WebSocketTicketView
{%- endif %}

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/logout/", LogoutView.as_view(), name="logout"),
{%- if cookiecutter.auth_mode == "ticket" %}
    path("api/ws-ticket/", WebSocketTicketView.as_view(), name="ws_ticket"),
{%- endif %}
]
{%- if cookiecutter.demo_page %}

# The demo page at `/`, on a development server only (realtime/demo_urls.py).
urlpatterns += demo_urls.urlpatterns
{%- endif %}
