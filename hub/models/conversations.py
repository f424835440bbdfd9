from __future__ import annotations

from django.conf import settings
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=7, default="#6b7280")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        RESOLVED = "resolved", "Resolved"

    class Priority(models.IntegerChoices):
        LOW = 0, "Low"
        NORMAL = 1, "Normal"
        HIGH = 2, "High"
        URGENT = 3, "Urgent"

    customer = models.ForeignKey("hub.Customer", on_delete=models.PROTECT, related_name="conversations")
    team = models.ForeignKey("hub.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="conversations")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_conversations")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    escalated = models.BooleanField(default=False, help_text="Negative interaction flagged for priority")
    queue = models.ForeignKey("hub.RoutingQueue", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="conversations",
                              help_text="Routing queue it last waited in: the one it is answered from")
    subject = models.CharField(max_length=300, blank=True)
    channel = models.CharField(max_length=40, help_text="Channel the conversation started on")
    channel_account = models.ForeignKey("hub.ChannelAccount", on_delete=models.PROTECT,
                                        related_name="conversations")
    tags = models.ManyToManyField(Tag, related_name="conversations", blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # KPI timestamps (docs/metrics.md): set once by the actions, except reopened_at which moves.
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_queued_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    messages_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "channel", "status"]),
            models.Index(fields=["status", "team"]),
            models.Index(fields=["assignee", "status"]),
            models.Index(fields=["-last_message_at", "-id"]),
            # The wallboard reads one day by these (hub/metrics/load.py).
            models.Index(fields=["first_queued_at"]),
            models.Index(fields=["resolved_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"


class ThreadKey(models.Model):
    """A provider's thread reference (email Message-ID, Slack thread ts, social post id) pointing at the
    conversation that holds it, so that a reply threads into the right conversation."""

    channel_account = models.ForeignKey("hub.ChannelAccount", on_delete=models.CASCADE)
    key = models.CharField(max_length=500)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="thread_keys")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel_account", "key"], name="threadkey_unique")]


class Note(models.Model):
    """An internal note: visible to agents only, never sent to the customer."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
