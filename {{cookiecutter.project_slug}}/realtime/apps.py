from importlib import import_module

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """WebSocket authentication and the sample chat consumer."""

    name = "realtime"

    def ready(self):
        # Receivers that close a user's sockets on logout, deactivation, etc.
        import_module(f"{self.name}.signals")
        # System checks of the project's security settings, in every mode.
        import_module(f"{self.name}.checks")
{%- if cookiecutter.auth_mode == "ticket" %}
        # System checks of the ticket settings.
        import_module(f"{self.name}.ticket_checks")
{%- endif %}
