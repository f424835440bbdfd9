"""Playing a demo story through the real actions, as the customers and agents would have.

Every step goes through the same action a connector or an agent's click uses (ingestion, outbound, notes,
status, assignment, merge), so the demo exercises the real code paths and events. Each step also notes
the past moment it stands for; `timeline.backdate` moves the rows there once the story is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from connectors.base import CallEvent, InboundAttachment, InboundMessage, Sender
from hub.actions.conversations import do_add_note, do_assign, do_set_priority, do_set_status, do_set_tags
from hub.actions.customers import do_merge_customers, do_update_customer
from hub.actions.ingestion import do_ingest_call, do_ingest_message
from hub.actions.outbound import do_send_reply
from hub.models import ChannelAccount, Conversation, Customer, Team


@dataclass
class Timeline:
    """The past moment each seeded row stands for, keyed by primary key."""

    messages: dict[int, datetime] = field(default_factory=dict)
    notes: dict[int, datetime] = field(default_factory=dict)
    assigned: dict[int, datetime] = field(default_factory=dict)
    resolved: dict[int, datetime] = field(default_factory=dict)


@dataclass
class Cast:
    accounts: dict[str, ChannelAccount]
    staff: dict[str, User]
    teams: dict[str, Team]
    timeline: Timeline
    now: datetime = field(default_factory=timezone.now)


class Story:
    """One customer's history. Minutes count from the story's start, `ago` before now."""

    def __init__(self, cast: Cast, ago: timedelta) -> None:
        self.cast = cast
        self.start = cast.now - ago
        self.conversation_id: int | None = None
        self.customer_id: int | None = None

    def at(self, minute: float) -> datetime:
        return self.start + timedelta(minutes=minute)

    @property
    def conversation(self) -> Conversation:
        assert self.conversation_id is not None, "the customer has not written yet"
        # Fresh every time: a merge or another action may have changed the row since.
        return Conversation.objects.select_related("customer").get(pk=self.conversation_id)

    @property
    def customer(self) -> Customer:
        assert self.customer_id is not None
        return Customer.objects.get(pk=self.customer_id)

    def writes(self, minute: float, channel: str, sender: Sender, text: str, *, pid: str, subject: str = "",
               is_public: bool = False, language: str = "", thread_keys: Sequence[str] = (),
               attachments: Sequence[InboundAttachment] = (), metadata: dict[str, str] | None = None,
               ) -> Conversation:
        inbound = InboundMessage(provider_message_id=pid, sender=sender, text=text, subject=subject,
                                 is_public=is_public, language=language, thread_keys=tuple(thread_keys),
                                 attachments=tuple(attachments), metadata=metadata or {})
        result = do_ingest_message(self.cast.accounts[channel], inbound)
        return self._took_place(minute, result.message.conversation_id, result.message.pk)

    def calls(self, minute: float, caller: Sender, *, call_id: str, transcript: str, seconds: int) -> Conversation:
        event = CallEvent(call_id=call_id, caller=caller, status="completed", duration_seconds=seconds,
                          transcript=transcript)
        result = do_ingest_call(self.cast.accounts["voice"], event)
        return self._took_place(minute, result.message.conversation_id, result.message.pk)

    def _took_place(self, minute: float, conversation_id: int, message_id: int) -> Conversation:
        self.cast.timeline.messages[message_id] = self.at(minute)
        self.conversation_id = conversation_id
        conversation = self.conversation
        if self.customer_id is None:
            self.customer_id = conversation.customer_id
        return conversation

    def replies(self, minute: float, agent: str, text: str) -> None:
        message = do_send_reply(self.cast.staff[agent], self.conversation, text)
        self.cast.timeline.messages[message.pk] = self.at(minute)

    def notes(self, minute: float, agent: str, text: str) -> None:
        note = do_add_note(self.cast.staff[agent], self.conversation, text)
        self.cast.timeline.notes[note.pk] = self.at(minute)

    def assigns(self, minute: float, agent: str | None, *, team: str, by: str | None = None) -> None:
        """`agent=None` puts the conversation in `team`'s queue, waiting for routing."""
        actor = self.cast.staff[by] if by else None
        assignee = self.cast.staff[agent] if agent else None
        do_assign(actor, self.conversation, assignee, team=self.cast.teams[team],
                  reason="manual" if by else "demo")
        if assignee is not None:
            self.cast.timeline.assigned[self.conversation.pk] = self.at(minute)

    def resolves(self, minute: float, by: str) -> None:
        do_set_status(self.cast.staff[by], self.conversation, Conversation.Status.RESOLVED)
        self.cast.timeline.resolved[self.conversation.pk] = self.at(minute)

    def sets_status(self, by: str, status: str, *, snoozed_until: datetime | None = None) -> None:
        do_set_status(self.cast.staff[by], self.conversation, status, snoozed_until=snoozed_until)

    def tags(self, by: str, *names: str) -> None:
        do_set_tags(self.cast.staff[by], self.conversation, list(names))

    def escalates(self, by: str, priority: int) -> None:
        do_set_priority(self.cast.staff[by], self.conversation, priority=priority, escalated=True)

    def links_to_customer(self, by: str) -> None:
        """The agent recognises the customer of the current conversation as the story's customer (the
        same person on another channel) and merges the new customer into the known one."""
        newcomer = self.conversation.customer
        assert self.customer_id is not None
        if newcomer.pk != self.customer_id:
            do_merge_customers(self.cast.staff[by], newcomer, self.customer)

    def profile(self, by: str, *, tags: Sequence[str] = (), **changes: str) -> None:
        do_update_customer(self.cast.staff[by], self.customer, dict(changes), tags=list(tags))
