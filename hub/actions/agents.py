from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from hub.actions import ActionError
from hub.events import schema
from hub.events.publish import publish, staff_ids
from hub.models import AgentProfile
from routing.signals import agent_presence_changed


def do_set_presence(actor: User | None, agent: AgentProfile, presence: str) -> AgentProfile:
    """Change an agent's presence; the agent's own connections and supervisors are told."""
    if presence not in AgentProfile.Presence.values:
        raise ActionError(f"presence must be one of {', '.join(AgentProfile.Presence.values)}", field="presence")
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update().get(pk=agent.pk)
        if locked.presence == presence:
            return locked
        locked.presence = presence
        locked.presence_changed_at = timezone.now()
        locked.save(update_fields=["presence", "presence_changed_at"])
        from hub import audit

        audit.record("agent.presence", actor, presence=presence, agent=locked.user_id)
        publish(schema.PresenceChanged(agent_id=locked.user_id, presence=presence),  # type: ignore[arg-type]
                staff_ids() | {locked.user_id})
        user_id = locked.user_id
        transaction.on_commit(lambda: agent_presence_changed.send(sender=AgentProfile, user_id=user_id,
                                                                  presence=presence))
    return locked
