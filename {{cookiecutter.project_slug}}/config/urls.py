"""HTTP routes: the admin and the JSON API."""

from django.contrib import admin
from django.urls import path

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
{%- if cookiecutter.demo_page %}

# The demo page at `/`, on a development server only (realtime/demo_urls.py).
urlpatterns += demo_urls.urlpatterns
{%- endif %}
