"""The inbox: the conversations a user may see, filtered, newest activity first; and one conversation."""

from __future__ import annotations

from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import access_conversation, visible_conversations
from hub.api.base import AgentAPIView
from hub.api.filters import filter_conversations
from hub.api.pagination import LatestActivityCursorPagination
from hub.api.serializers.conversations import ConversationFilterSerializer, ConversationSerializer, with_related


class ConversationList(AgentAPIView):
    serializer_class = ConversationSerializer
    pagination_class = LatestActivityCursorPagination

    @extend_schema(parameters=[ConversationFilterSerializer], responses=ConversationSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = ConversationFilterSerializer(data=request.query_params, context=self.get_serializer_context())
        filters.is_valid(raise_exception=True)
        conversations = filter_conversations(visible_conversations(self.user), filters.validated_data)
        conversations = conversations.annotate(last_activity=Coalesce("last_message_at", "created_at"))
        return self.page(with_related(conversations), ConversationSerializer)


class ConversationDetail(AgentAPIView):
    serializer_class = ConversationSerializer

    def get(self, request: Request, pk: int) -> Response:
        conversation = access_conversation(self.user, pk)
        return Response(ConversationSerializer(conversation).data)
