"""Django admin: configuration (channel accounts, teams, agents, tags) is edited here; conversation data is
read-only, because every change to it goes through hub actions (audit log, events, change numbers)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from hub.models import (
    AgentProfile,
    AgentSkill,
    AuditLog,
    ChannelAccount,
    Conversation,
    Customer,
    CustomerMerge,
    Identity,
    Message,
    Tag,
    Team,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "address", "team", "is_default", "active")
    list_filter = ("channel", "active", "is_default")
    search_fields = ("name", "address")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)


class AgentSkillInline(admin.TabularInline):
    model = AgentSkill
    extra = 1


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("display_name", "user", "role", "presence", "language")
    list_filter = ("role", "presence", "teams")
    search_fields = ("display_name", "user__username")
    filter_horizontal = ("teams",)
    readonly_fields = ("presence", "presence_changed_at")  # presence changes are events: use the inbox/API
    inlines = [AgentSkillInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "address", "display_name", "verified", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "value_tier", "language", "conversations_count", "last_contact_at")
    list_filter = ("value_tier", "language")
    search_fields = ("display_name", "identities__address")
    inlines = [IdentityInline]


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject", "customer", "channel", "status", "priority", "team", "assignee",
                    "last_message_at")
    list_filter = ("status", "channel", "team", "priority")
    search_fields = ("subject", "customer__display_name")
    list_select_related = ("customer", "team", "assignee")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "direction", "author_kind", "status", "created_at")
    list_filter = ("direction", "status", "kind")
    list_select_related = ("conversation",)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "conversation", "customer")
    list_filter = ("action",)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(ReadOnlyAdmin):
    list_display = ("merged_at", "source", "target", "merged_by", "undone_at")
