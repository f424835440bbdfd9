"""Messages and internal notes of a conversation.

Their output is built by hub.events.payloads, the same functions that build the realtime events, so a
message fetched here and one pushed over the websocket are the same JSON. The fields declared below only
describe that shape for the OpenAPI schema; a test keeps them equal to the event schema.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from hub.events.payloads import message_data, note_data
from hub.models import ChannelAccount, Message, Note


class AttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField(help_text="Download link (always served as an attachment)")


class MessageSerializer(serializers.Serializer[Message]):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    author_kind = serializers.ChoiceField(choices=Message.Author.choices)
    author_name = serializers.CharField()
    author_id = serializers.IntegerField(allow_null=True, help_text="The agent's user id for agent messages")
    channel = serializers.CharField()
    channel_account_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    text = serializers.CharField()
    html = serializers.CharField(help_text="Sanitized HTML, or empty")
    is_public = serializers.BooleanField(help_text="A public post or comment rather than a private message")
    status = serializers.ChoiceField(choices=Message.Status.choices)
    failure_reason = serializers.CharField()
    attachments = AttachmentSerializer(many=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return message_data(instance).model_dump(mode="json")


def with_related(messages: QuerySet[Message]) -> QuerySet[Message]:
    """What message_data reads, fetched in a fixed number of queries for a whole page."""
    return (messages.select_related("channel_account", "author_user__agent", "author_identity",
                                    "conversation__customer")
            .prefetch_related("attachments"))


class ReplySerializer(serializers.Serializer[Any]):
    text = serializers.CharField(help_text="The reply; very long text is truncated and marked")
    client_id = serializers.CharField(required=False, allow_null=True, min_length=1, max_length=64,
                                      help_text="Idempotency key: sending the same key again returns the "
                                                "first message instead of sending twice")
    channel_account = serializers.PrimaryKeyRelatedField(
        queryset=ChannelAccount.objects.all(), required=False, allow_null=True,
        help_text="Reply on another of the customer's channels (a channel account id)")


class NoteSerializer(serializers.Serializer[Note]):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author_id = serializers.IntegerField(allow_null=True)
    author_name = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Note) -> dict[str, Any]:
        return note_data(instance).model_dump(mode="json")


class NoteCreateSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(help_text="Visible to agents only, never sent to the customer")
