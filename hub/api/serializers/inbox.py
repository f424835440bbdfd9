"""What the agent inbox page reads in one request each: list rows with their unread count and snippet, the
customer's cross-channel timeline, the screen-pop profile; and canned responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.api.serializers.conversations import ConversationSerializer
from hub.api.serializers.messages import MessageSerializer, NoteSerializer
from hub.models import CannedResponse, Conversation, Team

LISTS = ("mine", "unassigned", "teams", "all")
# The statuses an inbox list shows unless asked otherwise: what still needs an agent.
ACTIVE = "active"


class InboxFilterSerializer(serializers.Serializer[Any]):
    list = serializers.ChoiceField(choices=LISTS, default="mine",
                                   help_text="mine, unassigned, teams (my teams' queues) or all (supervisors)")
    # Text rather than a choice: a second set of choices under the name "status" would collide in the schema.
    status = serializers.CharField(default=ACTIVE, max_length=16,
                                   help_text="active (open and pending, the default), or open, pending, snoozed "
                                             "or resolved")

    def validate_status(self, value: str) -> str:
        if value != ACTIVE and value not in Conversation.Status.values:
            raise serializers.ValidationError(
                f"expected active or one of {', '.join(Conversation.Status.values)}")
        return value


class SnippetSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(help_text="The beginning of the newest message (plain text)")
    direction = serializers.CharField(help_text="in or out")
    kind = serializers.CharField()
    channel = serializers.CharField()
    created_at = serializers.DateTimeField()


class InboxRowSerializer(ConversationSerializer):
    """A conversation as an inbox list row: every field of the conversation, plus what the row shows."""

    unread = serializers.SerializerMethodField(help_text="Customer messages after my last read mark")
    waiting_since = serializers.SerializerMethodField(
        help_text="Since when the customer waits for an answer (their oldest message after our last reply), "
                  "or null when nothing is unanswered")
    snippet = serializers.SerializerMethodField()
    # Plain text here: the same choices in a second component make the schema's enum names ambiguous.
    status = serializers.CharField(read_only=True, help_text="open, pending, snoozed or resolved")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "unread", "waiting_since", "snippet"]
        read_only_fields = fields

    def _extra(self, conversation: Conversation) -> dict[str, Any]:
        extras: dict[int, dict[str, Any]] = self.context.get("extras", {})
        return extras.get(conversation.pk, {})

    def get_unread(self, conversation: Conversation) -> int:
        return int(self._extra(conversation).get("unread", 0))

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_waiting_since(self, conversation: Conversation) -> Any:
        return self._extra(conversation).get("waiting_since")

    @extend_schema_field(SnippetSerializer(allow_null=True))
    def get_snippet(self, conversation: Conversation) -> dict[str, Any] | None:
        return self._extra(conversation).get("snippet")


class TimelineMessageSerializer(MessageSerializer):
    """A message as the timeline shows it: the realtime message object plus the few metadata fields that
    change how it is drawn (folded email quote, call duration and recording, thread, social post)."""

    # Plain text here: the same choices in a second component make the schema's enum names ambiguous.
    kind = serializers.CharField(help_text="text, or call")  # type: ignore[assignment]
    status = serializers.CharField(help_text="received, queued, sent, delivered, read or failed")  # type: ignore[assignment]
    extra = serializers.DictField(help_text="quoted_text, signature, duration_seconds, recording_url, "
                                            "call_status, thread_ts, social_kind, post_excerpt, to (when known)")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        meta = instance.metadata if isinstance(instance.metadata, dict) else {}
        data["extra"] = {key: meta[key] for key in TIMELINE_METADATA if meta.get(key) not in (None, "")}
        return data


TIMELINE_METADATA = ("quoted_text", "signature", "duration_seconds", "recording_url", "call_status", "thread_ts",
                     "social_kind", "post_excerpt", "to", "auto_reply_reason")


class TimelineConversationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    channel = serializers.CharField()
    subject = serializers.CharField()
    created_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class TimelineSerializer(serializers.Serializer[Any]):
    customer_id = serializers.IntegerField()
    conversations = TimelineConversationSerializer(many=True, help_text="The customer's conversations I may see")
    messages = TimelineMessageSerializer(many=True, help_text="Their messages, oldest first")
    notes = NoteSerializer(many=True, help_text="Internal notes on those conversations, oldest first")
    truncated = serializers.BooleanField(help_text="Older messages exist beyond those returned")


class ProfileIdentitySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    address = serializers.CharField()
    display_name = serializers.CharField()
    verified = serializers.BooleanField()


class ProfileConversationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    channel = serializers.CharField()
    subject = serializers.CharField()
    priority = serializers.IntegerField()
    assignee_name = serializers.CharField(allow_null=True)
    team_name = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)


class ProfileRatingSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    score = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReplyAccountSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    name = serializers.CharField()
    identity_kind = serializers.CharField(help_text="The kind of customer address a reply there goes to")


class ProfileMergeSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    source_name = serializers.CharField()
    merged_at = serializers.DateTimeField()


class CustomerProfileSerializer(serializers.Serializer[Any]):
    """The screen pop, in one request."""

    id = serializers.IntegerField()
    display_name = serializers.CharField()
    language = serializers.CharField()
    value_tier = serializers.CharField(help_text="standard, gold or vip")
    lifetime_value = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    notes = serializers.CharField()
    merged_into_id = serializers.IntegerField(allow_null=True)
    identities = ProfileIdentitySerializer(many=True)
    conversations = ProfileConversationSerializer(many=True, help_text="Newest first: open and past, with outcomes")
    last_csat = ProfileRatingSerializer(allow_null=True)
    reply_accounts = ReplyAccountSerializer(many=True, help_text="Channel accounts a reply can go out on")
    merges = ProfileMergeSerializer(many=True, help_text="Merges into this customer that can be undone")


class CannedResponseSerializer(serializers.ModelSerializer[CannedResponse]):
    team_id = serializers.IntegerField(read_only=True, allow_null=True)
    team_name = serializers.CharField(source="team.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "title", "text", "team_id", "team_name", "created_at", "updated_at"]
        read_only_fields = fields


class CannedWriteSerializer(serializers.Serializer[Any]):
    """Only the fields given change (PATCH); POST needs shortcut, title and text."""

    shortcut = serializers.CharField(required=False, max_length=41, help_text="Typed after / in the reply box")
    title = serializers.CharField(required=False, max_length=120)
    text = serializers.CharField(required=False, max_length=10_000,
                                 help_text="May hold {{customer.name}} and {{agent.name}}")
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True,
                                              help_text="null: every agent's; else that team's agents'")


class CannedSearchSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100,
                              help_text="Part of the shortcut or title")


class ReadMarkSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    last_read_at = serializers.DateTimeField(help_text="Read up to here; it never moves backwards")
