"""What the agent inbox reads and writes beyond the plain resources: list rows with unread counts, the
customer's cross-channel timeline, the screen-pop profile in one request, read marks and canned responses."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import access_conversation, sees_everything, visible_conversations
from hub.actions.canned import do_create_canned, do_delete_canned, do_update_canned, visible_canned
from hub.actions.outbound import identity_kind_for
from hub.actions.reads import do_mark_read
from hub.api.base import AgentAPIView
from hub.api.pagination import LatestActivityCursorPagination
from hub.api.permissions import IsSupervisor
from hub.api.serializers.conversations import with_related as conversations_with_related
from hub.api.serializers.inbox import (
    ACTIVE,
    CannedResponseSerializer,
    CannedSearchSerializer,
    CannedWriteSerializer,
    CustomerProfileSerializer,
    InboxFilterSerializer,
    InboxRowSerializer,
    ReadMarkSerializer,
    TimelineSerializer,
)
from hub.api.serializers.messages import with_related as messages_with_related
from hub.events.payloads import user_display_name
from hub.models import (
    ChannelAccount,
    Conversation,
    ConversationRead,
    Customer,
    CustomerMerge,
    Message,
    Note,
    SatisfactionRating,
)

SNIPPET_CHARS = 140
# The timeline answers the newest messages of the customer's history; older ones are rarely needed while
# answering and would make the screen pop slow for a customer with years of mail.
TIMELINE_LIMIT = 300
PROFILE_CONVERSATIONS = 50
# A text reply cannot go out on a phone line: calls are placed, not sent.
NO_TEXT_REPLY = {"voice"}


def _my_team_ids(user: Any) -> list[int]:
    agent = getattr(user, "agent", None)
    return list(agent.teams.values_list("id", flat=True)) if agent is not None else []


class InboxList(AgentAPIView):
    serializer_class = InboxRowSerializer
    pagination_class = LatestActivityCursorPagination

    @extend_schema(parameters=[InboxFilterSerializer], responses=InboxRowSerializer(many=True))
    def get(self, request: Request) -> Response:
        """One of the inbox lists (mine, unassigned, my teams', all), newest activity first, each row with my
        unread count, how long the customer has waited, and the newest message's beginning."""
        filters = InboxFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        which, wanted = filters.validated_data["list"], filters.validated_data["status"]
        user = self.user
        conversations = visible_conversations(user)
        if which == "mine":
            conversations = conversations.filter(assignee_id=user.pk)
        elif which == "unassigned":
            conversations = conversations.filter(assignee__isnull=True)
        elif which == "teams":
            conversations = conversations.filter(team_id__in=_my_team_ids(user))
        elif not sees_everything(user):
            raise PermissionDenied("only supervisors and administrators see every conversation")
        if wanted == ACTIVE:
            conversations = conversations.filter(status__in=[Conversation.Status.OPEN, Conversation.Status.PENDING])
        else:
            conversations = conversations.filter(status=wanted)
        conversations = conversations.annotate(last_activity=Coalesce("last_message_at", "created_at"))
        rows = self.paginate_queryset(conversations_with_related(conversations)) or []
        context = {**self.get_serializer_context(), "extras": row_extras(user, rows)}
        return self.get_paginated_response(InboxRowSerializer(rows, many=True, context=context).data)


def row_extras(user: Any, rows: list[Conversation]) -> dict[int, dict[str, Any]]:
    """Unread count, waiting time and snippet of each row, in four queries for the whole page."""
    ids = [c.pk for c in rows]
    if not ids:
        return {}
    extras: dict[int, dict[str, Any]] = {pk: {"unread": 0, "waiting_since": None, "snippet": None} for pk in ids}
    reads = dict(ConversationRead.objects.filter(user=user, conversation_id__in=ids)
                 .values_list("conversation_id", "last_read_at"))
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    last_reply = newest.filter(direction=Message.Direction.OUT, author_kind=Message.Author.AGENT)
    heads = list(Conversation.objects.filter(pk__in=ids).annotate(
        newest_id=Subquery(newest.values("id")[:1]), replied_at=Subquery(last_reply.values("created_at")[:1]),
    ).values_list("pk", "newest_id", "replied_at"))
    unread_q, waiting_q = Q(), Q()
    for pk in ids:
        unread_q |= Q(conversation_id=pk, created_at__gt=reads[pk]) if pk in reads else Q(conversation_id=pk)
    for pk, _newest, replied_at in heads:
        waiting_q |= Q(conversation_id=pk, created_at__gt=replied_at) if replied_at else Q(conversation_id=pk)
    inbound = Message.objects.filter(direction=Message.Direction.IN).values("conversation_id")
    for pk, n in inbound.filter(unread_q).annotate(n=Count("id")).values_list("conversation_id", "n"):
        extras[pk]["unread"] = n
    open_ids = [c.pk for c in rows if c.status != Conversation.Status.RESOLVED]
    for pk, first in (inbound.filter(waiting_q, conversation_id__in=open_ids).annotate(first=Min("created_at"))
                      .values_list("conversation_id", "first")):
        extras[pk]["waiting_since"] = first
    newest_ids = [newest_id for _pk, newest_id, _ in heads if newest_id]
    for m in Message.objects.filter(pk__in=newest_ids).select_related("channel_account"):
        extras[m.conversation_id]["snippet"] = {
            "text": " ".join(m.text.split())[:SNIPPET_CHARS], "direction": m.direction, "kind": m.kind,
            "channel": m.channel_account.channel, "created_at": m.created_at,
        }
    return extras


class ConversationTimeline(AgentAPIView):
    serializer_class = TimelineSerializer

    def get(self, request: Request, pk: int) -> Response:
        """The whole history of this conversation's customer that I may see, across their conversations and
        channels: messages and internal notes, oldest first (the newest TIMELINE_LIMIT messages)."""
        conversation = access_conversation(self.user, pk)
        conversations = list(visible_conversations(self.user).filter(customer_id=conversation.customer_id)
                             .order_by("created_at", "id"))
        ids = [c.pk for c in conversations]
        newest = list(messages_with_related(Message.objects.filter(conversation_id__in=ids))
                      .order_by("-created_at", "-id")[:TIMELINE_LIMIT + 1])
        truncated = len(newest) > TIMELINE_LIMIT
        messages = newest[:TIMELINE_LIMIT][::-1]
        since = messages[0].created_at if truncated and messages else None
        notes = Note.objects.filter(conversation_id__in=ids).select_related("author__agent")
        if since is not None:
            notes = notes.filter(created_at__gte=since)
        return Response(TimelineSerializer({
            "customer_id": conversation.customer_id, "conversations": conversations, "messages": messages,
            "notes": list(notes), "truncated": truncated,
        }).data)


class CustomerProfile(AgentAPIView):
    serializer_class = CustomerProfileSerializer

    def get(self, request: Request, pk: int) -> Response:
        """The screen pop: who the customer is on every channel, their value tier, tags and notes, their open
        and past conversations with outcomes, their last satisfaction rating, the channels a reply can go
        out on, and merges into them that can be undone. One request, a fixed handful of queries."""
        user = self.user
        conversations = list(visible_conversations(user).filter(customer_id=pk)
                             .select_related("team", "assignee__agent").order_by("-created_at", "-id")
                             [:PROFILE_CONVERSATIONS])
        if not conversations and not sees_everything(user):
            raise Http404("No such customer")  # an agent sees a customer through their conversations only
        customer = Customer.objects.filter(pk=pk).prefetch_related("tags", "identities").first()
        if customer is None:
            raise Http404("No such customer")
        identities = sorted(customer.identities.all(), key=lambda i: (i.kind, i.address))
        kinds = {i.kind for i in identities}
        rating = SatisfactionRating.objects.filter(customer=customer).order_by("-created_at", "-id").first()
        accounts = ChannelAccount.objects.filter(active=True).filter(
            Q(is_default=True) | Q(pk__in=[c.channel_account_id for c in conversations])).order_by("channel", "id")
        reply_accounts = []
        for account in accounts:
            kind = identity_kind_for(account.channel)
            if account.channel not in NO_TEXT_REPLY and kind in kinds:
                reply_accounts.append({"id": account.pk, "channel": account.channel, "name": account.name,
                                       "identity_kind": kind})
        merges = (CustomerMerge.objects.filter(target=customer, undone_at__isnull=True).select_related("source")
                  .order_by("-merged_at", "-id"))
        return Response(CustomerProfileSerializer({
            "id": customer.pk, "display_name": customer.display_name, "language": customer.language,
            "value_tier": customer.value_tier, "lifetime_value": str(customer.lifetime_value),
            "tags": sorted(t.name for t in customer.tags.all()), "notes": customer.notes,
            "merged_into_id": customer.merged_into_id, "identities": identities,
            "conversations": [{
                "id": c.pk, "status": c.status, "channel": c.channel, "subject": c.subject, "priority": c.priority,
                "assignee_name": user_display_name(c.assignee) if c.assignee_id else None,
                "team_name": c.team.name if c.team else None, "created_at": c.created_at,
                "last_message_at": c.last_message_at, "resolved_at": c.resolved_at,
            } for c in conversations],
            "last_csat": rating, "reply_accounts": reply_accounts,
            "merges": [{"id": m.pk, "source_id": m.source_id, "source_name": m.source.display_name,
                        "merged_at": m.merged_at} for m in merges],
        }).data)


class MarkRead(AgentAPIView):
    serializer_class = ReadMarkSerializer

    @extend_schema(request=None, responses=ReadMarkSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """I have read this conversation up to now: its unread count drops to 0 in all my tabs, and a chat
        visitor sees their messages as seen. The mark never moves backwards."""
        conversation = access_conversation(self.user, pk)
        read = do_mark_read(self.user, conversation)
        return Response(ReadMarkSerializer({"conversation_id": conversation.pk,
                                            "last_read_at": read.last_read_at}).data)


def _must_supervise(request: Request, view: Any) -> None:
    if not IsSupervisor().has_permission(request, view):
        raise PermissionDenied(IsSupervisor.message)


class CannedList(AgentAPIView):
    serializer_class = CannedWriteSerializer

    @extend_schema(parameters=[CannedSearchSerializer], responses=CannedResponseSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The canned responses I may insert (the global ones and my teams'), by shortcut; `q` matches the
        shortcut or the title."""
        query = CannedSearchSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data.get("q", "").strip().lstrip("/")
        canned = visible_canned(self.user)
        if q:
            canned = canned.filter(Q(shortcut__icontains=q) | Q(title__icontains=q))
        return Response(CannedResponseSerializer(canned[:500], many=True).data)

    @extend_schema(request=CannedWriteSerializer, responses={201: CannedResponseSerializer})
    def post(self, request: Request) -> Response:
        """Add a canned response (supervisors and administrators)."""
        _must_supervise(request, self)
        body = CannedWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        canned = do_create_canned(self.user, dict(body.validated_data))
        return Response(CannedResponseSerializer(canned).data, status=status.HTTP_201_CREATED)


class CannedDetail(AgentAPIView):
    serializer_class = CannedWriteSerializer

    def _canned(self, pk: int) -> Any:
        canned = visible_canned(self.user).filter(pk=pk).first()
        if canned is None:
            raise Http404("No such canned response")
        return canned

    @extend_schema(responses=CannedResponseSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(CannedResponseSerializer(self._canned(pk)).data)

    @extend_schema(request=CannedWriteSerializer, responses=CannedResponseSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change a canned response (supervisors and administrators); only the fields given change."""
        _must_supervise(request, self)
        body = CannedWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        canned = do_update_canned(self.user, self._canned(pk), dict(body.validated_data))
        return Response(CannedResponseSerializer(canned).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Remove a canned response (supervisors and administrators)."""
        _must_supervise(request, self)
        do_delete_canned(self.user, self._canned(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
