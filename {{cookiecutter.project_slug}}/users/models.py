"""The project's user model, in place from the first migration.

Django recommends a custom user model for every new project: swapping it later means rewriting
migrations and foreign keys. It adds nothing to AbstractUser yet; add fields here.
"""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in (username and password) and opens WebSockets with JWTs."""
