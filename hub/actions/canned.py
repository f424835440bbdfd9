"""Canned responses: prepared answers agents insert with `/shortcut`. Supervisors and administrators
write them; every agent reads the global ones and those of their teams."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from hub import audit
from hub.access import sees_everything
from hub.actions import ActionError
from hub.models import CannedResponse, Team

FIELDS = ("shortcut", "title", "text", "team")
MAX_TEXT = 10_000
_SHORTCUT = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")


def visible_canned(user: User | AnonymousUser) -> QuerySet[CannedResponse]:
    """What `user` may insert: the global responses and their teams' (supervisors: every team's)."""
    qs = CannedResponse.objects.select_related("team")
    if sees_everything(user):
        return qs
    agent = getattr(user, "agent", None)
    if agent is None:
        return qs.none()
    return qs.filter(Q(team__isnull=True) | Q(team__in=agent.teams.values("id")))


def check_may_edit(actor: User) -> None:
    if not sees_everything(actor):
        raise ActionError("only supervisors and administrators may change canned responses")


def check_canned(actor: User, values: dict[str, Any], instance: CannedResponse | None = None) -> dict[str, Any]:
    """The values a create (all of FIELDS) or an update (some) would store, validated."""
    check_may_edit(actor)
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ActionError(f"cannot set {', '.join(sorted(unknown))}")
    clean = dict(values)
    if "shortcut" in clean:
        shortcut = str(clean["shortcut"] or "").strip().lstrip("/")
        if not _SHORTCUT.match(shortcut):
            raise ActionError("a shortcut is 1 to 40 letters, digits, - or _", field="shortcut")
        clean["shortcut"] = shortcut.lower()
    for name, limit in (("title", 120), ("text", MAX_TEXT)):
        if name in clean:
            value = str(clean[name] or "").strip()
            if not value:
                raise ActionError(f"a canned response needs a {name}", field=name)
            if len(value) > limit:
                raise ActionError(f"the {name} is limited to {limit} characters", field=name)
            clean[name] = value
    if instance is None:
        missing = [name for name in ("shortcut", "title", "text") if name not in clean]
        if missing:
            raise ActionError(f"a canned response needs a {missing[0]}", field=missing[0])
    if "team" in clean and clean["team"] is not None and not isinstance(clean["team"], Team):
        raise ActionError("no such team", field="team")
    shortcut = clean.get("shortcut", instance.shortcut if instance else "")
    team = clean.get("team", instance.team if instance else None)
    clash = CannedResponse.objects.filter(shortcut=shortcut, team=team)
    if instance is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        where = f"team {team.name}" if team else "everyone"
        raise ActionError(f"/{shortcut} already exists for {where}", field="shortcut")
    return clean


def do_create_canned(actor: User, values: dict[str, Any]) -> CannedResponse:
    clean = check_canned(actor, values)
    try:
        with transaction.atomic():
            canned = CannedResponse.objects.create(created_by=actor, **clean)
            audit.record("canned.created", actor, canned=canned.pk, shortcut=canned.shortcut, team=canned.team_id)
    except IntegrityError as exc:  # the same shortcut created at the same moment
        raise ActionError(f"/{clean['shortcut']} already exists", field="shortcut") from exc
    return canned


def do_update_canned(actor: User, canned: CannedResponse, values: dict[str, Any]) -> CannedResponse:
    clean = check_canned(actor, values, canned)
    try:
        with transaction.atomic():
            locked = CannedResponse.objects.select_for_update().get(pk=canned.pk)
            for name, value in clean.items():
                setattr(locked, name, value)
            locked.save()
            audit.record("canned.updated", actor, canned=locked.pk, changed=sorted(clean))
    except IntegrityError as exc:
        raise ActionError(f"/{locked.shortcut} already exists", field="shortcut") from exc
    return locked


def do_delete_canned(actor: User, canned: CannedResponse) -> None:
    check_may_edit(actor)
    with transaction.atomic():
        audit.record("canned.deleted", actor, canned=canned.pk, shortcut=canned.shortcut, team=canned.team_id)
        canned.delete()
