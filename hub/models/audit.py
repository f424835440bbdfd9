from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditLog(models.Model):
    """Who changed what: assignments, status changes, merges. Written by the actions, never edited."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64)
    conversation = models.ForeignKey("hub.Conversation", null=True, blank=True, on_delete=models.SET_NULL)
    customer = models.ForeignKey("hub.Customer", null=True, blank=True, on_delete=models.SET_NULL)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class CustomerMerge(models.Model):
    """A merge of `source` into `target`, with exactly what moved, so it can be undone."""

    source = models.ForeignKey("hub.Customer", on_delete=models.CASCADE, related_name="merges_as_source")
    target = models.ForeignKey("hub.Customer", on_delete=models.CASCADE, related_name="merges_as_target")
    identity_ids = models.JSONField(default=list)
    conversation_ids = models.JSONField(default=list)
    data_before = models.JSONField(default=dict, blank=True, help_text="Target fields the merge changed")
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                  related_name="+")
    merged_at = models.DateTimeField(auto_now_add=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-merged_at"]
