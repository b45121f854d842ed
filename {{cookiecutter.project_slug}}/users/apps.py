from django.apps import AppConfig


class UsersConfig(AppConfig):
    """The custom user model (settings.AUTH_USER_MODEL) and its admin."""

    name = "users"
