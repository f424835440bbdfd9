from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_start_page_says_where_things_are_in_both_languages() -> None:
    response = Client().get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'href="/api/docs/"' in body and 'href="/admin/"' in body and 'href="/readyz"' in body
    assert "全渠道客服中心" in body and "The hub is running" in body


def test_start_page_escapes_the_user_name() -> None:
    from django.contrib.auth.models import User

    user = User.objects.create_user("<script>x</script>", password="pw")
    client = Client()
    client.force_login(user)
    body = client.get("/").content.decode()
    assert "<script>x</script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body
