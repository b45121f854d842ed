from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """WebSocket authentication and the sample chat consumer."""

    name = "realtime"
