"""Agents, teams, presence and the signed-in user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.models import AgentProfile, AgentSkill, Team
from routing.core.model import DEFAULT_CAPACITY


class TeamRefSerializer(serializers.ModelSerializer[Team]):
    class Meta:
        model = Team
        fields = ["id", "name"]
        read_only_fields = fields


class SkillSerializer(serializers.ModelSerializer[AgentSkill]):
    class Meta:
        model = AgentSkill
        fields = ["skill", "level"]
        read_only_fields = fields


class AgentSerializer(serializers.ModelSerializer[AgentProfile]):
    # Agents are known by their user id everywhere else (assignee_id, author_id, events), so here too.
    id = serializers.IntegerField(source="user_id", read_only=True, help_text="The agent's user id")
    username = serializers.CharField(source="user.username", read_only=True)
    teams = TeamRefSerializer(many=True, read_only=True)
    skills = SkillSerializer(many=True, read_only=True)
    capacity = serializers.SerializerMethodField(
        help_text="Conversations the agent takes at once, per channel (their own setting or the default)")

    class Meta:
        model = AgentProfile
        fields = ["id", "username", "display_name", "role", "presence", "presence_changed_at", "presence_reason",
                  "teams", "skills", "capacity", "language"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_capacity(self, agent: AgentProfile) -> dict[str, int]:
        return {channel: agent.capacity_for(channel) for channel in DEFAULT_CAPACITY}


class AgentRoutingSerializer(serializers.Serializer[Any]):
    """What routing reads of an agent, as a supervisor changes it; each field is optional."""

    skills = serializers.DictField(child=serializers.IntegerField(), required=False,
                                   help_text="Skill to level (1-5): the agent's whole set of skills")
    capacity = serializers.DictField(child=serializers.IntegerField(allow_null=True), required=False,
                                     help_text="Channel to units (0: never offered that channel); null goes back to "
                                               "the default. Channels not given keep their setting")
    teams = serializers.ListField(child=serializers.IntegerField(), required=False,
                                  help_text="Team ids: the agent's whole set of teams")


def agents_with_related(agents: QuerySet[AgentProfile]) -> QuerySet[AgentProfile]:
    return agents.select_related("user").prefetch_related("teams", "skills")


class PresenceSerializer(serializers.Serializer[Any]):
    presence = serializers.ChoiceField(choices=AgentProfile.Presence.choices)


class TeamMemberSerializer(serializers.ModelSerializer[AgentProfile]):
    id = serializers.IntegerField(source="user_id", read_only=True, help_text="The agent's user id")

    class Meta:
        model = AgentProfile
        fields = ["id", "display_name", "role", "presence"]
        read_only_fields = fields


class TeamSerializer(serializers.ModelSerializer[Team]):
    members = TeamMemberSerializer(source="agents", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "members"]
        read_only_fields = fields


class UserSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_superuser = serializers.BooleanField()


class MeSerializer(serializers.Serializer[Any]):
    user = UserSerializer()
    agent = AgentSerializer(allow_null=True, help_text="Null for a superuser without an agent profile")
    sees_everything = serializers.BooleanField(help_text="Supervisors and admins see every conversation")
    last_seq = serializers.IntegerField(help_text="Newest realtime event number; open /ws/agent/ from here")
