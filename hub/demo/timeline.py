"""Spreading the demo over the past days, so the inbox, the history and the metrics look lived in."""

from __future__ import annotations

from django.db.models import Max, Min, Q

from hub.demo.script import Timeline
from hub.models import Conversation, Customer, Message, Note


def backdate(timeline: Timeline) -> None:
    """Move the seeded rows to the moments their stories tell, and recompute the timestamps derived from
    them. The only place the demo writes timestamps directly: the actions always stamp "now", and a demo
    told in two seconds would otherwise show every contact arriving at once."""
    for message_id, when in timeline.messages.items():
        Message.objects.filter(pk=message_id).update(created_at=when, status_changed_at=when)
    for note_id, when in timeline.notes.items():
        Note.objects.filter(pk=note_id).update(created_at=when)
    conversation_ids = set(Message.objects.filter(pk__in=timeline.messages).values_list("conversation_id",
                                                                                          flat=True))
    for conv in Conversation.objects.filter(pk__in=conversation_ids):
        times = conv.messages.aggregate(
            first=Min("created_at"), last=Max("created_at"),
            last_in=Max("created_at", filter=Q(direction=Message.Direction.IN)),
            first_out=Min("created_at", filter=Q(direction=Message.Direction.OUT)))
        resolved = timeline.resolved.get(conv.pk) if conv.status == Conversation.Status.RESOLVED else None
        assigned = timeline.assigned.get(conv.pk, times["first_out"]) if conv.assignee_id else None
        Conversation.objects.filter(pk=conv.pk).update(
            created_at=times["first"], first_queued_at=times["first"], last_message_at=times["last"],
            last_customer_message_at=times["last_in"], first_response_at=times["first_out"],
            assigned_at=assigned, resolved_at=resolved, updated_at=max(filter(None, [times["last"], resolved])))
    for customer in Customer.objects.filter(conversations__in=conversation_ids).distinct():
        span = customer.conversations.aggregate(first=Min("created_at"), last=Max("last_message_at"))
        Customer.objects.filter(pk=customer.pk).update(first_contact_at=span["first"], last_contact_at=span["last"])
