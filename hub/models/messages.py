from __future__ import annotations

from django.conf import settings
from django.db import models


class Message(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "Inbound"
        OUT = "out", "Outbound"

    class Author(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        CALL = "call", "Voice call"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    conversation = models.ForeignKey("hub.Conversation", on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author_kind = models.CharField(max_length=10, choices=Author.choices)
    author_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_identity = models.ForeignKey("hub.Identity", null=True, blank=True, on_delete=models.SET_NULL)
    channel_account = models.ForeignKey("hub.ChannelAccount", on_delete=models.PROTECT)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Sanitized with nh3; never the provider's raw HTML")
    is_public = models.BooleanField(default=False, help_text="A public post or comment, not a private message")
    provider_message_id = models.CharField(max_length=255, null=True, blank=True)
    client_id = models.CharField(max_length=64, null=True, blank=True,
                                 help_text="Idempotency key of an agent's reply (double submits store one)")
    status = models.CharField(max_length=10, choices=Status.choices)
    failure_reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="A delivery attempt holds the message until then")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The ingestion idempotency key: providers retry, we store one message.
            # Not partial (NULLs never collide anyway): a plain unique index is one the planner always
            # uses for the dedupe lookup, also in generic prepared plans.
            models.UniqueConstraint(fields=["channel_account", "provider_message_id"],
                                    name="message_provider_id_unique"),
            models.UniqueConstraint(fields=["author_user", "client_id"], name="message_client_id_unique"),
        ]
        indexes = [models.Index(fields=["conversation", "created_at", "id"])]

    def __str__(self) -> str:
        return f"{self.direction} #{self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.message.conversation_id}/{instance.message_id}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
