"""Customer satisfaction: the CSAT answer (1-5 and a comment) about one resolution of a conversation."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from hub.actions import ActionError
from hub.events import schema
from hub.events.publish import conversation_audience, publish
from hub.models import Conversation, SatisfactionRating

MAX_COMMENT_CHARS = 2000


def check_rating(score: object, comment: object) -> tuple[int, str]:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ActionError("score must be a whole number from 1 to 5", field="score")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise ActionError("comment must be text", field="comment")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ActionError(f"comment is longer than {MAX_COMMENT_CHARS} characters", field="comment")
    return score, comment


def do_rate(conversation: Conversation, score: object, comment: object = "") -> SatisfactionRating:
    """Record the customer's rating of the conversation's latest resolution. Answering again about the same
    resolution updates the one rating; after a reopen and a new resolution, a new round is rated."""
    score, comment = check_rating(score, comment)
    with transaction.atomic():
        conv = Conversation.objects.select_for_update(no_key=True).select_related("customer").get(pk=conversation.pk)
        if conv.status != Conversation.Status.RESOLVED:
            raise ActionError("only a resolved conversation can be rated", field="conversation")
        now = timezone.now()
        rating, created = SatisfactionRating.objects.get_or_create(
            conversation=conv, round=conv.reopen_count,
            defaults={"customer_id": conv.customer_id, "agent_id": conv.assignee_id, "score": score,
                      "comment": comment, "channel": conv.channel, "created_at": now, "updated_at": now})
        if not created:
            if (rating.score, rating.comment) == (score, comment):
                return rating
            rating.score, rating.comment, rating.updated_at = score, comment, now
            rating.save(update_fields=["score", "comment", "updated_at"])
        publish(schema.ConversationRated(conversation_id=conv.pk, customer_id=conv.customer_id, round=rating.round,
                                         score=score, comment=comment),
                conversation_audience(conv), conversation_id=conv.pk, customer_id=conv.customer_id)
    return rating
