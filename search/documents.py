"""Search documents built from the database (the source of truth): one per message and one per internal
note, each carrying the fields of its conversation that searches filter on, so that a filter is part of the
query instead of a join.

What a change in the change log (hub/models/changes.py) means for the index is decided by `plan`: a new
or changed message is one document; a conversation whose status, team, assignee or tags changed has all
its documents rebuilt; a renamed or merged customer, all of theirs; a deleted customer, theirs removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from hub.models import Attachment, Conversation, Customer, Identity, Message, Note
from search.backend import SearchDocument

# Conversation fields copied into its documents: a change to any of them rebuilds them all.
CONVERSATION_FIELDS = frozenset({"status", "team", "team_id", "assignee", "assignee_id", "tags", "escalated",
                                 "customer", "customer_id", "channel"})
CUSTOMER_FIELDS = frozenset({"display_name", "identities"})


@dataclass
class Plan:
    """What a run of changes asks of the index."""

    conversations: set[int] = field(default_factory=set)   # rebuild every document of these
    messages: set[int] = field(default_factory=set)
    notes: set[int] = field(default_factory=set)
    customers: set[int] = field(default_factory=set)       # rebuild every document of these customers
    deleted_customers: set[int] = field(default_factory=set)
    deleted_conversations: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any((self.conversations, self.messages, self.notes, self.customers, self.deleted_customers,
                    self.deleted_conversations))


def plan(changes: Iterable[Mapping[str, Any]]) -> Plan:
    """`changes`: rows of hub_change as dicts (type, conversation_id, customer_id, payload)."""
    work = Plan()
    for change in changes:
        kind, payload = change["type"], change["payload"]
        conversation_id = change.get("conversation_id")
        if kind in ("message.created", "message.updated"):
            work.messages.add(int(payload["message"]["id"]))
        elif kind == "note.created":
            work.notes.add(int(payload["note"]["id"]))
        elif kind == "conversation.assigned":
            work.conversations.add(int(payload["conversation"]["id"]))
        elif kind == "conversation.updated":
            if CONVERSATION_FIELDS.intersection(payload.get("changed", [])):
                work.conversations.add(int(payload["conversation"]["id"]))
        elif kind == "customer.updated":
            if CUSTOMER_FIELDS.intersection(payload.get("changed", [])):
                work.customers.add(int(payload["customer_id"]))
        elif kind == "customers.merged":
            work.conversations.update(int(c) for c in payload.get("conversation_ids", []))
        elif kind == "customer.deleted":
            work.deleted_customers.add(int(payload["customer_id"]))
            work.deleted_conversations.update(int(c) for c in payload.get("conversation_ids", []))
        elif kind == "conversation.deleted" and conversation_id:
            work.deleted_conversations.add(int(conversation_id))
    # Rebuilding a whole conversation covers its single messages.
    return work


def _month(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(settings.TIME_ZONE)).strftime("%Y-%m")


class _ConversationFields:
    """The fields every document of one conversation shares."""

    def __init__(self, conv: Conversation, customer_text: str) -> None:
        self.conversation_id = conv.pk
        self.customer_id = conv.customer_id
        self.customer_name = conv.customer.display_name
        self.customer = customer_text
        self.team = conv.team.name.lower() if conv.team_id and conv.team else ""
        self.team_id = conv.team_id or 0
        self.assignee_id = conv.assignee_id or 0
        self.assignee = conv.assignee.username.lower() if conv.assignee_id and conv.assignee else ""
        self.tags = tuple(sorted(t.name.lower() for t in conv.tags.all()))
        self.status = conv.status
        self.sentiment = "negative" if conv.escalated else "neutral"
        self.channel = conv.channel


def _customer_text(customer: Customer) -> str:
    """A customer's name and addresses, as customer:"..." searches them."""
    parts = [customer.display_name, *(i.display_name for i in customer.identities.all()),
             *(i.address for i in customer.identities.all())]
    return " \n".join(dict.fromkeys(p for p in parts if p))


def _conversations(ids: Iterable[int]) -> dict[int, _ConversationFields]:
    qs = (Conversation.objects.filter(pk__in=list(ids))
          .select_related("customer", "team", "assignee")
          .prefetch_related("tags", Prefetch("customer__identities", queryset=Identity.objects.order_by("id"))))
    return {c.pk: _ConversationFields(c, _customer_text(c.customer)) for c in qs}


def _agents(conv: _ConversationFields, author: str) -> tuple[str, ...]:
    return tuple(sorted({a for a in (conv.assignee, author) if a}))


def _message_doc(m: Message, conv: _ConversationFields, version: int) -> SearchDocument:
    author_login = m.author_user.username.lower() if m.author_kind == "agent" and m.author_user else ""
    if m.author_kind == "customer":
        author = conv.customer_name
    elif m.author_user is not None:
        profile = getattr(m.author_user, "agent", None)
        author = getattr(profile, "display_name", "") or m.author_user.username
    else:
        author = "system"
    return SearchDocument(
        id=f"m{m.pk}", conversation_id=conv.conversation_id, customer_id=conv.customer_id, text=m.text,
        customer=conv.customer, channel=m.channel_account.channel, direction="in" if m.direction == "in" else "out",
        author=author,
        agents=_agents(conv, author_login), team=conv.team, team_id=conv.team_id, assignee_id=conv.assignee_id,
        tags=conv.tags, status=conv.status, sentiment=conv.sentiment, public=m.is_public, note=False,
        has_attachment=bool(getattr(m, "has_attachment", False)), created_at=m.created_at,
        month=_month(m.created_at), version=version,
    )


def _note_doc(n: Note, conv: _ConversationFields, version: int) -> SearchDocument:
    login = n.author.username.lower() if n.author else ""
    profile = getattr(n.author, "agent", None) if n.author else None
    author = getattr(profile, "display_name", "") or (n.author.username if n.author else "")
    return SearchDocument(
        id=f"n{n.pk}", conversation_id=conv.conversation_id, customer_id=conv.customer_id, text=n.text,
        customer=conv.customer, channel=conv.channel, direction="note", author=author,
        agents=_agents(conv, login), team=conv.team, team_id=conv.team_id, assignee_id=conv.assignee_id,
        tags=conv.tags, status=conv.status, sentiment=conv.sentiment, public=False, note=True,
        has_attachment=False, created_at=n.created_at, month=_month(n.created_at), version=version,
    )


def _messages() -> QuerySet[Message]:
    return (Message.objects.select_related("channel_account", "author_user", "author_user__agent")
            .annotate(has_attachment=Exists(Attachment.objects.filter(message_id=OuterRef("pk"))))
            .order_by("id"))


def documents(work: Plan, version: int) -> tuple[list[SearchDocument], set[int]]:
    """The documents `work` asks for, and the conversations it names that no longer exist (to delete)."""
    conversation_ids = set(work.conversations)
    if work.customers:
        conversation_ids.update(Conversation.objects.filter(customer_id__in=work.customers)
                                .values_list("id", flat=True))
    messages = list(_messages().filter(pk__in=work.messages).exclude(conversation_id__in=conversation_ids))
    notes = list(Note.objects.select_related("author", "author__agent").filter(pk__in=work.notes)
                 .exclude(conversation_id__in=conversation_ids))
    needed = conversation_ids | {m.conversation_id for m in messages} | {n.conversation_id for n in notes}
    convs = _conversations(needed)
    docs: list[SearchDocument] = []
    if conversation_ids:
        messages += list(_messages().filter(conversation_id__in=conversation_ids))
        notes += list(Note.objects.select_related("author", "author__agent")
                      .filter(conversation_id__in=conversation_ids))
    for m in messages:
        if m.conversation_id in convs:
            docs.append(_message_doc(m, convs[m.conversation_id], version))
    for n in notes:
        if n.conversation_id in convs:
            docs.append(_note_doc(n, convs[n.conversation_id], version))
    missing = (conversation_ids - set(convs)) | work.deleted_conversations
    return docs, missing


def all_documents(version: int, since: datetime | None = None, batch: int = 2000) -> Iterator[list[SearchDocument]]:
    """Every document (or those created since `since`), in batches of conversations: `hub reindex`."""
    conversations = Conversation.objects.order_by("id")
    if since is not None:
        conversations = conversations.filter(pk__in=Message.objects.filter(created_at__gte=since)
                                             .values("conversation_id"))
    ids = list(conversations.values_list("id", flat=True))
    step = max(1, batch // 10)
    for start in range(0, len(ids), step):
        chunk = ids[start:start + step]
        convs = _conversations(chunk)
        docs: list[SearchDocument] = []
        messages = _messages().filter(conversation_id__in=chunk)
        notes = Note.objects.select_related("author", "author__agent").filter(conversation_id__in=chunk)
        if since is not None:
            messages = messages.filter(created_at__gte=since)
            notes = notes.filter(created_at__gte=since)
        for m in messages.iterator(chunk_size=batch):
            docs.append(_message_doc(m, convs[m.conversation_id], version))
        for n in notes:
            docs.append(_note_doc(n, convs[n.conversation_id], version))
        if docs:
            yield docs


def count_documents(since: datetime | None = None) -> int:
    messages = Message.objects.all()
    notes = Note.objects.all()
    if since is not None:
        messages = messages.filter(created_at__gte=since)
        notes = notes.filter(created_at__gte=since)
    return messages.count() + notes.count()
