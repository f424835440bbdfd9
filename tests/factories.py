"""Small builders for tests: real rows through the real actions where it matters."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from connectors.base import InboundMessage, Sender
from hub.channel_accounts import ensure_default_accounts
from hub.models import AgentProfile, ChannelAccount, Team

_counter = itertools.count(1)


def account(channel: str = "sms") -> ChannelAccount:
    return ensure_default_accounts()[channel]


def team(name: str = "General") -> Team:
    return Team.objects.get_or_create(name=name)[0]


def agent(username: str | None = None, *, role: str = "agent", teams: list[Team] | None = None,
          presence: str = "offline") -> AbstractBaseUser:
    """An agent, signed out unless `presence` says otherwise: an available agent is offered work by
    routing as soon as a conversation arrives."""
    username = username or f"agent{next(_counter)}"
    user = get_user_model().objects.create_user(username=username, password="pw-" + username)
    profile = AgentProfile.objects.create(user=user, display_name=username.title(), role=role,
                                          presence=presence)
    if teams:
        profile.teams.set(teams)
    return user


def inbound(text: str = "Hello", *, pid: str | None = None, kind: str = "phone",
            address: str = "+14155550100", name: str = "", **kw: Any) -> InboundMessage:
    return InboundMessage(provider_message_id=pid or f"pid-{next(_counter)}",
                          sender=Sender(kind=kind, address=address, display_name=name), text=text, **kw)
