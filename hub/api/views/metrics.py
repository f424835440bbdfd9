"""The supervisor's wallboard figures: GET /api/v1/metrics/wallboard/ (supervisors and administrators).

Formulas and definitions: docs/metrics.md; computation: hub/metrics/. The answer is computed afresh on
every request, in a fixed number of queries; the wallboard page refetches it on realtime events, at most
once a second, and every 10 seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from hub.api.base import AgentAPIView
from hub.api.permissions import IsSupervisor
from hub.metrics.load import wallboard

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECONDS = "seconds; null when there is nothing to measure"
_SHARE = "a share from 0 to 1; null when there is nothing to measure"


class FiguresSerializer(serializers.Serializer[Any]):
    """One row of the wallboard: a queue, or every queue together (docs/metrics.md has each formula)."""

    waiting = serializers.IntegerField(help_text="Conversations waiting in line now (waiting or being offered)")
    longest_wait = serializers.FloatField(allow_null=True, help_text=f"The longest current wait, {_SECONDS}")
    offered = serializers.IntegerField(help_text="Conversations that entered a queue today")
    answered = serializers.IntegerField(help_text="Of those, answered by an agent")
    abandoned = serializers.IntegerField(help_text="Of those, abandoned before any answer")
    service_level = serializers.FloatField(allow_null=True, help_text=f"Answered within the threshold, {_SHARE}")
    asa = serializers.FloatField(allow_null=True, help_text=f"Average speed of answer, {_SECONDS}")
    abandonment = serializers.FloatField(allow_null=True, help_text=f"Abandoned / offered, {_SHARE}")
    resolved = serializers.IntegerField(help_text="Conversations resolved today")
    aht = serializers.FloatField(allow_null=True, help_text=f"Average handle time of today's resolutions, {_SECONDS}")
    fcr = serializers.FloatField(allow_null=True, help_text=f"First-contact resolution, {_SHARE}")
    occupancy = serializers.FloatField(allow_null=True, help_text=f"Capacity in use of the agents at work, {_SHARE}")
    agents_available = serializers.IntegerField()
    agents_away = serializers.IntegerField()
    agents_busy = serializers.IntegerField()
    agents_offline = serializers.IntegerField()


class HourSerializer(serializers.Serializer[Any]):
    start = serializers.DateTimeField(help_text="The hour's start, in the requested time zone")
    offered = serializers.IntegerField()
    answered = serializers.IntegerField()
    service_level = serializers.FloatField(allow_null=True, help_text=_SHARE)


class OverallSerializer(serializers.Serializer[Any]):
    figures = FiguresSerializer()
    hourly = HourSerializer(many=True, help_text="Arrivals by hour of the day")


class QueueRowSerializer(OverallSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)
    active = serializers.BooleanField(help_text="An inactive queue is listed while it has figures today")
    service_level_seconds = serializers.FloatField(help_text="The queue's service level threshold")
    service_level_target = serializers.FloatField(help_text="The share of conversations aimed at within it")


class HeldSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    channel = serializers.CharField()
    subject = serializers.CharField()
    customer_name = serializers.CharField()
    queue_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()


class AgentRowSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="User id")
    name = serializers.CharField()
    role = serializers.CharField()
    presence = serializers.CharField()
    presence_changed_at = serializers.DateTimeField(allow_null=True)
    presence_reason = serializers.CharField(allow_blank=True, help_text="Why the hub changed the presence itself "
                                            "(missed_offers, disconnected, signed_out); empty when a person chose it")
    teams = serializers.ListField(child=serializers.IntegerField())
    load = serializers.DictField(child=serializers.IntegerField(), help_text="Channel to conversations held "
                                 "(open or pending) plus a ringing offer")
    capacity = serializers.DictField(child=serializers.IntegerField(), help_text="Channel to capacity")
    occupancy = serializers.FloatField(help_text="min(1, sum of load / capacity)")
    conversations = HeldSerializer(many=True, help_text="Open and pending conversations assigned now")


class WaitingRowSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    queue_id = serializers.IntegerField()
    arrived_at = serializers.DateTimeField(help_text="Its place in line")
    wait = serializers.FloatField(help_text="Seconds waited so far")
    state = serializers.CharField(help_text="waiting, or offered (ringing at an agent)")
    offered_to = serializers.IntegerField(allow_null=True, help_text="The agent it rings at")
    channel = serializers.CharField()
    customer_name = serializers.CharField()
    subject = serializers.CharField()
    team_id = serializers.IntegerField(allow_null=True)


class WallboardSerializer(serializers.Serializer[Any]):
    generated_at = serializers.DateTimeField()
    date = serializers.DateField(help_text="The day the figures cover")
    timezone = serializers.CharField(help_text="The time zone whose midnight starts that day")
    day_start = serializers.DateTimeField()
    day_end = serializers.DateTimeField()
    overall = OverallSerializer(help_text="Every conversation, whatever its queue")
    queues = QueueRowSerializer(many=True)
    agents = AgentRowSerializer(many=True)
    waiting = WaitingRowSerializer(many=True, help_text="The line, oldest first (at most 200)")


def _zone(raw: str | None) -> ZoneInfo:
    name = raw or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, or not a plain key (a path)
        raise ValidationError({"tz": [f"unknown time zone {name[:64]!r}; use an IANA name such as "
                                      "Asia/Shanghai"]}) from None


def _day(raw: str | None, zone: ZoneInfo, now: dt.datetime) -> dt.date:
    if not raw:
        return now.astimezone(zone).date()
    try:
        if not _DATE.fullmatch(raw):  # fromisoformat also takes 20260101 and week dates
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({"date": [f"{raw[:32]!r} is not a YYYY-MM-DD date"]}) from None


class Wallboard(AgentAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = WallboardSerializer
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, description="The day (YYYY-MM-DD); default: today"),
            OpenApiParameter("tz", OpenApiTypes.STR, description="IANA time zone whose midnight starts the day; "
                             "default: the hub's TIME_ZONE"),
        ],
        responses={200: WallboardSerializer,
                   400: OpenApiResponse(description="A malformed date or an unknown time zone"),
                   403: OpenApiResponse(description="Not a supervisor or administrator")},
    )
    def get(self, request: Request) -> Response:
        """The live figures per queue and overall for one day (today by default), the agents with their
        load, the line, and the day's arrivals by hour. Formulas: docs/metrics.md."""
        now = timezone.now()
        zone = _zone(request.query_params.get("tz"))
        day = _day(request.query_params.get("date"), zone, now)
        return Response(WallboardSerializer(wallboard(now, day, zone)).data)
