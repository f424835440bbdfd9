"""Who a request is, read with what every view asks next.

Every API call, page and agent websocket checks the user's agent profile (hub/api/permissions.py,
hub/access.py); read with the user, that is one query per request instead of two.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from hub.querysets import only_row


class AgentModelBackend(ModelBackend):
    """Django's model backend; a session's user comes with their agent profile."""

    def get_user(self, user_id: Any) -> User | None:
        user = only_row(User._default_manager.select_related("agent").filter(pk=user_id))
        return user if user is not None and self.user_can_authenticate(user) else None


class AgentTokenAuthentication(TokenAuthentication):
    """DRF's token authentication (the same answers, in DRF's translations); the token's user comes with
    their agent profile."""

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        token = only_row(Token.objects.select_related("user__agent").filter(key=key))
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
