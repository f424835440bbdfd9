"""Routing: queues (every agent reads them, supervisors and admins change them), the line of a queue, and
the signed-in agent's offers.

Queue lists are short and whole, like agents and teams, so they are not paginated; so is a queue's line,
which is computed by the routing engine as a whole anyway.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db.models import F
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import visible_conversations
from hub.actions import ActionError
from hub.actions.routing import ACCEPT_GRACE, OfferAnswer, do_accept_offer, do_decline_offer
from hub.actions.routing_config import do_create_queue, do_delete_queue, do_update_queue
from hub.api.base import AgentAPIView
from hub.api.permissions import IsAgent, IsSupervisor
from hub.api.serializers.conversations import with_related
from hub.api.serializers.routing import (
    OfferAnswerSerializer,
    OfferSerializer,
    QueueSerializer,
    WaitingSerializer,
    offers_with_related,
    queues_with_counts,
)
from hub.models import Conversation, RoutingEntry, RoutingOffer, RoutingQueue
from routing import adapter


class Conflict(APIException):
    """The request was valid when sent but the state moved on (an offer answered, expired or withdrawn)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "the request conflicts with the current state"
    default_code = "conflict"


class QueueAPIView(AgentAPIView):
    serializer_class = QueueSerializer
    pagination_class = None

    def get_permissions(self) -> list[BasePermission]:
        return [IsAgent()] if self.request.method in SAFE_METHODS else [IsSupervisor()]

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": time.time()}

    def queue(self, pk: int) -> RoutingQueue:
        queue = queues_with_counts(RoutingQueue.objects.filter(pk=pk)).first()
        if queue is None:
            raise Http404("No such queue")
        return queue

    def answer(self, queue: RoutingQueue, code: int = status.HTTP_200_OK) -> Response:
        """The queue as stored now, with its counts."""
        return Response(QueueSerializer(self.queue(queue.pk), context=self.get_serializer_context()).data,
                        status=code)


class QueueList(QueueAPIView):
    @extend_schema(responses=QueueSerializer(many=True))
    def get(self, request: Request) -> Response:
        queues = queues_with_counts(RoutingQueue.objects.select_related("team"))
        return Response(QueueSerializer(queues, many=True, context=self.get_serializer_context()).data)

    @extend_schema(request=QueueSerializer, responses={201: QueueSerializer})
    def post(self, request: Request) -> Response:
        """Create a queue (supervisors and admins). Unset settings take their defaults."""
        body = QueueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.answer(do_create_queue(self.user, body.validated_data), status.HTTP_201_CREATED)


class QueueDetail(QueueAPIView):
    def get(self, request: Request, pk: int) -> Response:
        return self.answer(self.queue(pk))

    @extend_schema(request=QueueSerializer, responses=QueueSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change some settings (supervisors and admins). Deactivating a queue moves the conversations waiting
        in it to the queue that takes them without it; pending offers of them are withdrawn."""
        queue = self.queue(pk)
        body = QueueSerializer(queue, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return self.answer(do_update_queue(self.user, queue, body.validated_data))

    @extend_schema(responses={
        204: OpenApiResponse(description="Deleted: nothing referred to the queue"),
        200: OpenApiResponse(QueueSerializer, description="Deactivated instead, because conversations, offers or "
                             "another queue's overflow refer to it (history kept)"),
    })
    def delete(self, request: Request, pk: int) -> Response:
        """Remove a queue (supervisors and admins). Its waiting conversations move to the queue that takes
        them without it. The last active queue without team, channels or languages cannot be removed."""
        kept = do_delete_queue(self.user, self.queue(pk))
        return Response(status=status.HTTP_204_NO_CONTENT) if kept is None else self.answer(kept)


class QueueWaiting(AgentAPIView):
    serializer_class = WaitingSerializer
    pagination_class = None

    @extend_schema(responses=WaitingSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        """The conversations waiting in the queue's line, next first, with their estimated wait. Only the
        conversations you may see are listed; positions count the whole line."""
        if not RoutingQueue.objects.filter(pk=pk).exists():
            raise Http404("No such queue")
        now = timezone.now()
        # One load: positions and estimates all come from the same snapshot of routing.
        engine = adapter.load(now)
        line = engine.waiting(pk)
        convs = visible_conversations(self.user).select_related("customer").in_bulk(line)
        rows = []
        for cid in line:
            conv = convs.get(cid)
            position = engine.position(cid)
            if conv is None or position is None:
                continue
            wait = engine.estimated_wait(cid, now.timestamp())
            rows.append({
                "position": position,
                "estimated_wait_seconds": round(wait, 1) if wait is not None else None,
                "waiting_since": dt.datetime.fromtimestamp(engine.entries[cid].contact.arrived_at, dt.UTC),
                "conversation_id": cid, "channel": conv.channel, "priority": conv.priority,
                "escalated": conv.escalated, "team_id": conv.team_id, "customer_id": conv.customer_id,
                "customer_name": conv.customer.display_name,
            })
        return Response(WaitingSerializer(rows, many=True).data)


class OfferList(AgentAPIView):
    serializer_class = OfferSerializer
    pagination_class = None

    @extend_schema(responses=OfferSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Your offers that can still be accepted, oldest first: what the inbox shows again after a realtime
        `reload`."""
        offers = RoutingOffer.objects.filter(
            agent_id=self.user.pk, outcome=RoutingOffer.Outcome.PENDING,
            # Expired but not yet closed by the routing tick: accepting would be refused, so not listed.
            expires_at__gte=timezone.now() - ACCEPT_GRACE,
            conversation__routing__state=RoutingEntry.State.OFFERED, conversation__routing__offer_id=F("id"),
        ).order_by("created_at", "id")
        return Response(OfferSerializer(offers_with_related(offers), many=True).data)


class OfferAnswerView(AgentAPIView):
    serializer_class = OfferAnswerSerializer
    accept = True

    def perform(self, pk: int) -> OfferAnswer:
        return (do_accept_offer if self.accept else do_decline_offer)(self.user, pk)

    def _mine(self, pk: int) -> bool:
        return RoutingOffer.objects.filter(pk=pk, agent_id=self.user.pk).exists()

    def answer_offer(self, pk: int) -> Response:
        # Someone else's offer is a 404, like any object the caller may not see.
        if not self._mine(pk):
            raise Http404("No such offer")
        try:
            answer = self.perform(pk)
        except ActionError as exc:
            if not self._mine(pk):  # gone meanwhile (its conversation was deleted)
                raise Http404("No such offer") from exc
            # Answered, withdrawn or expired already: the agent's screen was behind, not the request wrong.
            raise Conflict({exc.field or "detail": [str(exc)]}) from exc
        conversation = (with_related(Conversation.objects.filter(pk=answer.conversation.pk)).get()
                        if answer.conversation is not None else None)
        offer = offers_with_related(RoutingOffer.objects.filter(pk=answer.offer.pk)).get()
        return Response(OfferAnswerSerializer({"offer": offer, "conversation": conversation}).data)


_ANSWER_RESPONSES = {
    200: OfferAnswerSerializer,
    404: OpenApiResponse(description="No such offer of yours"),
    409: OpenApiResponse(description="The offer is no longer open (answered, withdrawn or expired)"),
}


class OfferAccept(OfferAnswerView):
    @extend_schema(request=None, responses=_ANSWER_RESPONSES)
    def post(self, request: Request, pk: int) -> Response:
        """Accept: the conversation is assigned to you."""
        return self.answer_offer(pk)


class OfferDecline(OfferAnswerView):
    accept = False

    @extend_schema(request=None, responses=_ANSWER_RESPONSES)
    def post(self, request: Request, pk: int) -> Response:
        """Decline: the conversation goes to the next agent."""
        return self.answer_offer(pk)
