"""The project's user model, in place from the first migration, and users' sign-in sessions.

Django recommends a custom user model for every new project: swapping it later means rewriting
migrations and foreign keys. It adds nothing to AbstractUser yet; add fields here.
"""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in (username and password) and opens WebSockets with JWTs."""


class Session(models.Model):
    """One sign-in: the tokens of one device, named by their `sid` claim (realtime.sign_ins).

    Every token pair issued by `POST /api/token/`, and every token refreshed from it, carries
    this id; once `ended_at` is set (logout), none of them authenticates any more.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = (models.Index(fields=["user", "ended_at"]),)

    def __str__(self):
        return f"session {self.pk} of user {self.user_id}"
