"""Agent accounts from the command line: `hub createagent` and `hub token`. The demo data creates its
agents with `create_agent` too, so both paths give a user the same profile, teams and skills."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.contrib.auth.models import User
from django.db import transaction

from hub.actions import ActionError
from hub.models import AgentProfile, AgentSkill, Team


def create_agent(username: str, *, password: str, display_name: str = "", role: str = AgentProfile.Role.AGENT,
                 teams: Sequence[str] = (), skills: Mapping[str, int] | None = None, language: str = "en",
                 email: str = "") -> User:
    """A user with an agent profile. Teams are created when missing. An admin is also a Django superuser,
    so that /admin/ opens for them."""
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
    return user


def api_token(username: str) -> str:
    """The user's API token, created on first request."""
    from hub.api.tokens import token_for

    return token_for(username)
