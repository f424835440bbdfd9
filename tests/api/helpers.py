"""Builders for the API tests: clients signed in as someone, and conversations that belong to a team."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

from hub.actions.ingestion import do_ingest_message
from hub.models import ChannelAccount, Conversation, Team
from tests import factories as f

_numbers = itertools.count(100)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def team_account(team: Team | None, channel: str = "sms") -> ChannelAccount:
    """A channel account whose new conversations go to `team` (None: the shared inbox)."""
    return ChannelAccount.objects.create(channel=channel, name=f"{channel} {team or 'shared'} {next(_numbers)}",
                                         address=f"+1555000{next(_numbers):04d}", team=team)


def conversation(team: Team | None = None, *, text: str = "Hello", address: str | None = None,
                 channel: str = "sms", kind: str = "phone", name: str = "", **kw: Any) -> Conversation:
    """A new conversation of `team`, started by a customer message (through ingestion, as in production)."""
    account = team_account(team, channel)
    address = address or f"+1415555{next(_numbers):04d}"
    result = do_ingest_message(account, f.inbound(text, kind=kind, address=address, name=name, **kw))
    return result.message.conversation


def agent(username: str | None = None, **kw: Any) -> User:
    user = f.agent(username, **kw)
    assert isinstance(user, User)
    return user


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def ids(response: Any) -> list[int]:
    return [row["id"] for row in results(response)]
