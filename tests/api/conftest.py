from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from pytest_django.fixtures import Settings

from hub.models import Team
from tests.api import helpers as h


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    # Throttle counters live in the cache, keyed by user id; ids repeat across tests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Settings) -> None:
    # Every test creates a few users; the production hasher makes each cost a third of a second.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Org:
    team_a: Team
    team_b: Team
    alice: User  # agent in team A
    bob: User  # agent in team B
    sue: User  # supervisor, no team


@pytest.fixture
def org(db: None) -> Org:
    team_a, team_b = Team.objects.create(name="Team A"), Team.objects.create(name="Team B")
    return Org(team_a, team_b, h.agent("alice", teams=[team_a]), h.agent("bob", teams=[team_b]),
               h.agent("sue", role="supervisor"))
