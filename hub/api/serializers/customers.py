"""Customers: the search result row, the full profile an agent sees when a contact arrives, profile edits
and merges."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hub.access import visible_conversations
from hub.api.serializers.conversations import MAX_ID, ConversationSerializer
from hub.api.serializers.conversations import with_related as conversations_with_related
from hub.models import Customer, CustomerMerge, Identity


class IdentitySerializer(serializers.ModelSerializer[Identity]):
    class Meta:
        model = Identity
        fields = ["id", "kind", "address", "display_name", "verified", "created_at"]
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer[Customer]):
    identities = IdentitySerializer(many=True, read_only=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "display_name", "language", "value_tier", "tags", "identities", "conversations_count",
                  "messages_count", "first_contact_at", "last_contact_at"]
        read_only_fields = fields

    def get_tags(self, customer: Customer) -> list[str]:
        return sorted(tag.name for tag in customer.tags.all())


def with_related(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    return customers.prefetch_related("tags", Prefetch("identities", Identity.objects.order_by("kind", "address")))


class CustomerMergeSerializer(serializers.ModelSerializer[CustomerMerge]):
    source_id = serializers.IntegerField(read_only=True)
    target_id = serializers.IntegerField(read_only=True)
    identity_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                         help_text="Identities that moved to the target")
    conversation_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                             help_text="Conversations that moved to the target")
    merged_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    undone_by_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = CustomerMerge
        fields = ["id", "source_id", "target_id", "identity_ids", "conversation_ids", "merged_by_id", "merged_at",
                  "undone_by_id", "undone_at"]
        read_only_fields = fields


class CustomerDetailSerializer(CustomerSerializer):
    """The screen pop: profile, every address, the conversation history the reader may see, and the merges
    into this customer that can still be undone."""

    merged_into_id = serializers.IntegerField(read_only=True, allow_null=True,
                                              help_text="Set while this customer is merged into another")
    conversations = serializers.SerializerMethodField()
    merges = serializers.SerializerMethodField()

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "notes", "lifetime_value", "created_at", "updated_at",
                  "merged_into_id", "conversations", "merges"]
        read_only_fields = fields

    @extend_schema_field(ConversationSerializer(many=True))
    def get_conversations(self, customer: Customer) -> list[dict[str, Any]]:
        history = visible_conversations(self.context["request"].user).filter(customer=customer).order_by("-id")
        return list(ConversationSerializer(conversations_with_related(history), many=True).data)

    @extend_schema_field(CustomerMergeSerializer(many=True))
    def get_merges(self, customer: Customer) -> list[dict[str, Any]]:
        merges = customer.merges_as_target.filter(undone_at__isnull=True).order_by("-merged_at", "-id")
        return list(CustomerMergeSerializer(merges, many=True).data)


class CustomerSearchSerializer(serializers.Serializer[Any]):
    q = serializers.CharField(required=False, allow_blank=True, max_length=320,
                              help_text="Part of a name, or an address (email, phone number in any format...)")


class CustomerUpdateSerializer(serializers.Serializer[Any]):
    """Only the fields given change."""

    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    language = serializers.CharField(required=False, allow_blank=True, max_length=16)
    value_tier = serializers.ChoiceField(choices=Customer.Tier.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50,
                                 help_text="The complete new tag list")


class MergeSerializer(serializers.Serializer[Any]):
    # The serializer metaclass takes declared fields out of the class, so this shadows nothing at runtime.
    source = serializers.IntegerField(min_value=1, max_value=MAX_ID,  # type: ignore[assignment]
                                      help_text="Customer merged into this one (it disappears from lists)")
