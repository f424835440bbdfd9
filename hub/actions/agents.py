from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.events import schema
from hub.events.publish import publish, regroup_after_commit, staff_ids
from hub.models import AgentProfile, AgentSkill, Team
from routing.core.model import DEFAULT_CAPACITY, EXCLUSIVE_CHANNELS
from routing.signals import agent_presence_changed

MAX_CAPACITY = 100  # conversations at once on one channel: far beyond what a person can follow
MAX_SKILLS = 50


def do_set_presence(actor: User | None, agent: AgentProfile, presence: str, *, reason: str = "") -> AgentProfile:
    """Change an agent's presence; the agent's own connections and supervisors are told. `reason` says why
    when the hub changes it itself (AgentProfile.presence_reason)."""
    if presence not in AgentProfile.Presence.values:
        raise ActionError(f"presence must be one of {', '.join(AgentProfile.Presence.values)}", field="presence")
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update(no_key=True).get(pk=agent.pk)
        if locked.presence == presence:
            return locked
        locked.presence = presence
        locked.presence_changed_at = timezone.now()
        locked.presence_reason = reason
        locked.save(update_fields=["presence", "presence_changed_at", "presence_reason"])
        if reason:
            audit.record("agent.presence", actor, presence=presence, agent=locked.user_id, reason=reason)
        else:
            audit.record("agent.presence", actor, presence=presence, agent=locked.user_id)
        publish(schema.PresenceChanged(agent_id=locked.user_id, presence=presence,  # type: ignore[arg-type]
                                       reason=reason or None),  # type: ignore[arg-type]
                staff_ids() | {locked.user_id})
        user_id = locked.user_id
        transaction.on_commit(lambda: agent_presence_changed.send(sender=AgentProfile, user_id=user_id,
                                                                  presence=presence))
    return locked


def do_renew_presence_leases(user_ids: Collection[int], now: datetime | None = None) -> int:
    """The agents with an inbox connection open in this process are there: their presence holds for
    HUB_PRESENCE_LEASE_SECONDS more (web/presence_lease.py renews it while a connection stays open)."""
    if not user_ids:
        return 0
    until = (now or timezone.now()) + timedelta(seconds=settings.HUB_PRESENCE_LEASE_SECONDS)
    return AgentProfile.objects.filter(user_id__in=list(user_ids)).update(online_until=until)


def do_expire_presence_leases(now: datetime | None = None) -> int:
    """Set offline the agents none of whose inbox connections has been open for HUB_PRESENCE_LEASE_SECONDS
    (the browser closed, the network or the machine gone): routing stops offering them work and hands back
    what awaits their answer, as when they choose offline. Agents who never opened the inbox (API clients)
    have no lease and are left alone. An agent on a call keeps their presence: the call goes on without the
    inbox, and once it ends (the agent available again) the next sweep finds the lease still run out.
    Returns how many were set offline."""
    now = now or timezone.now()
    expired = 0
    due = AgentProfile.objects.filter(online_until__lt=now).exclude(presence=AgentProfile.Presence.BUSY)
    for pk in due.values_list("pk", flat=True):
        with transaction.atomic():
            profile = AgentProfile.objects.select_for_update(no_key=True).filter(pk=pk).first()
            if (profile is None or profile.online_until is None or profile.online_until >= now
                    or profile.presence == AgentProfile.Presence.BUSY):
                continue  # a connection renewed it, or a call began, meanwhile
            AgentProfile.objects.filter(pk=pk).update(online_until=None)
            if profile.presence != AgentProfile.Presence.OFFLINE:
                do_set_presence(None, profile, AgentProfile.Presence.OFFLINE, reason="disconnected")
                expired += 1
    return expired


def do_sign_out_presence(agent: AgentProfile) -> AgentProfile:
    """An agent signed out of the inbox: they are offline, and no lease of theirs stands."""
    with transaction.atomic():
        AgentProfile.objects.filter(pk=agent.pk).update(online_until=None)
        return do_set_presence(agent.user, agent, AgentProfile.Presence.OFFLINE, reason="signed_out")


def do_create_agent(username: str, *, password: str, display_name: str = "", role: str = AgentProfile.Role.AGENT,
                 teams: Sequence[str] = (), skills: Mapping[str, int] | None = None,
                 capacity: Mapping[str, int] | None = None, language: str = "en", email: str = "") -> User:
    """A user with an agent profile (`hub createagent`, the demo data). Teams are created when missing. An
    admin is also a Django superuser, so that /admin/ opens for them."""
    username = username.strip()
    if not username:
        raise ActionError("a username is required", field="username")
    if role not in AgentProfile.Role.values:
        raise ActionError(f"role must be one of {', '.join(AgentProfile.Role.values)}", field="role")
    checked_skills = check_skills(skills or {})
    overrides = {channel: units for channel, units in check_capacity(capacity or {}).items() if units is not None}
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ActionError(f"a user named {username!r} already exists", field="username")
        is_admin = role == AgentProfile.Role.ADMIN
        user = User.objects.create_user(username=username, email=email, password=password,
                                        is_staff=is_admin, is_superuser=is_admin)
        profile = AgentProfile.objects.create(user=user, display_name=display_name or username, role=role,
                                              language=language, capacity=overrides)
        profile.teams.set([Team.objects.get_or_create(name=name.strip())[0] for name in teams if name.strip()])
        AgentSkill.objects.bulk_create([AgentSkill(agent=profile, skill=skill, level=level)
                                        for skill, level in checked_skills.items()])
        audit.record("agent.created", None, agent=user.pk, role=role, teams=sorted(teams))
    return user


def check_skills(raw: Any) -> dict[str, int]:
    """{skill: level 1-5}, the names trimmed (e.g. {"billing": 3, "language:zh": 5})."""
    if not isinstance(raw, Mapping):
        raise ActionError("skills must be an object of skill name to level (1-5)", field="skills")
    if len(raw) > MAX_SKILLS:
        raise ActionError(f"at most {MAX_SKILLS} skills", field="skills")
    skills: dict[str, int] = {}
    for name, level in raw.items():
        clean = str(name).strip()
        if not clean or len(clean) > 64:
            raise ActionError("a skill name is 1 to 64 characters", field="skills")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise ActionError(f"skill {clean!r}: the level must be a whole number from 1 to 5", field="skills")
        skills[clean] = level
    return skills


def check_capacity(raw: Any) -> dict[str, int | None]:
    """{channel: units, or None to go back to the channel's default}."""
    if not isinstance(raw, Mapping):
        raise ActionError("capacity must be an object of channel to units", field="capacity")
    capacity: dict[str, int | None] = {}
    for channel, units in raw.items():
        if channel not in DEFAULT_CAPACITY:
            raise ActionError(f"unknown channel {channel!r}; channels: {', '.join(DEFAULT_CAPACITY)}",
                              field="capacity")
        if units is None:
            capacity[channel] = None
            continue
        if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= MAX_CAPACITY:
            raise ActionError(f"{channel}: capacity must be a whole number from 0 to {MAX_CAPACITY}, or null for "
                              f"the default ({DEFAULT_CAPACITY[channel]})", field="capacity")
        if channel in EXCLUSIVE_CHANNELS and units > 1:
            raise ActionError(f"{channel}: a call takes the agent entirely, so the capacity is 0 or 1",
                              field="capacity")
        capacity[channel] = units
    return capacity


def check_teams(raw: Any) -> list[Team]:
    if not isinstance(raw, list | tuple) or any(isinstance(t, bool) or not isinstance(t, int) for t in raw):
        raise ActionError("teams must be a list of team ids", field="teams")
    teams = list(Team.objects.filter(pk__in=set(raw)))
    missing = sorted(set(raw) - {t.pk for t in teams})
    if missing:
        raise ActionError(f"no team with id {', '.join(map(str, missing))}", field="teams")
    return teams


def do_update_agent_routing(actor: User | None, agent: AgentProfile, *, skills: Any = None, capacity: Any = None,
                            teams: Any = None) -> AgentProfile:
    """Change what routing reads of an agent: their skills (the whole set), their capacity per channel (the
    channels given; null goes back to the default) and their teams (the whole set). Routing reloads after
    the commit, so a raised capacity or a new skill is offered work at once."""
    new_skills = check_skills(skills) if skills is not None else None
    new_capacity = check_capacity(capacity) if capacity is not None else None
    new_teams = check_teams(teams) if teams is not None else None
    with transaction.atomic():
        locked = AgentProfile.objects.select_for_update(no_key=True).get(pk=agent.pk)
        before: dict[str, Any] = {"skills": dict(locked.skills.values_list("skill", "level")),
                                  "capacity": dict(locked.capacity or {}),
                                  "teams": sorted(locked.teams.values_list("id", flat=True))}
        after = dict(before)
        if new_skills is not None:
            after["skills"] = new_skills
        if new_capacity is not None:
            merged = {**before["capacity"], **new_capacity}
            after["capacity"] = {channel: units for channel, units in merged.items() if units is not None}
        if new_teams is not None:
            after["teams"] = sorted(t.pk for t in new_teams)
        changed = [key for key in ("skills", "capacity", "teams") if after[key] != before[key]]
        if not changed:
            return locked
        if "skills" in changed:
            AgentSkill.objects.filter(agent=locked).delete()
            AgentSkill.objects.bulk_create([AgentSkill(agent=locked, skill=name, level=level)
                                            for name, level in sorted(after["skills"].items())])
        if "capacity" in changed:
            locked.capacity = after["capacity"]
            locked.save(update_fields=["capacity"])
        if "teams" in changed and new_teams is not None:
            locked.teams.set(new_teams)
            regroup_after_commit(locked.user_id)  # their open connections follow the new teams' conversations
        audit.record("agent.routing", actor, agent=locked.user_id, changed=changed,
                     now={key: after[key] for key in changed}, previous={key: before[key] for key in changed})
        _routing_round_after_commit()
    return locked


def _routing_round_after_commit() -> None:
    from hub.actions.routing import round_after_commit  # hub.actions.routing imports this module

    round_after_commit()
