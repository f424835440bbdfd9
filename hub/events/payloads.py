"""Building event data from models, in one place, so the API and the events agree."""

from __future__ import annotations

from hub.events.schema import AttachmentData, ConversationData, MessageData, NoteData
from hub.models import Attachment, Conversation, Message, Note


def user_display_name(user: object | None) -> str:
    if user is None:
        return ""
    agent = getattr(user, "agent", None)
    if agent is not None:
        return str(agent.display_name)
    return str(getattr(user, "get_username", lambda: "")())


def conversation_data(c: Conversation, tags: list[str] | None = None) -> ConversationData:
    """`tags`: pass them when known (a new conversation has none) to save a query."""
    return ConversationData(
        id=c.pk,
        customer_id=c.customer_id,
        customer_name=c.customer.display_name,
        team_id=c.team_id,
        assignee_id=c.assignee_id,
        status=c.status,  # type: ignore[arg-type]
        priority=c.priority,
        escalated=c.escalated,
        subject=c.subject,
        channel=c.channel,
        channel_account_id=c.channel_account_id,
        tags=tags if tags is not None else sorted(t.name for t in c.tags.all()),
        messages_count=c.messages_count,
        created_at=c.created_at,
        last_message_at=c.last_message_at,
        snoozed_until=c.snoozed_until,
    )


def message_data(m: Message, attachments: list[Attachment] | None = None) -> MessageData:
    """`attachments`: pass them when known to save a query."""
    if m.author_kind == Message.Author.AGENT:
        author_name = user_display_name(m.author_user)
    elif m.author_kind == Message.Author.CUSTOMER:
        author_name = (m.author_identity.display_name if m.author_identity else "") or \
            m.conversation.customer.display_name
    else:
        author_name = "System"
    return MessageData(
        id=m.pk,
        conversation_id=m.conversation_id,
        direction=m.direction,  # type: ignore[arg-type]
        author_kind=m.author_kind,  # type: ignore[arg-type]
        author_name=author_name,
        author_id=m.author_user_id,
        channel=m.channel_account.channel,
        channel_account_id=m.channel_account_id,
        kind=m.kind,  # type: ignore[arg-type]
        text=m.text,
        html=m.html,
        is_public=m.is_public,
        status=m.status,  # type: ignore[arg-type]
        failure_reason=m.failure_reason,
        attachments=[
            AttachmentData(id=a.pk, name=a.name, content_type=a.content_type, size=a.size,
                           url=f"/api/v1/attachments/{a.pk}/")
            for a in (attachments if attachments is not None else m.attachments.all())
        ],
        created_at=m.created_at,
    )


def note_data(n: Note) -> NoteData:
    return NoteData(id=n.pk, conversation_id=n.conversation_id, author_id=n.author_id,
                    author_name=user_display_name(n.author), text=n.text, created_at=n.created_at)
