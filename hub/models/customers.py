from __future__ import annotations

from django.db import models


class Customer(models.Model):
    class Tier(models.TextChoices):
        STANDARD = "standard", "Standard"
        GOLD = "gold", "Gold"
        VIP = "vip", "VIP"

    display_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=16, blank=True)
    value_tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    tags = models.ManyToManyField("hub.Tag", related_name="customers", blank=True)
    notes = models.TextField(blank=True)
    # Lifetime figures, maintained by the actions that change them.
    conversations_count = models.PositiveIntegerField(default=0)
    messages_count = models.PositiveIntegerField(default=0)
    first_contact_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    lifetime_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Set while this customer is merged into another; undoing the merge clears it.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="merged_from")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_contact_at", "-id"]
        indexes = [models.Index(fields=["display_name"])]

    def __str__(self) -> str:
        return self.display_name or f"Customer {self.pk}"


class Identity(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        SOCIAL = "social", "Social account"
        SLACK = "slack", "Slack user"
        WEBCHAT = "webchat", "Chat visitor"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20)
    address = models.CharField(max_length=320, help_text="Normalized: lower-case email, E.164 phone, ...")
    display_name = models.CharField(max_length=200, blank=True)
    verified = models.BooleanField(default=False)
    # What the channel tells about this address beyond messages: {"following": true, "following_since": ...}.
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "address"], name="identity_kind_address_unique")]
        ordering = ["kind", "address"]

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"
