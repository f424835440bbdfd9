"""API tokens for scripts and integrations (`Authorization: Token <key>`), as `hub token` prints them."""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from hub.actions import ActionError


def token_for(username: str) -> str:
    """The API token of `username`, created on first use."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ActionError(f"no user named {username!r}", field="username")
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
