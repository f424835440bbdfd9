"""Customers: search, the profile with history, profile edits, and merging duplicates (supervisors)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from hub.access import access_customer, visible_customers
from hub.actions.customers import do_delete_customer, do_merge_customers, do_unmerge, do_update_customer
from hub.api.base import AgentAPIView
from hub.api.filters import search_customers
from hub.api.permissions import IsSupervisor
from hub.api.serializers.customers import (
    CustomerDetailSerializer,
    CustomerMergeSerializer,
    CustomerSearchSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    MergeSerializer,
    with_related,
)
from hub.models import CustomerMerge


class CustomerList(AgentAPIView):
    serializer_class = CustomerSerializer

    @extend_schema(parameters=[CustomerSearchSerializer], responses=CustomerSerializer(many=True))
    def get(self, request: Request) -> Response:
        """Customers the user may see, newest first; `q` searches names and addresses."""
        query = CustomerSearchSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        customers = search_customers(visible_customers(self.user), query.validated_data.get("q", ""))
        return self.page(with_related(customers), CustomerSerializer)


class CustomerDetail(AgentAPIView):
    serializer_class = CustomerDetailSerializer

    def get(self, request: Request, pk: int) -> Response:
        customer = access_customer(self.user, pk)
        return Response(CustomerDetailSerializer(customer, context=self.get_serializer_context()).data)

    @extend_schema(request=CustomerUpdateSerializer, responses=CustomerDetailSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """Change the profile; only the fields given change."""
        customer = access_customer(self.user, pk)
        body = CustomerUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        tags = changes.pop("tags", None)
        customer = do_update_customer(self.user, customer, changes, tags=tags)
        return Response(CustomerDetailSerializer(customer, context=self.get_serializer_context()).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        """Erase the customer at their request, with every conversation, message, note and attachment of
        theirs (supervisors and administrators). Not undoable."""
        if not IsSupervisor().has_permission(request, self):
            raise PermissionDenied(IsSupervisor.message)
        customer = access_customer(self.user, pk)
        do_delete_customer(self.user, customer)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerMergeInto(AgentAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = MergeSerializer

    @extend_schema(request=MergeSerializer, responses={201: CustomerMergeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Merge customer `source` into this one: its addresses and conversations move here. Undoable."""
        target = access_customer(self.user, pk)
        body = MergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            source = access_customer(self.user, body.validated_data["source"])
        except Http404 as exc:
            raise ValidationError({"source": ["no such customer"]}) from exc
        merge = do_merge_customers(self.user, source, target)
        return Response(CustomerMergeSerializer(merge).data, status=status.HTTP_201_CREATED)


class CustomerUnmerge(AgentAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = CustomerMergeSerializer

    @extend_schema(request=None, responses=CustomerMergeSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Undo a merge: what moved moves back."""
        merge = CustomerMerge.objects.filter(pk=pk).first()
        if merge is None:
            raise Http404("No such merge")
        return Response(CustomerMergeSerializer(do_unmerge(self.user, merge)).data)
