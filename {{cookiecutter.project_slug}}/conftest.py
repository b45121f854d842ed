"""Test-run speed, no behaviour: passwords made and checked in the test process use a fast hasher.

PBKDF2 costs a quarter of a second per password on a small machine, and the suite creates users
for most of its tests; no test is about the hash's strength. Django's documentation recommends a
fast hasher for test runs. Servers that the tests start keep the project's own hashers.
"""

import pytest
from django.test import override_settings


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher():
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield
