"""What the agent inbox keeps besides conversations: canned responses and how far each agent has read."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CannedResponse(models.Model):
    """A prepared answer an agent inserts with `/shortcut`. Placeholders such as {{customer.name}} and
    {{agent.name}} are filled in when inserted. `team` empty: everyone's; otherwise that team's agents'."""

    shortcut = models.SlugField(max_length=40, help_text="Typed after / in the reply box")
    title = models.CharField(max_length=120)
    text = models.TextField()
    team = models.ForeignKey("hub.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="canned_responses")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut", "id"]
        constraints = [
            models.UniqueConstraint(fields=["shortcut", "team"], name="canned_shortcut_team_unique"),
            models.UniqueConstraint(fields=["shortcut"], condition=models.Q(team__isnull=True),
                                    name="canned_shortcut_global_unique"),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class ConversationRead(models.Model):
    """How far `user` has read `conversation`: the customer's messages after `last_read_at` are unread
    for them (the inbox's unread count), and a chat visitor sees their messages as seen up to it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("hub.Conversation", on_delete=models.CASCADE, related_name="reads")
    last_read_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "conversation"], name="conversationread_unique")]
