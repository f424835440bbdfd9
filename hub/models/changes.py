from __future__ import annotations

from django.conf import settings
from django.db import models


class ChangeCounter(models.Model):
    """The single row whose lock hands out change numbers in commit order (see hub/events/publish.py)."""

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField(default=0)


class Change(models.Model):
    """The change log: every committed change, numbered in commit order. The search indexer and the
    realtime resume catch up from here after any outage (the database is the source of truth)."""

    number = models.BigIntegerField(unique=True)
    type = models.CharField(max_length=64)
    conversation_id = models.BigIntegerField(null=True, db_index=True)
    customer_id = models.BigIntegerField(null=True)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["number"]


class EventCursor(models.Model):
    """The last per-recipient sequence number handed out."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    last_seq = models.BigIntegerField(default=0)


class EventDelivery(models.Model):
    """Change `change` is event number `seq` in the stream of `recipient`."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    seq = models.BigIntegerField()
    change = models.ForeignKey(Change, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["recipient", "seq"], name="eventdelivery_unique")]
