"""Changing conversations: assignment, transfer, status, tags, notes. Each do_* audits and publishes."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from hub import audit
from hub.actions import ActionError
from hub.events import schema
from hub.events.payloads import conversation_data, note_data
from hub.events.publish import conversation_audience, publish
from hub.models import Conversation, Note, Tag, Team
from hub.sanitize import bound_text
from routing.signals import (
    conversation_assigned,
    conversation_changed,
    conversation_needs_agent,
    conversation_resolved,
)

MAX_TAGS = 50


def _locked(conversation: Conversation) -> Conversation:
    # With what every event about it names (hub/events/payloads.conversation_data): the customer, and the
    # tags, which the API's answer then shows without reading them again.
    return (Conversation.objects.select_for_update(no_key=True).select_related("customer").prefetch_related("tags")
            .get(pk=conversation.pk))


def routing_changed_after_commit(conversation_id: int) -> None:
    """Tell routing, once this transaction commits, that something it reads of the conversation changed
    (routing/signals.py conversation_changed)."""
    transaction.on_commit(lambda: conversation_changed.send(sender=Conversation, conversation_id=conversation_id))


def _updated(conv: Conversation, changed: list[str], *extra_recipients: int | None) -> None:
    publish(schema.ConversationUpdated(conversation=conversation_data(conv), changed=changed),
            conversation_audience(conv, *extra_recipients), conversation_id=conv.pk, customer_id=conv.customer_id)


def check_assignee(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True, agent__isnull=False).first()
    if user is None:
        raise ActionError("no such active agent", field="assignee")
    return user


def do_assign(actor: User | None, conversation: Conversation, assignee: User | None,
              *, team: Team | None = None, reason: str = "manual") -> Conversation:
    """Assign (or with `assignee=None`, unassign) a conversation; optionally move it to `team`."""
    with transaction.atomic():
        return assign_locked(actor, _locked(conversation), assignee, team=team, reason=reason)


def assign_locked(actor: User | None, conv: Conversation, assignee: User | None, *, team: Team | None = None,
                  reason: str = "manual") -> Conversation:
    """do_assign's work, for a caller whose transaction already holds the conversation's row lock and read it
    (with its customer) under that lock: routing's accept, which locks it with the offer's entry. Relocking
    and reading it again there, in a savepoint, was a quarter of an accept's statements."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("assign_locked needs the transaction that locked the conversation")
    previous = conv.assignee_id
    new_id = assignee.pk if assignee is not None else None
    team_changed = team is not None and team.pk != conv.team_id
    if previous == new_id and not team_changed:
        return conv
    now = timezone.now()
    conv.assignee_id = new_id
    if new_id is not None:
        conv.assigned_at = now
    if team_changed:
        conv.team = team
    if conv.status == Conversation.Status.RESOLVED and new_id is not None:
        conv.status = Conversation.Status.OPEN
    conv.save()
    audit.record("conversation.assigned" if new_id else "conversation.unassigned", actor,
                 conversation=conv, assignee=new_id, previous=previous, team=conv.team_id, reason=reason)
    publish(schema.ConversationAssigned(conversation=conversation_data(conv), assignee_id=new_id,
                                        previous_assignee_id=previous, team_id=conv.team_id,
                                        by_id=actor.pk if actor else None),
            conversation_audience(conv, previous), conversation_id=conv.pk, customer_id=conv.customer_id)
    conv_id = conv.pk
    if new_id is None and conv.status != Conversation.Status.RESOLVED:
        # To another team: a conversation still waiting in its old team's queue moves to the new one's.
        why = "transferred" if team_changed else "unassigned"
        transaction.on_commit(lambda: conversation_needs_agent.send(
            sender=Conversation, conversation_id=conv_id, reason=why))
    elif new_id is not None and reason != "routing":  # routing's own assignments: the router knows
        assigned_to = new_id
        transaction.on_commit(lambda: conversation_assigned.send(
            sender=Conversation, conversation_id=conv_id, agent_id=assigned_to))
    return conv


def do_transfer(actor: User, conversation: Conversation, *, team: Team | None = None,
                assignee: User | None = None) -> Conversation:
    """Hand a conversation to another agent, or to a team's queue (unassigned, waiting for routing)."""
    if team is None and assignee is None:
        raise ActionError("transfer needs a team or an agent")
    if assignee is not None and team is not None:
        agent = getattr(assignee, "agent", None)
        if agent is not None and not agent.sees_everything and not agent.teams.filter(pk=team.pk).exists():
            raise ActionError("that agent is not a member of that team", field="assignee")
    return do_assign(actor, conversation, assignee, team=team, reason="transfer")


def do_set_status(actor: User | None, conversation: Conversation, status: str, *,
                  snoozed_until: datetime | None = None) -> Conversation:
    if status not in Conversation.Status.values:
        raise ActionError(f"unknown status {status!r}", field="status")
    now = timezone.now()
    if status == Conversation.Status.SNOOZED and (snoozed_until is None or snoozed_until <= now):
        raise ActionError("snoozing needs a time in the future", field="snoozed_until")
    with transaction.atomic():
        conv = _locked(conversation)
        if conv.status == status and status != Conversation.Status.SNOOZED:
            return conv
        previous = conv.status
        conv.status = status
        conv.snoozed_until = snoozed_until if status == Conversation.Status.SNOOZED else None
        changed = ["status", "snoozed_until"]
        if status == Conversation.Status.RESOLVED:
            conv.resolved_at = now
            changed.append("resolved_at")
        elif previous == Conversation.Status.RESOLVED:
            conv.reopened_at = now
            conv.reopen_count += 1
            changed += ["reopened_at"]
        conv.save()
        audit.record("conversation.status", actor, conversation=conv, status=status, previous=previous,
                     snoozed_until=snoozed_until.isoformat() if snoozed_until else None)
        _updated(conv, changed)
        conv_id = conv.pk
        if status == Conversation.Status.RESOLVED:
            transaction.on_commit(lambda: conversation_resolved.send(sender=Conversation, conversation_id=conv_id))
        elif previous == Conversation.Status.RESOLVED and conv.assignee_id is None:
            transaction.on_commit(lambda: conversation_needs_agent.send(
                sender=Conversation, conversation_id=conv_id, reason="reopened"))
        elif (status != previous and Conversation.Status.SNOOZED in (status, previous)) \
                or previous == Conversation.Status.RESOLVED:
            # Snoozed or woken (a snoozed conversation leaves the line and frees its agent's room), or
            # reopened with its agent (whose load goes up); open <-> pending changes nothing routing reads.
            routing_changed_after_commit(conv_id)
    return conv


def do_wake_snoozed(now: datetime | None = None) -> int:
    """Reopen conversations whose snooze time has passed (a periodic task)."""
    now = now or timezone.now()
    woken = 0
    for conv in Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)[:500]:
        do_set_status(None, conv, Conversation.Status.OPEN)
        woken += 1
    return woken


def do_set_tags(actor: User, conversation: Conversation, names: list[str]) -> Conversation:
    clean = sorted({n.strip()[:64] for n in names if n and n.strip()})
    if len(clean) > MAX_TAGS:
        raise ActionError(f"at most {MAX_TAGS} tags", field="tags")
    with transaction.atomic():
        conv = _locked(conversation)
        before = sorted(conv.tags.values_list("name", flat=True))
        if before == clean:
            return conv
        tags = [Tag.objects.get_or_create(name=n)[0] for n in clean]
        conv.tags.set(tags)
        conv.save(update_fields=["updated_at"])
        audit.record("conversation.tags", actor, conversation=conv, tags=clean, previous=before)
        _updated(conv, ["tags"])
    return conv


def do_set_priority(actor: User, conversation: Conversation, *, priority: int | None = None,
                    escalated: bool | None = None) -> Conversation:
    if priority is not None and priority not in Conversation.Priority.values:
        raise ActionError("priority must be 0 (low) to 3 (urgent)", field="priority")
    with transaction.atomic():
        conv = _locked(conversation)
        changed = []
        if priority is not None and priority != conv.priority:
            conv.priority = priority
            changed.append("priority")
        if escalated is not None and escalated != conv.escalated:
            conv.escalated = escalated
            changed.append("escalated")
        if not changed:
            return conv
        conv.save()
        audit.record("conversation.priority", actor, conversation=conv, priority=conv.priority,
                     escalated=conv.escalated)
        _updated(conv, changed)
        routing_changed_after_commit(conv.pk)  # a waiting conversation moves in line
    return conv


def do_add_note(author: User, conversation: Conversation, text: str) -> Note:
    if not text or not text.strip():
        raise ActionError("a note needs text", field="text")
    text, _ = bound_text(text)
    with transaction.atomic():
        conv = _locked(conversation)
        note = Note.objects.create(conversation=conv, author=author, text=text)
        publish(schema.NoteCreated(note=note_data(note)), conversation_audience(conv),
                conversation_id=conv.pk, customer_id=conv.customer_id)
    return note
