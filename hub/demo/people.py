"""The demo contact center's teams and staff, with the logins `hub up` prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User

from hub.actions.agents import do_create_agent
from hub.models import Team

TEAMS: dict[str, str] = {
    "General": "First line for every channel.",
    "Billing": "Invoices, refunds, payment problems.",
    "VIP": "High-value and business customers; sticky agents.",
    "中文支持": "Chinese-language support (微博, 短信, 在线客服).",
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    display_name: str
    role: str
    teams: tuple[str, ...]
    language: str = "en"
    # Skill names follow "language:<code>" for languages and a plain topic/channel name otherwise.
    skills: dict[str, int] = field(default_factory=dict)


LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("alice", "alice-demo", "Alice Martin", "agent", ("General", "Billing"),
              skills={"language:en": 5, "language:fr": 3, "billing": 4, "email": 4}),
    DemoLogin("bob", "bob-demo", "Bob Okafor", "agent", ("General", "VIP"),
              skills={"language:en": 5, "vip": 4, "slack": 4, "voice": 3}),
    DemoLogin("wei", "wei-demo", "王伟", "agent", ("中文支持", "General"), language="zh-hans",
              skills={"language:zh": 5, "language:en": 3, "social": 4, "billing": 2}),
    DemoLogin("sofia", "sofia-demo", "Sofia Rossi", "supervisor", ("General", "Billing", "VIP", "中文支持"),
              skills={"language:en": 5, "language:it": 5, "billing": 3, "vip": 5}),
    DemoLogin("admin", "admin-demo", "Hub Admin", "admin", ()),
)


def create_teams() -> dict[str, Team]:
    teams = {}
    for name, description in TEAMS.items():
        teams[name], _ = Team.objects.get_or_create(name=name, defaults={"description": description})
    return teams


def create_queues(teams: dict[str, Team]) -> None:
    """Routing queues that show the model (docs/routing.md): a team queue with a skill and overflow, a
    Chinese-language queue whose required level relaxes, and the catch-all one."""
    from hub.actions.routing_config import do_create_queue
    from routing.adapter import ensure_default_queue

    general = ensure_default_queue()
    do_create_queue(None, {"name": "中文支持 Chinese", "order": 10, "languages": ["zh"],
                           "required_skills": {"language:zh": 4}, "relaxation": [[120, 2]],
                           "overflow_to": general.pk, "overflow_after": 600})
    do_create_queue(None, {"name": "Billing", "order": 20, "team": teams["Billing"].pk,
                           "required_skills": {"billing": 2}, "overflow_to": general.pk, "overflow_after": 300})
    do_create_queue(None, {"name": "VIP", "order": 30, "team": teams["VIP"].pk, "sticky_seconds": 120,
                           "strategy": "least_occupied"})


def create_staff() -> dict[str, User]:
    return {
        login.username: do_create_agent(login.username, password=login.password, display_name=login.display_name,
                                     role=login.role, teams=login.teams, skills=login.skills,
                                     language=login.language, email=f"{login.username}@hub.example")
        for login in LOGINS
    }
