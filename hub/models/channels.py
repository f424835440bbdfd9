from __future__ import annotations

from django.db import models


class ChannelAccount(models.Model):
    """One configured account of a channel: a mailbox, a phone number, a social account, a Slack workspace,
    a chat widget. `channel` is a connector id, so plugin channels need no schema change."""

    channel = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=320, help_text="The account's own address on its channel")
    team = models.ForeignKey("hub.Team", null=True, blank=True, on_delete=models.SET_NULL,
                             help_text="Team new conversations of this account go to")
    config = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "name"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="channelaccount_channel_address_unique"),
            models.UniqueConstraint(fields=["channel"], condition=models.Q(is_default=True),
                                    name="channelaccount_one_default_per_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.name}"


class WebhookDelivery(models.Model):
    """A webhook delivery's own id (Slack's event_id, a push's nonce), so that a repeated delivery is
    acknowledged without being processed again, and a replayed signature with another body is refused.
    Rows older than a day are pruned."""

    connector = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    body_sha256 = models.CharField(max_length=64)
    processed = models.BooleanField(default=False)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "key"], name="webhookdelivery_unique")]

    def __str__(self) -> str:
        return f"{self.connector}:{self.key}"


class OptOut(models.Model):
    """A customer's address that asked one of our accounts to stop messaging it (SMS STOP). Outbound to it
    from that account is refused until they opt in again (the row is then deleted)."""

    channel_account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="opt_outs")
    address = models.CharField(max_length=320)
    keyword = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel_account", "address"], name="optout_unique")]

    def __str__(self) -> str:
        return f"{self.address} opted out of {self.channel_account_id}"
