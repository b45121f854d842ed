"""The demo page at `/` and the static files it loads, on a development server (DEBUG on) only.

runserver serves static files by itself; uvicorn does not, hence `staticfiles_urlpatterns()`,
which Django limits to DEBUG. A deployment has no demo page, and serves the collected static files
(`manage.py collectstatic`) from its proxy or CDN.
"""

from django.conf import settings
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import path
from django.views.generic import TemplateView

urlpatterns = []
if settings.DEBUG:
    urlpatterns = [
        path(
            "",
            TemplateView.as_view(
                template_name="realtime/demo.html",
                # How this project's sockets authenticate, for the page's client.
                extra_context={"auth_mode": "{{ cookiecutter.auth_mode }}"},
            ),
            name="demo",
        ),
        *staticfiles_urlpatterns(),
    ]
