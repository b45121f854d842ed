"""Settings of the servers that tests/live_server.py starts: the project's own, from the same
environment, with a fast password hasher.

PBKDF2 costs about half a second of CPU per sign-in on a small machine, and the suite signs in
some seventy times on its servers; no test of a live server is about the hash's strength (Django's
documentation recommends a fast hasher for test runs). The production topology of
tests/test_deployment.py runs config.settings as it is.
"""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
