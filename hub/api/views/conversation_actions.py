"""What an agent does to a conversation: assign, transfer, resolve, reopen, snooze, tag, prioritize.

Each endpoint is a POST whose body a serializer validates and whose work one hub action does (it locks,
audits and publishes); every one answers the conversation as it now is.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import ForeignKey, prefetch_related_objects
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import access_conversation
from hub.actions import ActionError
from hub.actions.conversations import (
    check_assignee,
    do_assign,
    do_set_priority,
    do_set_status,
    do_set_tags,
    do_transfer,
)
from hub.actions.routing import do_move_to_queue
from hub.api.base import AgentAPIView
from hub.api.serializers.conversations import (
    AssignSerializer,
    ConversationSerializer,
    PrioritySerializer,
    QueueMoveSerializer,
    SnoozeSerializer,
    TagsSerializer,
    TransferSerializer,
)
from hub.models import Conversation, RoutingQueue


class _NoBody(serializers.Serializer[Any]):
    pass


# What ConversationSerializer reads through each foreign key, as prefetch lookups.
_SHOWN_RELATIONS = (("customer", "customer"), ("team", "team"), ("assignee", "assignee__agent"))


class ConversationAction(AgentAPIView):
    serializer_class: type[serializers.Serializer[Any]] = _NoBody

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        raise NotImplementedError

    @extend_schema(responses=ConversationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        conversation = access_conversation(self.user, pk)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation = self.perform(conversation, body.validated_data)
        return Response(ConversationSerializer(self._with_related(conversation)).data)

    def _with_related(self, conversation: Conversation) -> Conversation:
        """The action's conversation, read under its lock and saved, with what the serializer shows and the
        action did not read already: most actions read the customer and the tags, and the assignee is
        usually the agent acting, known with their profile. Reading the conversation back whole with every
        relation joined cost more than the action's own locked read (docs/PERFORMANCE.md)."""
        def relation(name: str) -> ForeignKey[Any, Any]:
            return cast("ForeignKey[Any, Any]", Conversation._meta.get_field(name))

        if conversation.assignee_id == self.user.pk and not relation("assignee").is_cached(conversation):
            relation("assignee").set_cached_value(conversation, self.user)
        lookups = [lookup for name, lookup in _SHOWN_RELATIONS
                   if getattr(conversation, f"{name}_id") is not None and not relation(name).is_cached(conversation)]
        if "tags" not in getattr(conversation, "_prefetched_objects_cache", {}):
            lookups.append("tags")
        prefetch_related_objects([conversation], *lookups)
        return conversation


class Assign(ConversationAction):
    """Assign to an agent, or unassign with `null`."""

    serializer_class = AssignSerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_assign(self.user, conversation, check_assignee(data["assignee"]))


class Transfer(ConversationAction):
    """Hand over to another team's queue, to another agent, or both."""

    serializer_class = TransferSerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_transfer(self.user, conversation, team=data.get("team"),
                           assignee=check_assignee(data.get("assignee")))


@extend_schema_view(post=extend_schema(request=None))
class Resolve(ConversationAction):
    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_set_status(self.user, conversation, Conversation.Status.RESOLVED)


@extend_schema_view(post=extend_schema(request=None))
class Reopen(ConversationAction):
    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_set_status(self.user, conversation, Conversation.Status.OPEN)


class Snooze(ConversationAction):
    """Put aside until `snoozed_until`; it reopens by itself then."""

    serializer_class = SnoozeSerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_set_status(self.user, conversation, Conversation.Status.SNOOZED,
                             snoozed_until=data["snoozed_until"])


class SetTags(ConversationAction):
    """Replace the tag list; tags that do not exist yet are created."""

    serializer_class = TagsSerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_set_tags(self.user, conversation, data["tags"])


class MoveToQueue(ConversationAction):
    """Send the conversation to a routing queue's line: unassigned if it was assigned, its offer withdrawn."""

    serializer_class = QueueMoveSerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        queue = RoutingQueue.objects.filter(pk=data["queue"]).first()
        if queue is None:
            raise ActionError("no such queue", field="queue")
        do_move_to_queue(self.user, conversation, queue)
        return Conversation.objects.get(pk=conversation.pk)


class SetPriority(ConversationAction):
    """Change the priority and/or the escalation flag."""

    serializer_class = PrioritySerializer

    def perform(self, conversation: Conversation, data: dict[str, Any]) -> Conversation:
        return do_set_priority(self.user, conversation, priority=data.get("priority"),
                               escalated=data.get("escalated"))
