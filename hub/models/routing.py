"""Routing's persistent state: queue configuration, conversations waiting or offered, and the offers made.

An assignment itself is `Conversation.assignee`; an agent's load is counted from their open and pending
conversations plus their pending offer, so there is no second copy of it to drift (routing/adapter.py).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from routing.core.model import DEFAULT_AUTO_ASSIGN, STRATEGIES, BusinessHours, Queue


def _default_auto_assign() -> list[str]:
    return sorted(DEFAULT_AUTO_ASSIGN)


class RoutingQueue(models.Model):
    """Which conversations a queue takes, who answers them, and how (routing/core/model.py Queue)."""

    name = models.CharField(max_length=100, unique=True)
    order = models.IntegerField(default=0, help_text="Conversations go to the first matching queue by order")
    active = models.BooleanField(default=True)
    team = models.ForeignKey("hub.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="routing_queues", help_text="Takes this team's conversations")
    channels = models.JSONField(default=list, blank=True, help_text="Channels taken; empty: all")
    languages = models.JSONField(default=list, blank=True, help_text="Customer languages taken; empty: all")
    required_skills = models.JSONField(default=dict, blank=True, help_text='{"skill": minimum level 1-5}')
    strategy = models.CharField(max_length=20, default="longest_idle", choices=[(s, s) for s in STRATEGIES])
    aging_seconds = models.FloatField(default=60.0, validators=[MinValueValidator(1.0)],
                                      help_text="Waiting this long is worth one priority level")
    overflow_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    overflow_after = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0)],
                                       help_text="Seconds waiting before moving to overflow_to")
    hours = models.JSONField(null=True, blank=True, help_text='Business hours: {"timezone": "Asia/Shanghai", '
                             '"weekly": {"0": [[540, 1080]]}, "closed_dates": ["2026-10-01"]}; empty: always open')
    out_of_hours_message = models.TextField(blank=True, help_text="Automatic answer out of hours")
    offer_timeouts = models.JSONField(default=dict, blank=True, help_text='{"channel": seconds}')
    auto_assign_channels = models.JSONField(default=_default_auto_assign, blank=True,
                                            help_text="Channels assigned without an offer")
    sticky_seconds = models.FloatField(default=30.0, validators=[MinValueValidator(0.0)])
    relaxation = models.JSONField(default=list, blank=True,
                                  help_text="[[after seconds, lower required levels by], ...]")
    requeue_on_offline = models.BooleanField(default=True)
    aht_seconds = models.FloatField(default=300.0, validators=[MinValueValidator(1.0)])
    # The wallboard's service level (docs/metrics.md): answered within this many seconds, target share.
    service_level_seconds = models.FloatField(default=20.0, validators=[MinValueValidator(0.0)],
                                              help_text="Service level threshold: answered within this many seconds")
    service_level_target = models.FloatField(default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
                                             help_text="Service level goal, a share from 0 to 1 (0.8: 80%)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return self.name

    def engine_queue(self) -> Queue:
        """This queue as the routing engine sees it (routing/core/model.py)."""
        return Queue(
            id=self.pk, name=self.name, order=self.order, team_id=self.team_id,
            channels=frozenset(self.channels or ()), languages=frozenset(self.languages or ()),
            required_skills={str(k): int(v) for k, v in (self.required_skills or {}).items()},
            strategy=self.strategy, aging_seconds=self.aging_seconds,
            overflow_to=self.overflow_to_id, overflow_after=self.overflow_after, hours=self.business_hours(),
            offer_timeouts={str(k): float(v) for k, v in (self.offer_timeouts or {}).items()},
            auto_assign_channels=frozenset(self.auto_assign_channels or ()), sticky_seconds=self.sticky_seconds,
            relaxation=tuple((float(a), int(b)) for a, b in (self.relaxation or ())),
            requeue_on_offline=self.requeue_on_offline, aht_seconds=self.aht_seconds,
        )

    def business_hours(self) -> BusinessHours | None:
        """The `hours` JSON (validated by hub/actions/routing_config.py; None: always open)."""
        raw = self.hours
        if not isinstance(raw, dict) or not raw:
            return None
        weekly = {int(day): tuple((int(a), int(b)) for a, b in spans)
                  for day, spans in (raw.get("weekly") or {}).items()}
        return BusinessHours(str(raw.get("timezone") or "UTC"), weekly, frozenset(raw.get("closed_dates") or ()))

    def is_open_at(self, moment: dt.datetime) -> bool:
        hours = self.business_hours()
        return hours is None or hours.is_open(moment.timestamp())


class RoutingEntry(models.Model):
    """A conversation routing is placing: waiting in line, out of hours, or offered to an agent. Deleted
    when the conversation is assigned or no longer needs an agent."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OUT_OF_HOURS = "out_of_hours", "Out of hours"
        OFFERED = "offered", "Offered"

    conversation = models.OneToOneField("hub.Conversation", primary_key=True, on_delete=models.CASCADE,
                                        related_name="routing")
    queue = models.ForeignKey(RoutingQueue, on_delete=models.CASCADE, related_name="entries")
    state = models.CharField(max_length=16, choices=State.choices, default=State.WAITING)
    arrived_at = models.DateTimeField(help_text="Entered routing: its place in line")
    queue_since = models.DateTimeField(help_text="Entered its current queue")
    sticky_agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    declined = models.JSONField(default=dict, blank=True, help_text="agent user id -> when they declined")
    offer = models.ForeignKey("hub.RoutingOffer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    out_of_hours_answered = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["state", "queue"])]


class RoutingOffer(models.Model):
    """One offer of a conversation to an agent, and how it ended (for the agent's screen and for KPIs)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    conversation = models.ForeignKey("hub.Conversation", on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="routing_offers")
    queue = models.ForeignKey(RoutingQueue, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)

    class Meta:
        indexes = [models.Index(fields=["agent", "outcome"])]
