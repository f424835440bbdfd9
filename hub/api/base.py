"""What every API view shares: who may call it, how often, and how a page of results is answered."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import UserRateThrottle

from hub.access import NotAnAgent
from hub.api.permissions import IsAgent
from hub.auth_backends import AgentTokenAuthentication


class ResourceSchema(AutoSchema):
    """Groups the operations of the schema by resource (/api/v1/<resource>/...) instead of under "v1"."""

    def get_tags(self) -> list[str]:
        parts = self.path.strip("/").split("/")
        return parts[2:3] or super().get_tags()


class AgentAPIView(GenericAPIView[Any]):
    schema = ResourceSchema()
    # Token first: a request with no credentials then answers 401 with `WWW-Authenticate: Token`, which
    # tells a script what is missing; the browser's session cookie is still accepted second.
    authentication_classes = [AgentTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAgent]
    throttle_classes = [UserRateThrottle]

    @property
    def user(self) -> User:
        """The signed-in user; IsAgent has already turned everyone else away."""
        user = self.request.user
        if not isinstance(user, User):
            raise NotAnAgent("sign in with an agent account")
        return user

    def page(self, items: QuerySet[Any], serializer_class: type[BaseSerializer[Any]]) -> Response:
        """One page of `items` with its next/previous links."""
        rows = self.paginate_queryset(items)
        data = serializer_class(rows, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)
