from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import module_has_submodule


class RealtimeConfig(AppConfig):
    """WebSocket authentication and the sample chat consumer."""

    name = "realtime"

    def ready(self):
        # Connect the receivers that close a user's sockets on logout, deactivation, etc.
        import_module(f"{self.name}.sessions")
        # Register the baked auth mode's system checks: only the ticket mode has realtime.checks.
        if module_has_submodule(self.module, "checks"):
            import_module(f"{self.name}.checks")
