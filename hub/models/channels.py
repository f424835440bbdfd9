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
