from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from hub.models import AuditLog, Conversation, Customer


def record(action: str, actor: User | None = None, *, conversation: Conversation | None = None,
           customer: Customer | None = None, **data: Any) -> AuditLog:
    """Append to the audit log inside the action's transaction."""
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action, conversation=conversation, customer=customer, data=data,
    )
