"""The custom user model: the one Django, simplejwt and the admin use, from the first migration."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from users.models import User


def test_the_project_user_model_is_users_user():
    assert get_user_model() is User


def test_tokens_name_a_users_user(user):
    token = AccessToken.for_user(user)

    assert User.objects.get(pk=token["user_id"]) == user


@pytest.mark.django_db
def test_the_admin_lists_users(client):
    assert admin.site.is_registered(User)
    staff = User.objects.create_superuser("admin", password="correct horse battery staple")
    client.force_login(staff)

    response = client.get("/admin/users/user/")

    assert response.status_code == 200
    assert b"admin" in response.content
