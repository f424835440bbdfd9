"""Routing: queue configuration, the conversations waiting in a queue, and offers.

A queue's JSON settings are taken as given here and validated by hub.actions.routing_config
(check_queue_config, shared with the admin): DRF's typed fields would coerce (a number into a string, "3"
into 3) where the configuration must be exact. The schemas declared on those fields only document them.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Count, Q, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.api.serializers.conversations import ConversationSerializer
from hub.events.payloads import conversation_data
from hub.models import Conversation, RoutingEntry, RoutingOffer, RoutingQueue, Team

_STRINGS = {"type": "array", "items": {"type": "string"}}


@extend_schema_field(_STRINGS)
class StringListField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 5},
                      "example": {"spanish": 3}})
class SkillLevelsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "object", "additionalProperties": {"type": "number"}, "example": {"webchat": 30}})
class ChannelSecondsField(serializers.JSONField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                                 "maxItems": 2},
                      "example": [[120, 1], [300, 2]]})
class RelaxationField(serializers.JSONField):
    pass


@extend_schema_field({
    "type": "object", "nullable": True,
    "properties": {
        "timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris"},
        "weekly": {"type": "object", "description": 'Weekday ("0" Monday .. "6" Sunday) to opening intervals '
                                                    "[start, end) in minutes since local midnight (0-1440)",
                   "additionalProperties": {"type": "array", "items": {"type": "array", "items": {"type": "integer"},
                                                                       "minItems": 2, "maxItems": 2}}},
        "closed_dates": {"type": "array", "items": {"type": "string", "format": "date"}},
    },
    "required": ["timezone", "weekly"],
    "example": {"timezone": "Europe/Paris", "weekly": {"0": [[540, 1080]]}, "closed_dates": ["2026-12-25"]},
})
class HoursField(serializers.JSONField):
    pass


class QueueSerializer(serializers.ModelSerializer[RoutingQueue]):
    """A queue's configuration, and how many conversations it holds now."""

    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), allow_null=True, required=False,
                                              help_text="Takes this team's conversations, answered by its agents")
    overflow_to = serializers.PrimaryKeyRelatedField(queryset=RoutingQueue.objects.all(), allow_null=True,
                                                     required=False, help_text="Queue id to move conversations to "
                                                     "after overflow_after seconds")
    channels = StringListField(required=False, help_text="Channels taken; empty: all")
    languages = StringListField(required=False, help_text="Customer languages taken; empty: all")
    auto_assign_channels = StringListField(required=False, help_text="Channels assigned without an offer")
    required_skills = SkillLevelsField(required=False, help_text="Skill to minimum level (1-5)")
    offer_timeouts = ChannelSecondsField(required=False, help_text="Channel to seconds an offer rings (above 0)")
    relaxation = RelaxationField(required=False, help_text="[after seconds waiting, lower required levels by]")
    hours = HoursField(required=False, allow_null=True, help_text="Business hours; null: always open")
    waiting = serializers.IntegerField(read_only=True, help_text="Conversations waiting in line")
    out_of_hours = serializers.IntegerField(read_only=True, help_text="Conversations waiting for opening")
    offered = serializers.IntegerField(read_only=True, help_text="Conversations offered to an agent now")
    open_now = serializers.SerializerMethodField(help_text="Within business hours now; null when the stored "
                                                           "hours cannot be read")

    class Meta:
        model = RoutingQueue
        fields = [
            "id", "name", "order", "active", "team", "channels", "languages", "required_skills", "strategy",
            "aging_seconds", "overflow_to", "overflow_after", "hours", "out_of_hours_message", "offer_timeouts",
            "auto_assign_channels", "sticky_seconds", "relaxation", "requeue_on_offline", "aht_seconds",
            "service_level_seconds", "service_level_target", "waiting", "out_of_hours", "offered", "open_now",
            "created_at", "updated_at",
        ]
        read_only_fields = ["id", "waiting", "out_of_hours", "offered", "open_now", "created_at", "updated_at"]

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_open_now(self, queue: RoutingQueue) -> bool | None:
        now = self.context.get("now", time.time())  # one instant for a whole list
        try:
            return queue.engine_queue().is_open(now)
        except (ValueError, TypeError, KeyError, AttributeError):  # hours written around validation
            return None


def queues_with_counts(queues: QuerySet[RoutingQueue]) -> QuerySet[RoutingQueue]:
    """The counts QueueSerializer shows, computed in the same query."""
    def count(state: str) -> Count:
        return Count("entries", filter=Q(entries__state=state))

    return queues.annotate(waiting=count(RoutingEntry.State.WAITING),
                           out_of_hours=count(RoutingEntry.State.OUT_OF_HOURS),
                           offered=count(RoutingEntry.State.OFFERED))


class WaitingSerializer(serializers.Serializer[Any]):
    """One conversation waiting in a queue's line."""

    position = serializers.IntegerField(help_text="1 for the next one offered")
    estimated_wait_seconds = serializers.FloatField(allow_null=True, help_text="Until an agent is likely offered "
                                                    "it; null when no agent who could take it is available")
    waiting_since = serializers.DateTimeField(help_text="When it entered routing (its place in line)")
    conversation_id = serializers.IntegerField()
    channel = serializers.CharField()
    priority = serializers.IntegerField(help_text="0 low, 1 normal, 2 high, 3 urgent")
    escalated = serializers.BooleanField()
    team_id = serializers.IntegerField(allow_null=True)
    customer_id = serializers.IntegerField()
    customer_name = serializers.CharField()


class OfferConversationSerializer(serializers.Serializer[Conversation]):
    """The conversation as the offer.created event carries it (hub.events.payloads.conversation_data, which
    builds the JSON); a test keeps these declared fields equal to the event's."""

    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    customer_name = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    assignee_id = serializers.IntegerField(allow_null=True)
    # Not a ChoiceField: a second component with the conversation status enum makes drf-spectacular name
    # the enum by hash (a warning); ConversationSerializer documents the values.
    status = serializers.CharField(help_text="open, pending, snoozed or resolved")
    priority = serializers.IntegerField()
    escalated = serializers.BooleanField()
    subject = serializers.CharField()
    channel = serializers.CharField()
    channel_account_id = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())
    messages_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    snoozed_until = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance: Conversation) -> dict[str, Any]:
        return conversation_data(instance).model_dump(mode="json")


class OfferSerializer(serializers.ModelSerializer[RoutingOffer]):
    conversation = OfferConversationSerializer(read_only=True)
    queue_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = RoutingOffer
        fields = ["id", "conversation", "queue_id", "created_at", "expires_at", "outcome", "closed_at"]
        read_only_fields = fields


def offers_with_related(offers: QuerySet[RoutingOffer]) -> QuerySet[RoutingOffer]:
    """What OfferSerializer reads, in a fixed number of queries."""
    return offers.select_related("conversation__customer").prefetch_related("conversation__tags")


class OfferAnswerSerializer(serializers.Serializer[Any]):
    offer = OfferSerializer()
    conversation = ConversationSerializer(allow_null=True, help_text="Now assigned to you (accept); null (decline)")
