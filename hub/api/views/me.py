"""The signed-in user, as the browser needs it before opening the realtime connection."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import sees_everything
from hub.api.base import AgentAPIView
from hub.api.serializers.agents import MeSerializer, agents_with_related
from hub.events.resume import last_seq
from hub.models import AgentProfile


class Me(AgentAPIView):
    serializer_class = MeSerializer

    def get(self, request: Request) -> Response:
        """Who I am, my agent profile, and the newest realtime event number: read it first, then open
        /ws/agent/ resuming from it, and nothing that happens in between is missed."""
        user = self.user
        agent = agents_with_related(AgentProfile.objects.filter(user=user)).first()
        return Response(MeSerializer({
            "user": user,
            "agent": agent,
            "sees_everything": sees_everything(user),
            "last_seq": last_seq(user.pk),
        }).data)
