from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.events import schema
from hub.events.publish import publish, staff_ids
from hub.models import AgentProfile, AgentSkill, Team
from routing.signals import agent_presence_changed


def do_set_presence(actor: User | None, agent: AgentProfile, presence: str) -> AgentProfile:
    """Change an agent's presence; the agent's own connections and supervisors are told."""
    if presence not in AgentProfile.Presence.values:
        raise ActionError(f"presence must be one of {', '.join(AgentProfile.Presence.values)}", field="presence")
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update(no_key=True).get(pk=agent.pk)
        if locked.presence == presence:
            return locked
        locked.presence = presence
        locked.presence_changed_at = timezone.now()
        locked.save(update_fields=["presence", "presence_changed_at"])
        audit.record("agent.presence", actor, presence=presence, agent=locked.user_id)
        publish(schema.PresenceChanged(agent_id=locked.user_id, presence=presence),  # type: ignore[arg-type]
                staff_ids() | {locked.user_id})
        user_id = locked.user_id
        transaction.on_commit(lambda: agent_presence_changed.send(sender=AgentProfile, user_id=user_id,
                                                                  presence=presence))
    return locked


def do_create_agent(username: str, *, password: str, display_name: str = "", role: str = AgentProfile.Role.AGENT,
                 teams: Sequence[str] = (), skills: Mapping[str, int] | None = None, language: str = "en",
                 email: str = "") -> User:
    """A user with an agent profile (`hub createagent`, the demo data). Teams are created when missing. An
    admin is also a Django superuser, so that /admin/ opens for them."""
    username = username.strip()
    if not username:
        raise ActionError("a username is required", field="username")
    if role not in AgentProfile.Role.values:
        raise ActionError(f"role must be one of {', '.join(AgentProfile.Role.values)}", field="role")
    for skill, level in (skills or {}).items():
        if not skill or not 1 <= level <= 5:
            raise ActionError(f"skill {skill!r}: level must be 1 to 5", field="skills")
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ActionError(f"a user named {username!r} already exists", field="username")
        is_admin = role == AgentProfile.Role.ADMIN
        user = User.objects.create_user(username=username, email=email, password=password,
                                        is_staff=is_admin, is_superuser=is_admin)
        profile = AgentProfile.objects.create(user=user, display_name=display_name or username, role=role,
                                              language=language)
        profile.teams.set([Team.objects.get_or_create(name=name.strip())[0] for name in teams if name.strip()])
        AgentSkill.objects.bulk_create([AgentSkill(agent=profile, skill=skill, level=level)
                                        for skill, level in (skills or {}).items()])
        audit.record("agent.created", None, agent=user.pk, role=role, teams=sorted(teams))
    return user
