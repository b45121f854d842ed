"""The admin site, with its login page throttled as `/api/token/` is (realtime.throttles).

Installed in place of `django.contrib.admin` (settings.INSTALLED_APPS), Django's documented way
to replace the default admin site: `admin.site` is a ThrottledAdminSite.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class ThrottledAdminSite(admin.AdminSite):
    """Django's admin site; a sign-in past the per-username or per-address rate gets 429."""

    def login(self, request, extra_context=None):
        if request.method == "POST":
            # Imported here: this module loads with the app registry, before DRF can.
            from realtime.throttles import refusal

            if (response := refusal(request)) is not None:
                return response
        return super().login(request, extra_context)


class ThrottledAdminConfig(AdminConfig):
    default_site = "realtime.admin_site.ThrottledAdminSite"
