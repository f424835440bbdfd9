"""Who may use the API at all, and the few endpoints reserved to supervisors. Per-conversation and
per-customer visibility is not decided here but in hub.access, which every read goes through."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from hub.access import sees_everything


class IsAgent(BasePermission):
    """Signed in with an agent profile (or a superuser, who needs none)."""

    message = "this account has no agent profile"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return bool(getattr(user, "is_superuser", False) or getattr(user, "agent", None) is not None)


class IsSupervisor(IsAgent):
    """A supervisor, an administrator or a superuser."""

    message = "only supervisors and administrators may do this"

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and sees_everything(request.user)
