"""Agents and teams (who can take a transfer, who is available) and presence changes.

These lists are short and the browser needs them whole (assignment pickers), so they are not paginated.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import sees_everything
from hub.actions.agents import do_set_presence, do_update_agent_routing
from hub.api.base import AgentAPIView
from hub.api.permissions import IsAgent, IsSupervisor
from hub.api.serializers.agents import (
    AgentRoutingSerializer,
    AgentSerializer,
    PresenceSerializer,
    TeamSerializer,
    agents_with_related,
)
from hub.models import AgentProfile, Team


def _agent(user_id: int) -> AgentProfile:
    # Looked up through the user's primary key: the user id is how agents are known in the API.
    user = User.objects.filter(pk=user_id).select_related("agent").first()
    agent = getattr(user, "agent", None) if user is not None else None
    if agent is None:
        raise Http404("No such agent")
    return agent


class AgentList(AgentAPIView):
    serializer_class = AgentSerializer
    pagination_class = None

    @extend_schema(responses=AgentSerializer(many=True))
    def get(self, request: Request) -> Response:
        agents = agents_with_related(AgentProfile.objects.filter(user__is_active=True))
        return Response(AgentSerializer(agents, many=True).data)


class AgentDetail(AgentAPIView):
    serializer_class = AgentSerializer

    def get_permissions(self) -> list[BasePermission]:
        return [IsAgent()] if self.request.method in SAFE_METHODS else [IsSupervisor()]

    def get(self, request: Request, pk: int) -> Response:
        return Response(AgentSerializer(_agent(pk)).data)

    @extend_schema(request=AgentRoutingSerializer, responses=AgentSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change what routing reads of an agent (supervisors and admins): skills, capacity per channel,
        teams. Routing takes the change into account at once."""
        agent = _agent(pk)
        body = AgentRoutingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agent = do_update_agent_routing(self.user, agent, **body.validated_data)
        return Response(AgentSerializer(agents_with_related(AgentProfile.objects.all()).get(pk=agent.pk)).data)


class AgentPresence(AgentAPIView):
    serializer_class = PresenceSerializer

    @extend_schema(request=PresenceSerializer, responses=AgentSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Set an agent's presence: agents their own, supervisors and admins anyone's."""
        agent = _agent(pk)
        if agent.user_id != self.user.pk and not sees_everything(self.user):
            raise PermissionDenied("agents may only change their own presence")
        body = PresenceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agent = do_set_presence(self.user, agent, body.validated_data["presence"])
        return Response(AgentSerializer(agents_with_related(AgentProfile.objects.all()).get(pk=agent.pk)).data)


class TeamList(AgentAPIView):
    serializer_class = TeamSerializer
    pagination_class = None

    @extend_schema(responses=TeamSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TeamSerializer(Team.objects.prefetch_related("agents"), many=True).data)


class TeamDetail(AgentAPIView):
    serializer_class = TeamSerializer

    def get(self, request: Request, pk: int) -> Response:
        team = Team.objects.prefetch_related("agents").filter(pk=pk).first()
        if team is None:
            raise Http404("No such team")
        return Response(TeamSerializer(team).data)
