from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.db.models import Count
from django.utils import timezone
from pytest_django.fixtures import Settings

from hub.channel_accounts import ensure_default_accounts
from hub.demo import LOGINS, SeedResult, seed_demo
from hub.models import (
    AgentProfile,
    AgentSkill,
    AuditLog,
    Change,
    Conversation,
    Customer,
    EventDelivery,
    Identity,
    Message,
    Note,
    Tag,
    Team,
)

pytestmark = pytest.mark.django_db(transaction=True)

ROW_MODELS = (Team, AgentProfile, AgentSkill, Customer, Identity, Conversation, Message, Note, Tag, AuditLog,
              Change, EventDelivery)


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture
def seeded(settings: Settings) -> SeedResult:
    # The demo's passwords are hashed with the real hasher in production; a fast one keeps tests quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_default_accounts()
    result = seed_demo()
    assert result.loaded
    return result


def test_the_four_teams_exist(seeded: SeedResult) -> None:
    assert set(Team.objects.values_list("name", flat=True)) >= {"General", "Billing", "VIP", "中文支持"}


def test_every_demo_login_works_with_its_printed_password(seeded: SeedResult) -> None:
    for login in LOGINS:
        user = authenticate(username=login.username, password=login.password)
        assert user is not None, login.username
        assert user.agent.role == login.role
    admin = authenticate(username="admin", password="admin-demo")
    assert admin is not None and admin.is_superuser and admin.is_staff
    wei = AgentProfile.objects.get(user__username="wei")
    assert wei.display_name == "王伟"
    assert "中文支持" in set(wei.teams.values_list("name", flat=True))
    assert wei.skills.get(skill="language:zh").level == 5
    assert AgentProfile.objects.filter(role="supervisor").exists()


def test_every_identity_kind_is_present(seeded: SeedResult) -> None:
    assert set(Identity.objects.values_list("kind", flat=True)) == {"email", "phone", "social", "slack", "webchat"}


def test_conversations_in_english_and_chinese(seeded: SeedResult) -> None:
    chinese = [c for c in Conversation.objects.all() if has_chinese(c.subject)]
    english = [c for c in Conversation.objects.all() if not has_chinese(c.subject)]
    assert len(chinese) >= 4 and len(english) >= 4
    assert {c.team.name for c in chinese if c.team} == {"中文支持"}
    # A name that GB2312 cannot encode but GBK can: the case that breaks naive mail decoding.
    kun = Customer.objects.get(display_name="欧阳堃")
    kun.display_name.encode("gbk")
    with pytest.raises(UnicodeEncodeError):
        kun.display_name.encode("gb2312")


def test_message_counts_are_sensible(seeded: SeedResult) -> None:
    assert 25 <= Message.objects.count() <= 80
    assert seeded.messages == Message.objects.count()
    inbound = Message.objects.filter(direction="in")
    # Every inbound message came through ingestion, which requires a provider id.
    assert not inbound.filter(provider_message_id__isnull=True).exists()
    outbound = Message.objects.filter(direction="out")
    assert outbound.count() >= 8
    # Tests run tasks at commit: the log connector has delivered every reply.
    assert set(outbound.values_list("status", flat=True)) == {"sent"}
    for conv in Conversation.objects.all():
        assert conv.messages_count == conv.messages.count()


def test_a_customer_wrote_on_three_channels(seeded: SeedResult) -> None:
    emma = (Customer.objects.annotate(channels=Count("conversations__channel", distinct=True))
            .filter(channels__gte=3).get())
    assert set(emma.conversations.values_list("channel", flat=True)) == {"email", "sms", "webchat"}
    assert set(emma.identities.values_list("kind", flat=True)) == {"email", "phone", "webchat"}
    ordered = list(emma.conversations.order_by("created_at").values_list("channel", flat=True))
    assert ordered == ["email", "sms", "webchat"]


def test_conversations_in_each_status(seeded: SeedResult) -> None:
    by_status = dict(Conversation.objects.values_list("status").annotate(n=Count("id")))
    assert by_status["pending"] == 1 and by_status["snoozed"] == 1
    assert by_status["open"] >= 3 and by_status["resolved"] >= 3
    snoozed = Conversation.objects.get(status="snoozed")
    assert snoozed.snoozed_until is not None and snoozed.snoozed_until > timezone.now()


def test_some_assigned_some_waiting(seeded: SeedResult) -> None:
    waiting = Conversation.objects.filter(status="open", assignee__isnull=True)
    assert waiting.count() >= 2 and all(c.team_id for c in waiting)
    assert Conversation.objects.filter(status="open", assignee__isnull=False).count() >= 2


def test_routing_queues_and_the_waiting_line(seeded: SeedResult) -> None:
    from hub.models import RoutingEntry, RoutingQueue

    assert set(RoutingQueue.objects.filter(active=True).values_list("name", flat=True)) == {
        "General", "中文支持 Chinese", "Billing", "VIP"}
    # Nobody is signed in after seeding: the open unassigned conversations wait in line.
    waiting = Conversation.objects.filter(status="open", assignee__isnull=True)
    assert set(RoutingEntry.objects.values_list("conversation_id", flat=True)) >= {c.pk for c in waiting}


def test_profiles_notes_tags_and_public_comments(seeded: SeedResult) -> None:
    tiers = set(Customer.objects.values_list("value_tier", flat=True))
    assert {"vip", "gold", "standard"} <= tiers
    assert Customer.objects.filter(tags__isnull=False).distinct().count() >= 3
    assert Customer.objects.exclude(notes="").count() >= 3
    assert Note.objects.count() >= 4 and any(has_chinese(n.text) for n in Note.objects.all())
    assert Conversation.objects.filter(tags__isnull=False).distinct().count() >= 5
    public = Message.objects.filter(is_public=True)
    assert public.count() >= 2 and {m.channel_account.channel for m in public} == {"social"}
    assert Conversation.objects.filter(escalated=True).count() >= 2
    assert Message.objects.filter(kind="call").count() == 1


def test_history_is_spread_over_past_days(seeded: SeedResult) -> None:
    now = timezone.now()
    oldest = Conversation.objects.order_by("created_at").first()
    assert oldest is not None and oldest.created_at < now - timedelta(days=5)
    for conv in Conversation.objects.all():
        times = list(conv.messages.values_list("created_at", flat=True))
        assert times == sorted(times) and times[0] == conv.created_at and times[-1] == conv.last_message_at
        if conv.first_response_at:
            assert conv.first_response_at > conv.created_at
        if conv.status == "resolved":
            assert conv.resolved_at is not None and conv.resolved_at >= conv.created_at
            assert conv.resolved_at < now - timedelta(hours=12)


def test_seeding_twice_changes_nothing(seeded: SeedResult) -> None:
    before = {model.__name__: model.objects.count() for model in ROW_MODELS}
    assert seed_demo() == SeedResult(loaded=False)
    assert {model.__name__: model.objects.count() for model in ROW_MODELS} == before
