"""HTTP routes served by Django: the admin and the JSON API for tokens."""

from django.contrib import admin
from django.urls import path

{% if cookiecutter.demo_page -%}
from realtime import demo_urls
{% endif -%}
from realtime.views import LogoutView, RefreshView, SignInView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", SignInView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", RefreshView.as_view(), name="token_refresh"),
    path("api/logout/", LogoutView.as_view(), name="logout"),
]
{%- if cookiecutter.demo_page %}

# The demo page at `/`, on a development server only (realtime/demo_urls.py).
urlpatterns += demo_urls.urlpatterns
{%- endif %}
