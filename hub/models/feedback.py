"""What customers tell us about our service: the CSAT answer at the end of a conversation."""

from __future__ import annotations

from django.db import models


class SatisfactionRating(models.Model):
    """A customer's 1-5 answer (and comment) about one resolution of a conversation. `round` is the
    conversation's reopen count when it was resolved, so a reopened and resolved-again case is rated
    again, and answering twice about the same resolution updates the one rating."""

    conversation = models.ForeignKey("hub.Conversation", on_delete=models.CASCADE, related_name="ratings")
    customer = models.ForeignKey("hub.Customer", on_delete=models.CASCADE, related_name="ratings")
    agent = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              help_text="Who the conversation was assigned to when it was resolved")
    round = models.PositiveIntegerField(default=0)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    channel = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "round"], name="rating_conversation_round_unique"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"),
        ]
        indexes = [models.Index(fields=["customer", "-created_at"]), models.Index(fields=["created_at"])]
