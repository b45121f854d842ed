"""HTTP routes: the admin, the JSON API, and its OpenAPI schema with DEBUG on."""

from django.conf import settings
from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

{% if cookiecutter.demo_page -%}
from realtime import demo_urls
{% endif -%}
{% if cookiecutter.auth_mode == "ticket" -%}
from realtime.ticket_endpoint import ws_ticket
{% endif -%}
from realtime.views import LogoutEverywhereView, LogoutView, RefreshView, SignInView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", SignInView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", RefreshView.as_view(), name="token_refresh"),
    path("api/logout/", LogoutView.as_view(), name="logout"),
    path("api/logout/all/", LogoutEverywhereView.as_view(), name="logout_everywhere"),
{%- if cookiecutter.auth_mode == "ticket" %}
    # config/asgi.py serves this URL on the event loop, ahead of Django's handler.
    path("api/ws-ticket/", ws_ticket, name="ws_ticket"),
{%- endif %}
]

# The OpenAPI schema of the JSON API, on a development server only (realtime/api_schema.py).
if settings.DEBUG:
    urlpatterns.append(path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"))
{%- if cookiecutter.demo_page %}

# The demo page at `/`, on a development server only (realtime/demo_urls.py).
urlpatterns += demo_urls.urlpatterns
{%- endif %}
