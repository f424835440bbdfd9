"""A conversation's timeline: its messages (and replying), and its internal notes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import access_conversation
from hub.actions.conversations import do_add_note
from hub.actions.outbound import do_send_reply
from hub.api.base import AgentAPIView
from hub.api.pagination import OldestFirstCursorPagination
from hub.api.serializers.messages import (
    MessageSerializer,
    NoteCreateSerializer,
    NoteSerializer,
    ReplySerializer,
    with_related,
)
from hub.models import Message, Note


class ConversationMessages(AgentAPIView):
    serializer_class = ReplySerializer
    pagination_class = OldestFirstCursorPagination

    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        """The messages, oldest first."""
        conversation = access_conversation(self.user, pk)
        return self.page(with_related(Message.objects.filter(conversation=conversation)), MessageSerializer)

    @extend_schema(request=ReplySerializer, responses={201: MessageSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Reply to the customer. The message is answered as queued; its delivery status follows as
        `message.status` events. Replying to an unassigned conversation assigns it to the sender."""
        conversation = access_conversation(self.user, pk)
        body = ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message = do_send_reply(self.user, conversation, body.validated_data["text"],
                                account=body.validated_data.get("channel_account"),
                                client_id=body.validated_data.get("client_id"))
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)


class ConversationNotes(AgentAPIView):
    serializer_class = NoteCreateSerializer
    pagination_class = OldestFirstCursorPagination

    @extend_schema(responses=NoteSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        """Internal notes, oldest first."""
        conversation = access_conversation(self.user, pk)
        notes = Note.objects.filter(conversation=conversation).select_related("author__agent")
        return self.page(notes, NoteSerializer)

    @extend_schema(request=NoteCreateSerializer, responses={201: NoteSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Add an internal note (agents only; never sent to the customer)."""
        conversation = access_conversation(self.user, pk)
        body = NoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = do_add_note(self.user, conversation, body.validated_data["text"])
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)
