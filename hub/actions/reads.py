"""How far an agent has read a conversation: the inbox's unread counts and the chat visitor's "seen"."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from hub.events import schema
from hub.events.publish import publish
from hub.models import Conversation, ConversationRead


def do_mark_read(user: User, conversation: Conversation, at: datetime | None = None) -> ConversationRead:
    """Record that `user` has read `conversation` up to `at` (now by default). The mark never moves
    backwards: a late request from another tab, or one with an older time, changes nothing and tells no one.

    Precondition: `user` may see the conversation (the caller went through hub.access)."""
    at = at or timezone.now()
    rows = ConversationRead.objects.select_for_update()
    with transaction.atomic():
        # The row lock serializes two tabs marking at once, so the later time always wins.
        read = rows.filter(user=user, conversation=conversation).first()
        if read is None:
            try:
                with transaction.atomic():
                    read = ConversationRead.objects.create(user=user, conversation=conversation, last_read_at=at)
            except IntegrityError:  # another tab created it between our read and our insert
                read = rows.get(user=user, conversation=conversation)
                if read.last_read_at >= at:
                    return read
                read.last_read_at = at
                read.save(update_fields=["last_read_at"])
        elif read.last_read_at >= at:
            return read
        else:
            read.last_read_at = at
            read.save(update_fields=["last_read_at"])
        publish(schema.ConversationRead(conversation_id=conversation.pk, user_id=user.pk, last_read_at=at),
                [user.pk], conversation_id=conversation.pk)
    return read
