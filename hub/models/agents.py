from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from routing.core.model import capacity_for


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        SUPERVISOR = "supervisor", "Supervisor"
        ADMIN = "admin", "Administrator"

    class Presence(models.TextChoices):
        AVAILABLE = "available", "Available"
        AWAY = "away", "Away"
        BUSY = "busy", "Busy on a call"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    display_name = models.CharField(max_length=150)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)
    teams = models.ManyToManyField(Team, related_name="agents", blank=True)
    presence = models.CharField(max_length=20, choices=Presence.choices, default=Presence.OFFLINE)
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    # Why the hub changed the presence itself ("" when the agent or a supervisor chose it).
    presence_reason = models.CharField(max_length=20, blank=True, default="", choices=[
        ("missed_offers", "Offers in a row let expire"), ("disconnected", "No inbox connection open"),
        ("signed_out", "Signed out")])
    # Until when the agent's open inbox connections vouch for them (renewed while one is open); null for an
    # agent who never opened one, whose presence only they or a supervisor change (docs/routing.md).
    online_until = models.DateTimeField(null=True, blank=True)
    capacity = models.JSONField(default=dict, blank=True, help_text="Units per channel; missing = default")
    language = models.CharField(max_length=16, default="en")
    # Routing's view of the agent (routing/core/model.py Agent).
    idle_since = models.DateTimeField(null=True, blank=True, help_text="Last had no work, or became available")
    last_routed_at = models.DateTimeField(null=True, blank=True, help_text="Last offered or assigned work")
    missed_offers = models.PositiveSmallIntegerField(default=0, help_text="Offers in a row let expire")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def sees_everything(self) -> bool:
        return self.role in (self.Role.SUPERVISOR, self.Role.ADMIN)

    def capacity_for(self, channel: str) -> int:
        return capacity_for(self.capacity, channel)


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills")
    skill = models.CharField(max_length=64)
    level = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)], default=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "skill"], name="agentskill_unique"),
            models.CheckConstraint(condition=models.Q(level__gte=1, level__lte=5), name="agentskill_level_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.skill}:{self.level}"
