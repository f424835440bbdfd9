"""Conversations as the inbox shows them, and the bodies of the conversation actions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from rest_framework import serializers

from hub.actions.conversations import MAX_TAGS
from hub.events.payloads import user_display_name
from hub.models import ChannelAccount, Conversation, Team

# Row ids are 64-bit; a larger number in a foreign-key filter would fail inside the database driver.
MAX_ID = 2**63 - 1


class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    """Every field of the realtime ConversationData (so that an event can update a row fetched here), plus
    names and timestamps the inbox shows."""

    customer_id = serializers.IntegerField(read_only=True)
    customer_name = serializers.CharField(source="customer.display_name", read_only=True)
    customer_value_tier = serializers.CharField(source="customer.value_tier", read_only=True,
                                                help_text="standard, gold or vip")
    team_id = serializers.IntegerField(read_only=True, allow_null=True)
    team_name = serializers.CharField(source="team.name", read_only=True, allow_null=True)
    assignee_id = serializers.IntegerField(read_only=True, allow_null=True)
    assignee_name = serializers.SerializerMethodField()
    channel_account_id = serializers.IntegerField(read_only=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id", "customer_id", "customer_name", "customer_value_tier", "team_id", "team_name", "assignee_id",
            "assignee_name", "status", "priority", "escalated", "subject", "channel", "channel_account_id",
            "tags", "messages_count", "snoozed_until", "created_at", "updated_at", "last_message_at",
            "last_customer_message_at", "first_response_at", "assigned_at", "resolved_at", "reopened_at",
            "reopen_count",
        ]
        read_only_fields = fields

    def get_assignee_name(self, conversation: Conversation) -> str | None:
        return user_display_name(conversation.assignee) if conversation.assignee_id else None

    def get_tags(self, conversation: Conversation) -> list[str]:
        return sorted(tag.name for tag in conversation.tags.all())


def with_related(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """What ConversationSerializer reads, fetched in a fixed number of queries for a whole page."""
    return conversations.select_related("customer", "team", "assignee__agent").prefetch_related("tags")


class AssignSerializer(serializers.Serializer[Any]):
    assignee = serializers.IntegerField(allow_null=True, help_text="User id of an agent; null unassigns")


class TransferSerializer(serializers.Serializer[Any]):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True,
                                              help_text="Team whose queue takes the conversation")
    assignee = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="User id of the agent who takes it")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("team") is None and attrs.get("assignee") is None:
            raise serializers.ValidationError({"detail": ["transfer needs a team or an agent"]})
        return attrs


class SnoozeSerializer(serializers.Serializer[Any]):
    snoozed_until = serializers.DateTimeField(help_text="When the conversation reopens; must be in the future")


class TagsSerializer(serializers.Serializer[Any]):
    tags = serializers.ListField(child=serializers.CharField(max_length=64), max_length=MAX_TAGS,
                                 help_text="The complete new tag list (replaces the current one)")


class QueueMoveSerializer(serializers.Serializer[Any]):
    queue = serializers.IntegerField(help_text="id of the routing queue (GET /api/v1/routing/queues/)")


class PrioritySerializer(serializers.Serializer[Any]):
    priority = serializers.ChoiceField(choices=Conversation.Priority.choices, required=False,
                                       help_text="0 low, 1 normal, 2 high, 3 urgent")
    escalated = serializers.BooleanField(required=False, help_text="Flag a negative interaction")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "priority" not in attrs and "escalated" not in attrs:
            raise serializers.ValidationError({"detail": ["give priority, escalated or both"]})
        return attrs


class ConversationFilterSerializer(serializers.Serializer[Any]):
    """Query parameters of the conversation list. Validated, so that a typo answers 400 rather than an
    empty list that looks like an empty inbox."""

    status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)
    channel = serializers.CharField(required=False, max_length=40, help_text="A channel id, e.g. sms")
    assignee = serializers.CharField(required=False, max_length=20,
                                     help_text='User id of an agent, "me", or "none" for unassigned')
    team = serializers.CharField(required=False, max_length=20, help_text='Team id, or "none" for no team')
    customer = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Customer id")

    def validate_assignee(self, value: str) -> int | None:
        if value == "none":
            return None
        if value == "me":
            user = self.context["request"].user
            return int(user.pk)
        user_id = _positive_int(value, "an agent's user id, \"me\" or \"none\"")
        if not User.objects.filter(pk=user_id, agent__isnull=False).exists():
            raise serializers.ValidationError("no such agent")
        return user_id

    def validate_team(self, value: str) -> int | None:
        if value == "none":
            return None
        team_id = _positive_int(value, "a team id or \"none\"")
        if not Team.objects.filter(pk=team_id).exists():
            raise serializers.ValidationError("no such team")
        return team_id

    def validate_channel(self, value: str) -> str:
        if not ChannelAccount.objects.filter(channel=value).exists():
            raise serializers.ValidationError(f"unknown channel {value!r}")
        return value


def _positive_int(value: str, expected: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise serializers.ValidationError(f"expected {expected}")
    return int(value)
