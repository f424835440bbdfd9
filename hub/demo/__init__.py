"""The demo contact center `hub up` loads on first run and `hub seed-demo` loads on request.

Teams, staff with fixed demo passwords (hub/demo/people.py), and customers whose histories in English and
Chinese are played through the real actions (stories_en.py, stories_zh.py). Loading is idempotent: once the
demo's first user exists, nothing is loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from hub.channel_accounts import ensure_default_accounts
from hub.demo import canned, people, stories_en, stories_zh
from hub.demo.people import LOGINS, DemoLogin
from hub.demo.script import Cast, Timeline
from hub.demo.timeline import backdate
from hub.models import Conversation, Customer, Message

__all__ = ["LOGINS", "DemoLogin", "SeedResult", "is_loaded", "seed_demo"]

MARKER_USER = LOGINS[0].username


@dataclass(frozen=True)
class SeedResult:
    loaded: bool  # False: the demo was already there and nothing changed
    customers: int = 0
    conversations: int = 0
    messages: int = 0


def is_loaded() -> bool:
    return User.objects.filter(username=MARKER_USER).exists()


def seed_demo() -> SeedResult:
    """Load the demo unless it is already loaded. One transaction: a failure leaves nothing half-loaded,
    and the replies' deliveries and the routing notifications start after it commits."""
    if is_loaded():
        return SeedResult(loaded=False)
    try:
        with transaction.atomic():
            teams = people.create_teams()
            people.create_queues(teams)
            cast = Cast(accounts=ensure_default_accounts(), teams=teams, staff=people.create_staff(),
                        timeline=Timeline())
            for story in (*stories_en.STORIES, *stories_zh.STORIES):
                story(cast)
            canned.create_canned(teams, cast.staff["sofia"])
            backdate(cast.timeline)
    except IntegrityError:
        if is_loaded():  # another process loaded it at the same moment
            return SeedResult(loaded=False)
        raise
    return SeedResult(
        loaded=True,
        customers=Customer.objects.filter(merged_into__isnull=True, identities__isnull=False).distinct().count(),
        conversations=Conversation.objects.count(),
        messages=Message.objects.count(),
    )
